/**
 * Runs cells in parallel: on worker threads (one cell per thread at a time, as many threads as cores by
 * default), or in this thread (tests, or without tsx). The caller decides what to run next and records
 * what finished.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { canStartTsWorkers, startTsWorker } from '../cli/ts-worker.ts';
import { type CellJob, type CellResult, runCell } from './cell-run.ts';
import type { CellWorkerMessage } from './cell-worker.ts';

/** A running cell: its result, and a way to stop it. */
export interface RunningCell {
  /** The cell's figures (rejects when it failed or was cancelled). */
  result: Promise<CellResult>;
  /** Stops it if it can (a worker thread can; a cell in this thread cannot). */
  cancel: () => void;
}

/** Something that runs cells, `slots` at a time. */
export interface CellRunner {
  /** How many cells it runs at once. */
  slots: number;
  /** Starts a cell in a free slot; `progress` gets the fraction of its simulated time done. */
  start(job: CellJob, progress: (fraction: number) => void): RunningCell;
  /** Stops its threads. */
  close(): Promise<void>;
}

/** Runs cells in this thread, one at a time. */
export function inProcessCellRunner(): CellRunner {
  return {
    slots: 1,
    start: (job, progress) => ({
      result: new Promise((resolve, reject) => {
        setImmediate(() => {
          try {
            resolve(runCell(job, progress));
          } catch (e) {
            reject(e);
          }
        });
      }),
      cancel: () => {},
    }),
    close: async () => {},
  };
}

/** Cores this process may use (the default number of worker threads). */
export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

/** Runs cells on `jobs` worker threads (started on demand); in this thread when tsx is missing. */
export function workerCellRunner(jobs: number = defaultJobs()): CellRunner {
  if (!canStartTsWorkers()) return inProcessCellRunner();
  const target = new URL('./cell-worker.ts', import.meta.url).href;
  const idle: Worker[] = [];
  const all = new Set<Worker>();
  return {
    slots: jobs,
    start: (job, progress) => {
      const w = idle.pop() ?? startTsWorker(target);
      all.add(w);
      let cancelled = false;
      const result = new Promise<CellResult>((resolve, reject) => {
        const done = (reusable: boolean) => {
          w.off('message', onMessage);
          w.off('error', onError);
          w.off('exit', onExit);
          if (reusable) idle.push(w);
          else all.delete(w);
        };
        const onMessage = (m: CellWorkerMessage) => {
          if (m.type === 'progress') return progress(m.fraction);
          done(true);
          if (m.type === 'done') resolve(m.result as CellResult);
          else reject(Object.assign(new Error(m.message), m.stack ? { stack: m.stack } : {}));
        };
        const onError = (e: Error) => {
          done(false);
          reject(e);
        };
        const onExit = (code: number) => {
          done(false);
          reject(
            new Error(
              cancelled ? 'cancelled' : `the worker running cell ${job.key} exited with code ${code}`,
            ),
          );
        };
        w.on('message', onMessage);
        w.on('error', onError);
        w.on('exit', onExit);
      });
      w.postMessage(job);
      return {
        result,
        cancel: () => {
          cancelled = true;
          void w.terminate();
        },
      };
    },
    close: async () => {
      await Promise.all([...all].map((w) => w.terminate()));
      all.clear();
      idle.length = 0;
    },
  };
}
