/**
 * Global setup of the integration project: gives the run an id (test files deploy the ColoStacks lazily,
 * once per run, with the id in their names — see ../helpers/colo-stacks.ts) and, at the end, destroys the
 * stacks this run deployed. `COLO_IT_KEEP=1` keeps them for inspection (a later run destroys them once they
 * are an hour old).
 */
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { destroyRun, readRunRecord } from '../helpers/colo-stacks.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Id of this test run: lower-case letters and digits (the ColoStacks are deployed once per run). */
    coloItRunId: string;
  }
}

export default function setup(project: TestProject): () => Promise<void> {
  const runId = `${Date.now().toString(36).slice(-5)}${randomBytes(2).toString('hex').slice(0, 3)}`;
  project.provide('coloItRunId', runId);
  return async () => {
    const record = readRunRecord(runId);
    if (!record) return;
    if (process.env.COLO_IT_KEEP === '1') {
      console.log(`[colo-it] COLO_IT_KEEP=1: leaving ${record.stacks.join(', ')} deployed`);
      return;
    }
    const t0 = Date.now();
    const names = await destroyRun(runId);
    console.log(`[colo-it] destroyed ${names.join(', ')} in ${Date.now() - t0} ms`);
  };
}
