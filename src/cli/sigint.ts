/** Ctrl-C for the CLI's process shells (bin/colo.ts, experiments/run.ts). */

/**
 * An `onInterrupt` for `runCli`: the first Ctrl-C calls `handler` (stop the running work, keep and print
 * what finished); a second one quits at once with exit code 130.
 *
 * @returns A function that removes the SIGINT listener.
 */
export function onSigint(handler: () => void): () => void {
  let interrupts = 0;
  const listener = (): void => {
    if (++interrupts > 1) process.exit(130);
    handler();
  };
  process.on('SIGINT', listener);
  return () => process.off('SIGINT', listener);
}
