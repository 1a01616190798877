/** Output files of `colo run` (`--json`): checked before the run, so a bad path never costs a run's results. */
import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** An output path that cannot be written; the message names the flag and the reason. */
export class OutputError extends Error {
  override readonly name = 'OutputError';
}

/**
 * Checks that `path` can be written (`-` is stdout and always can): not a directory, its directory exists
 * and is writable, and an existing file is writable.
 *
 * @throws OutputError naming `flag`.
 */
export function checkOutputPath(flag: string, path: string): void {
  if (path === '-') return;
  if (path.trim() === '') throw new OutputError(`${flag}: the path is empty (use - for stdout)`);
  const full = resolve(path);
  let exists = false;
  try {
    const st = statSync(full);
    if (st.isDirectory()) throw new OutputError(`${flag}: ${path} is a directory; name a file in it`);
    exists = true;
  } catch (e) {
    if (e instanceof OutputError) throw e;
  }
  const dir = dirname(full);
  if (!exists) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(dir);
    } catch {
      throw new OutputError(`${flag}: cannot write ${path}: directory ${dirname(path)} does not exist`);
    }
    if (!st.isDirectory())
      throw new OutputError(`${flag}: cannot write ${path}: ${dirname(path)} is not a directory`);
  }
  try {
    accessSync(exists ? full : dir, constants.W_OK);
  } catch {
    throw new OutputError(
      `${flag}: cannot write ${path}: ${exists ? 'the file' : `directory ${dirname(path)}`} is not writable`,
    );
  }
}

/**
 * Writes `text` (or bytes) to `path`.
 *
 * @throws OutputError naming `flag` when the write fails (after {@link checkOutputPath} passed: a race).
 */
export function writeOutput(flag: string, path: string, text: string | Uint8Array): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new OutputError(`${flag}: cannot write ${path}: ${(e as Error).message}`);
  }
}
