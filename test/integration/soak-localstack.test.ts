// The short version of `npm run soak:localstack` (src/runtime/localstack/soak.ts): 90 s of faults, one after
// another, on a live session of the ColoItSoak stack (the default timing parameters, the fault hook on),
// then a deliberate failover. Every fault must be survived (the next checkpoint commits, nobody claims the
// VM), every commit must equal its checkpoint, nothing may be refused or dead-lettered, and the run must
// end with the secondary owning the VM from exactly its last commit and the primary fenced.
//
// Needs LocalStack (npm run localstack:up); the stacks are deployed by the first file that needs them.
// Run: npx vitest run --project integration test/integration/soak-localstack.test.ts
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runLocalStackSoak, SOAK_FAULTS, SOAK_STACK_CONTEXT } from '../../src/runtime/localstack/soak.ts';
import { clients, since, waitFor } from './helpers/aws.ts';
import { type ColoTestStack, ensureColoStacks, STACK_SET_FILE } from './helpers/colo-stacks.ts';

let f: ColoTestStack;

beforeAll(async () => {
  ({ soak: f } = await ensureColoStacks(inject('coloItRunId')));
  const t0 = Date.now();
  await f.invoke('TickArmFunctionName', { source: 'colo.test', vmId: f.vmId });
  await waitFor(
    'the session to start and commit a first checkpoint',
    async (note) => {
      const s = await f.secondaryDoc();
      note({ secondary: s?.state.phase, committed: s?.state.committedEpoch });
      return s && s.state.committedEpoch >= 1 ? true : undefined;
    },
    180_000,
    1000,
  );
  console.log(`[soak-localstack] session started, first commit after ${since(t0)} ms`);
}, 600_000);

describe('the LocalStack soak, short', () => {
  it('the soak stack is the one npm run soak:localstack deploys', () => {
    const set = JSON.parse(readFileSync(STACK_SET_FILE, 'utf8')) as Record<string, Record<string, unknown>>;
    const { vmId: _vmId, ...context } = set.ColoItSoak ?? {};
    expect(context).toEqual(SOAK_STACK_CONTEXT);
    expect(f.params).toMatchObject({ heartbeatTimeoutMs: 10_000, applyTimeoutMs: 5000 });
  });

  it('90 s of faults, each survived; then the primary silenced: exactly one fenced side', async () => {
    const r = await runLocalStackSoak(
      {
        params: f.params,
        state: f.state,
        sqs: clients().sqs,
        p2sQueueUrl: f.output('PrimaryToSecondaryQueueUrl'),
        p2sDlqUrl: f.output('PrimaryToSecondaryDlqUrl'),
        s2pDlqUrl: f.output('SecondaryToPrimaryDlqUrl'),
      },
      {
        durationMs: 90_000,
        meanGapMs: 2000,
        seed: 3,
        faults: SOAK_FAULTS,
        finalFailover: true,
        progress: (line) => console.log(`[soak-localstack] ${line}`),
      },
    );
    console.log('[soak-localstack] result', JSON.stringify({ ...r, params: undefined }));
    expect(r.problems).toEqual([]);
    expect(r.verdict).toBe('one-fenced-side');
    const survived = r.faults.filter((x) => x.outcome === 'survived');
    expect(survived.length, JSON.stringify(r.faults)).toBeGreaterThanOrEqual(3);
    expect(r.faults.every((x) => x.outcome !== 'lost')).toBe(true);
    expect(r.commitsVerified).toBe(r.commits);
    expect(r.commits).toBeGreaterThan(survived.length);
    expect(r.finalFailover).toMatchObject({
      owner: 'secondary',
      loserFenced: true,
      continuesFromLastCommit: true,
    });
  }, 900_000);
});
