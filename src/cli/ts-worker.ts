/**
 * Worker threads that load the TypeScript sources through tsx, as the CLI itself does
 * (src/cli/worker-runner.ts runs policies on one, src/experiment/pool.ts runs cells on several).
 */
import { Worker } from 'node:worker_threads';

function tsxApi(): string | undefined {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    return undefined;
  }
}

/** Whether workers can be started (tsx is installed); without it callers run in this thread. */
export function canStartTsWorkers(): boolean {
  return tsxApi() !== undefined;
}

/**
 * Starts a worker thread running the TypeScript module at `moduleUrl` (a file: URL).
 *
 * @throws Error when tsx is not installed (check {@link canStartTsWorkers} first).
 */
export function startTsWorker(moduleUrl: string): Worker {
  const api = tsxApi();
  if (api === undefined) throw new Error('tsx is not installed: worker threads cannot load TypeScript');
  const boot = `import(${JSON.stringify(api)}).then((api) => { api.register(); return import(${JSON.stringify(moduleUrl)}); })`;
  return new Worker(boot, { eval: true });
}
