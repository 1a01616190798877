/**
 * The lock of an experiment's folder: `.lock`, created exclusively and holding the owner's pid, so that two
 * `colo experiment` runs into one folder do not both run every cell and interleave cells.jsonl. A lock whose
 * pid is no longer alive (a crash, a kill -9) is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** The lock file's name in the folder. */
export const LOCK_FILE = '.lock';

/** A folder held by this process. */
export interface FolderLock {
  /** Removes the lock (only if it still holds this process' pid). */
  release: () => void;
}

/** The folder is held by another live process. */
export class FolderLockedError extends Error {
  override readonly name = 'FolderLockedError';
}

/** Whether a process of this pid is alive (EPERM: alive, but another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the folder's lock.
 *
 * @param dir the folder (it exists)
 * @param fsError turns an unexpected filesystem error into the caller's one-line error
 * @param pid the owner (default this process)
 * @throws FolderLockedError naming the pid when a live process holds it.
 */
export function lockFolder(
  dir: string,
  fsError: (e: unknown) => Error,
  pid: number = process.pid,
): FolderLock {
  const path = join(dir, LOCK_FILE);
  // Two tries: the second after a stale lock was removed (another taker may win the race: then it is held).
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e);
      const text = readLock(path).trim();
      // Empty: another run has just created it and not yet written its pid.
      if (text === '')
        throw new FolderLockedError(
          `${dir} is being locked by another colo experiment; remove ${path} if none is running`,
        );
      const owner = Number(text);
      if (Number.isInteger(owner) && owner > 0 && alive(owner))
        throw new FolderLockedError(
          `${dir} is in use by another colo experiment (pid ${owner}); wait for it, or remove ${path} if that process is not colo`,
        );
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, `${pid}\n`);
    } finally {
      closeSync(fd);
    }
    return {
      release: () => {
        if (readLock(path).trim() === String(pid)) rmSync(path, { force: true });
      },
    };
  }
  throw new FolderLockedError(`${dir} is in use by another colo experiment (it took the lock just now)`);
}

/** The lock file's text ('' when it is gone). */
function readLock(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
