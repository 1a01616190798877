/**
 * Runs policies in one worker thread: the main thread keeps its event loop, so Ctrl-C stops the policy
 * that is running at once and the finished ones are still printed. The worker loads the TypeScript sources
 * through tsx, as the CLI itself does; without tsx the policies run in this thread.
 */
import type { Worker } from 'node:worker_threads';
import { inProcessRunner, type PolicyRunner, type RecordedReport } from './main.ts';
import type { PolicyJob, PolicyWorkerMessage } from './policy-worker.ts';
import type { PolicyReport } from './report.ts';
import type { Recording } from './run-command.ts';
import { canStartTsWorkers, startTsWorker } from './ts-worker.ts';

/**
 * A {@link PolicyRunner} on a worker thread, started on the first job and idle (not keeping the process
 * alive) between jobs; falls back to {@link inProcessRunner} without tsx.
 */
export function workerRunner(): PolicyRunner {
  if (!canStartTsWorkers()) return inProcessRunner;
  const target = new URL('./policy-worker.ts', import.meta.url).href;
  let worker: Worker | undefined;
  return (scenario, policy, progress, record) => {
    const w = worker ?? startTsWorker(target);
    worker = w;
    w.ref();
    let cancelled = false;
    const result = new Promise<RecordedReport>((resolve, reject) => {
      const done = () => {
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
        w.unref();
      };
      const onMessage = (m: PolicyWorkerMessage) => {
        if (m.type === 'progress') return progress(m.fraction);
        done();
        if (m.type === 'done')
          resolve({ ...(m.report as PolicyReport), recording: (m.recording ?? {}) as Recording });
        else reject(Object.assign(new Error(m.message), m.stack ? { stack: m.stack } : {}));
      };
      const onError = (e: Error) => {
        done();
        worker = undefined;
        reject(e);
      };
      const onExit = (code: number) => {
        done();
        worker = undefined;
        reject(new Error(cancelled ? 'cancelled' : `the worker running ${policy} exited with code ${code}`));
      };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
    });
    w.postMessage({ scenario, policy, ...(record ? { record } : {}) } satisfies PolicyJob);
    return {
      result,
      cancel: () => {
        cancelled = true;
        void w.terminate();
      },
    };
  };
}
