/** Reading a scenario file from disk: `colo run --scenario FILE` and `deploy:local --scenario FILE`. */

import { readFileSync, statSync } from 'node:fs';
import { duplicateJsonKey } from '../parameters/json-text.ts';
import { escapeControls } from '../runtime/cloud/text.ts';
import { ScenarioError } from './scenario.ts';

/** Largest scenario file read, bytes. */
export const MAX_SCENARIO_FILE_BYTES = 1024 * 1024;

/**
 * Reads and parses a scenario file's JSON (validated later, with its keys named after the file).
 *
 * @throws ScenarioError, one line: missing, a directory, too large, unreadable, not JSON, or a key written
 *   twice in one object.
 */
export function readScenarioFile(path: string): unknown {
  let text: string;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new ScenarioError(`--scenario: ${path} is a directory, not a scenario file`);
    // A device or a pipe has no size to check (/dev/zero would be read for ever): regular files only.
    if (!st.isFile()) throw new ScenarioError(`--scenario: ${path} is not a regular file`);
    if (st.size > MAX_SCENARIO_FILE_BYTES)
      throw new ScenarioError(`--scenario: ${path} is larger than 1 MiB`);
    // Editors on Windows may start UTF-8 with a byte-order mark, which JSON.parse refuses.
    text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    if (e instanceof ScenarioError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : (e as Error).message;
    throw new ScenarioError(`--scenario: ${escapeControls(path)} ${why}`);
  }
  let content: unknown;
  try {
    content = JSON.parse(text) as unknown;
  } catch (e) {
    throw new ScenarioError(
      `scenario file ${escapeControls(path)} is not valid JSON: ${escapeControls((e as Error).message.split('\n')[0] ?? '')}`,
    );
  }
  // JSON.parse keeps the last of two equal keys: `"guest": "1GiB", …, "guest": "4GiB"` would run 4 GiB
  // without a word.
  const twice = duplicateJsonKey(text);
  if (twice) throw new ScenarioError(`scenario file ${escapeControls(path)}: ${twice}`);
  return content;
}
