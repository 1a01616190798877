/** Ctrl-C for the CLI's process shells (bin/colo.ts, experiments/run.ts). */
const quitNotes = new Set<() => string | undefined>();

/**
 * Registers a line to print (to stderr, prefixed `colo: `) if the process quits at once on a second stop
 * signal — e.g. the command that stops work left running elsewhere. Asked at the moment of quitting.
 *
 * @returns A function that removes it.
 */
export function onQuit(note: () => string | undefined): () => void {
  quitNotes.add(note);
  return () => quitNotes.delete(note);
}

/**
 * Prints the registered quit notes, then exits. Nothing runs after `process.exit`, so they are written
 * before it; stderr writes are synchronous on Linux for files, terminals and pipes.
 */
function quit(code: number): never {
  for (const note of quitNotes) {
    const line = note();
    if (line) process.stderr.write(`colo: ${line}\n`);
  }
  process.exit(code);
}

/**
 * How long after a Ctrl-C another SIGINT still counts as the same key press, ms. `npx colo`, `npm start`
 * and `npm run colo` pass the terminal's SIGINT on to the process that already got it from the terminal
 * (36 ms later, measured), so one key press arrives twice; counted as two, it quit without printing what
 * finished.
 */
export const SAME_CTRL_C_MS = 1000;

/**
 * An `onInterrupt` for `runCli`: the first Ctrl-C calls `handler` (stop the running work, keep and print
 * what finished); another one more than {@link SAME_CTRL_C_MS} later quits at once with exit code 130.
 *
 * @param now - Clock of the signals, ms (a fake one in tests).
 * @returns A function that removes the SIGINT listener.
 */
export function onSigint(handler: () => void, now: () => number = () => performance.now()): () => void {
  let first: number | undefined;
  const listener = (): void => {
    const at = now();
    if (first === undefined) {
      first = at;
      handler();
    } else if (at - first > SAME_CTRL_C_MS) quit(130);
  };
  process.on('SIGINT', listener);
  return () => process.off('SIGINT', listener);
}

/** A signal that asks `colo` to stop: Ctrl-C, or `kill` / a container stop. */
export type StopSignal = 'SIGINT' | 'SIGTERM';

/**
 * An `onInterrupt` for `runCli` that hears both stop signals: SIGINT as {@link onSigint} does, and SIGTERM
 * likewise (the first calls `handler('SIGTERM')`; another one more than {@link SAME_CTRL_C_MS} later quits
 * at once with exit code 143, one sooner is the same signal relayed). The
 * handler stays registered until removed, so a signal while outputs are written lets them finish.
 *
 * @param now - Clock of the signals, ms (a fake one in tests).
 * @returns A function that removes both listeners.
 */
export function onStopSignals(
  handler: (signal?: StopSignal) => void,
  now: () => number = () => performance.now(),
): () => void {
  const offInt = onSigint(() => handler('SIGINT'), now);
  let termed: number | undefined;
  const term = (): void => {
    const at = now();
    // A SIGTERM to the process group reaches this process and the npx/tsx wrapper, which relays it: one
    // stop, not a second that quits before the first one's clean-up (a colo vm command's lease release).
    if (termed === undefined) {
      termed = at;
      handler('SIGTERM');
    } else if (at - termed > SAME_CTRL_C_MS) quit(143);
  };
  process.on('SIGTERM', term);
  return () => {
    offInt();
    process.off('SIGTERM', term);
  };
}

/** How a stop signal is named in the one line that reports it. */
export function stopWord(signal: StopSignal): string {
  return signal === 'SIGTERM' ? 'stopped by SIGTERM' : 'interrupted';
}
