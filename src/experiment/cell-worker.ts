/** A worker thread that runs experiment cells one at a time (src/experiment/pool.ts starts several). */
import { parentPort } from 'node:worker_threads';
import { type CellJob, runCell } from './cell-run.ts';

/** What the worker posts: progress (fraction of simulated time), the cell's result, or the error. */
export type CellWorkerMessage =
  | { type: 'progress'; fraction: number }
  | { type: 'done'; result: unknown }
  | { type: 'failed'; message: string; stack?: string };

parentPort?.on('message', (job: CellJob) => {
  const post = (m: CellWorkerMessage) => parentPort?.postMessage(m);
  try {
    post({ type: 'done', result: runCell(job, (fraction) => post({ type: 'progress', fraction })) });
  } catch (e) {
    post({
      type: 'failed',
      message: e instanceof Error ? e.message : String(e),
      ...(e instanceof Error && e.stack ? { stack: e.stack } : {}),
    });
  }
});
