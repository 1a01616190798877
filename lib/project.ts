/** Where the repository lives on disk, for asset paths (the CDK app runs as an ES module, without `__dirname`). */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root (the folder holding `package.json`). */
export const PROJECT_ROOT: string = dirname(dirname(fileURLToPath(import.meta.url)));

/** Absolute path of the npm lock file, which `NodejsFunction` uses to find the project root. */
export const LOCK_FILE: string = join(PROJECT_ROOT, 'package-lock.json');

/** Absolute path of a repository-relative file. */
export function projectPath(relative: string): string {
  return join(PROJECT_ROOT, relative);
}
