/** Runs `colo` in-process for the CLI tests. */
import { type CliIo, runCli } from '../../../src/cli/main.ts';

/** What a run of the CLI printed and returned. */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI with `argv` in this process (policies in this thread unless `io.runner` says otherwise). */
export async function cli(argv: string[], io: Partial<CliIo> = {}): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    stderrIsTTY: false,
    now: () => 0,
    ...io,
  });
  return { code, out, err };
}
