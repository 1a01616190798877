#!/usr/bin/env -S npx tsx
/** The `colo` command: src/cli/main.ts wired to this process (outputs, Ctrl-C, worker threads for policies and cells). */
import { runCli } from '../src/cli/main.ts';
import { onStopSignals } from '../src/cli/sigint.ts';
import { workerRunner } from '../src/cli/worker-runner.ts';
import { workerCellRunner } from '../src/experiment/pool.ts';

// The SDK warns on every run under Node 20 about SDK releases after January 2027; this checkout's SDK is
// pinned (package-lock.json), so the warning is noise in front of the one-line `colo:` errors. An operator
// who sets the variable themselves keeps their choice.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// A reader that stops early (`colo cost R.json | head`) closes the pipe: that ends the output, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(process.exitCode ?? 0);
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  stderrIsTTY: process.stderr.isTTY === true,
  now: () => performance.now(),
  env: process.env,
  runner: workerRunner(),
  cellRunner: (jobs) => workerCellRunner(jobs),
  // The first Ctrl-C (or SIGTERM) stops the running policy and prints the finished ones; a second one quits.
  onInterrupt: onStopSignals,
  exit: (code) => process.exit(code),
});
