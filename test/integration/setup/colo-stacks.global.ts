/**
 * Global setup of the integration project: gives the run an id (test files deploy the ColoStacks lazily,
 * once per run id — see ../helpers/colo-stacks.ts) and, at the end, destroys the stacks this run deployed.
 * `COLO_IT_KEEP=1` keeps them for inspection (the next run destroys them before deploying afresh).
 */
import { randomUUID } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { destroyStack, MARKER, type RunMarker } from '../helpers/colo-stacks.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Id of this test run (the ColoStacks are deployed once per run). */
    coloItRunId: string;
  }
}

export default function setup(project: TestProject): () => Promise<void> {
  const runId = `${Date.now()}-${randomUUID().slice(0, 8)}`;
  project.provide('coloItRunId', runId);
  return async () => {
    const { readFileSync } = await import('node:fs');
    let marker: RunMarker | undefined;
    try {
      marker = JSON.parse(readFileSync(MARKER, 'utf8')) as RunMarker;
    } catch {
      return;
    }
    if (marker.runId !== runId) return;
    if (process.env.COLO_IT_KEEP === '1') {
      console.log(`[colo-it] COLO_IT_KEEP=1: leaving ${marker.stacks.join(', ')} deployed`);
      return;
    }
    const t0 = Date.now();
    await Promise.all(marker.stacks.map((s) => destroyStack(s)));
    console.log(`[colo-it] destroyed ${marker.stacks.join(', ')} in ${Date.now() - t0} ms`);
  };
}
