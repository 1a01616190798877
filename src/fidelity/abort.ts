/**
 * What must be undone when the run is stopped by a signal: `process.exit` from a signal handler runs no
 * `finally`, so the QEMU pair (re-parented to init, spinning both cores) and the link meter's quickack route
 * would outlive the run. Each holder registers a synchronous undo for as long as it holds the resource.
 */
const undos = new Set<() => void>();

/** Registers `undo` to run if the run is aborted; returns the function that unregisters it. */
export function onAbort(undo: () => void): () => void {
  undos.add(undo);
  return () => {
    undos.delete(undo);
  };
}

/** Runs every registered undo, latest first, each once; one that throws does not stop the others. */
export function runAbortUndos(): void {
  const pending = [...undos].reverse();
  undos.clear();
  for (const undo of pending) {
    try {
      undo();
    } catch {
      // Best effort on the way out: the next undo still runs.
    }
  }
}

/**
 * On SIGINT or SIGTERM: every registered undo, then `last` (the work directory's removal), then exit with
 * 128 + the signal's number (130, 143).
 */
export function exitOnSignals(last: () => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      runAbortUndos();
      last();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}
