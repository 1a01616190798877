/** Runs the `colo` CLI in this process (the tests' own environment), collecting its output. */
import { runCli } from '../../../src/cli/main.ts';

/** What a `colo` invocation printed and returned. */
export interface ColoResult {
  /** Exit code. */
  code: number;
  /** Everything written to stdout. */
  out: string;
  /** Everything written to stderr. */
  err: string;
}

/** Runs `colo ...argv` in process and returns its exit code and output. */
export async function colo(...argv: string[]): Promise<ColoResult> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    stderrIsTTY: false,
    now: () => performance.now(),
    env: process.env,
  });
  return { code, out, err };
}
