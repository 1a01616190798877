// A real COLO session on LocalStack (ColoItLive): the deployed stack's own timers, queues and functions run
// the primary (8 MiB guest, light hot/cold workload, fixed policy with a 128 KiB threshold, so a background
// round leaves at nearly every 1 s pending check) and the secondary (checkpoints every 4 s). The tests only
// start replication (tick-arm, as the minute rule would) and read state back from S3 with the cloud
// runtime's decoders; the failover is requested through the Lambda Invoke API. No mocks.
//
// Needs LocalStack (npm run localstack:up); the stacks are deployed by the first file that needs them.
// Run: npx vitest run --project integration test/integration/colo-live.test.ts
import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { memoryDigest } from '../../src/engine/memory/digest.ts';
import type { CheckpointRecord, RoundRecord } from '../../src/engine/metrics/records.ts';
import type { PrimaryDocument, SecondaryDocument } from '../../src/runtime/cloud/index.ts';
import { clients, since, waitFor } from './helpers/aws.ts';
import { type ColoTestStack, ensureColoStacks } from './helpers/colo-stacks.ts';

let l: ColoTestStack;

/**
 * Garbage messages of the flood case: enough to hold the primary's heartbeats back for seconds, few enough
 * to stay inside the live stack's 20 s heartbeat timeout on a loaded machine, where LocalStack's event
 * source drains one FIFO group at about 6.6 messages a second (docs/reliability.md, "Hostile input end to end").
 */
const FLOOD = 40;

/** Messages in a queue (visible and in flight). */
async function queueDepth(queueUrl: string): Promise<number> {
  const a = await clients().sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(a.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

async function checkpoints(): Promise<CheckpointRecord[]> {
  return (await l.log('primary')).flatMap((r) => (r.type === 'checkpoint' ? [r.data] : []));
}

async function rounds(): Promise<RoundRecord[]> {
  return (await l.log('primary')).flatMap((r) => (r.type === 'round' ? [r.data] : []));
}

async function commits(): Promise<{ epoch: number; flushedPages: number; digest: string }[]> {
  return (await l.log('secondary')).flatMap((r) => (r.type === 'commit' ? [r.data] : []));
}

async function secondary(): Promise<SecondaryDocument> {
  const d = await l.secondaryDoc();
  if (!d) throw new Error('no secondary document');
  return d;
}

beforeAll(async () => {
  ({ live: l } = await ensureColoStacks(inject('coloItRunId')));
  const t0 = Date.now();
  // Start replication from nothing, as an operator would (the minute rule does the same within a minute).
  await l.start('tick-arm');
  await waitFor(
    'the secondary to start and the primary to run',
    async (note) => {
      const [s, p] = [await l.secondaryDoc(), await l.primaryDoc()];
      note({ secondary: s?.state.phase, primary: p?.state.phase });
      return s && p && s.state.phase !== 'starting' && p.state.phase !== 'wait-ready' ? true : undefined;
    },
    90_000,
  );
  console.log(`[colo-live] session started in ${since(t0)} ms`);
}, 600_000);

afterAll(async () => {
  await l?.stop();
});

describe('a COLO session on LocalStack', () => {
  it('runs ≥ 5 checkpoints with background rounds; the secondary ends with exactly the primary’s memory', async () => {
    const t0 = Date.now();
    // 1. At least five committed checkpoints, with background rounds in between.
    await waitFor(
      '5 commits with background rounds applied',
      async (note) => {
        const [c, r] = [await commits(), await rounds()];
        note({ commits: c.length, rounds: r.length });
        return c.length >= 5 && r.filter((x) => x.ok).length >= 3 ? true : undefined;
      },
      180_000,
      1000,
    );
    // 2. A snapshot of the primary while it is stopped inside a checkpoint (its memory is then exactly the
    //    image of that epoch), then the secondary's document once it has committed that epoch.
    const match = await waitFor(
      "the secondary's committed image of an epoch the primary was caught stopped in",
      async (note) => {
        const p: PrimaryDocument | undefined = await l.primaryDoc();
        if (!p || p.state.vmRunning || p.state.txn === null) {
          note({ primary: p?.state.phase });
          return undefined;
        }
        const epoch = p.state.epoch;
        const versions = Uint32Array.from(p.state.versions);
        const s = await waitFor(
          `the commit of epoch ${epoch}`,
          async () => {
            const d = await secondary();
            return d.state.committedEpoch >= epoch ? d : undefined;
          },
          30_000,
          200,
        );
        note({ epoch, committedEpoch: s.state.committedEpoch });
        return s.state.committedEpoch === epoch ? { epoch, versions, s } : undefined;
      },
      90_000,
      100,
    );
    const committed = match.s.state.committed;
    expect(committed.length).toBe(match.versions.length);
    expect(Buffer.from(committed.buffer).equals(Buffer.from(match.versions.buffer))).toBe(true);

    // 3. Every commit's digest is its checkpoint's; the committed image's digest is the last one's. (Logs
    //    lag the documents a little: the secondary appends its commit record after saving the commit, the
    //    primary logs the checkpoint when vmstate-loaded arrives.)
    const { k, c } = await waitFor(
      `the commit and checkpoint records of epoch ${match.epoch} and before`,
      async (note) => {
        const k = await commits();
        const c = await checkpoints();
        note({ commits: k.map((x) => x.epoch), checkpoints: c.map((x) => x.epoch) });
        const logged = k.some((x) => x.epoch === match.epoch);
        return logged && k.every((x) => c.some((y) => y.epoch === x.epoch)) ? { k, c } : undefined;
      },
      30_000,
    );
    const r = await rounds();
    const byEpoch = new Map(c.map((x) => [x.epoch, x]));
    for (const commit of k) {
      expect(byEpoch.get(commit.epoch)?.digest, `epoch ${commit.epoch}`).toBe(commit.digest);
    }
    const digest = memoryDigest(l.params.seed, committed);
    expect(digest).toBe(byEpoch.get(match.epoch)?.digest);
    expect(digest).toBe(memoryDigest(l.params.seed, match.versions));
    expect(k.length).toBeGreaterThanOrEqual(5);
    expect(c.every((x) => x.trigger === 'timer')).toBe(true);
    // Background rounds happened and carried pages the checkpoints then did not have to.
    expect(r.filter((x) => x.ok).length).toBeGreaterThanOrEqual(3);
    expect(c.filter((x) => x.rounds > 0 && x.backgroundPages > 0).length).toBeGreaterThanOrEqual(2);

    const table = c.map((x) => ({
      epoch: x.epoch,
      downtimeMs: Math.round(x.downtimeMs),
      messageMs: Math.round(x.messageMs),
      pages: x.pages,
      rounds: x.rounds,
      backgroundPages: x.backgroundPages,
      wastedPages: x.wastedPages,
    }));
    console.log(`[colo-live] ${k.length} commits, ${r.length} rounds in ${since(t0)} ms`);
    console.table(table);
  });

  it(`a flood of ${FLOOD} garbage messages on the VM's FIFO group is drained while replication goes on: no failover, every one dead-lettered, the log intact`, async () => {
    const { sqs } = clients();
    const p2s = l.output('PrimaryToSecondaryQueueUrl');
    const dlq = l.output('PrimaryToSecondaryDlqUrl');
    const dlqBefore = await queueDepth(dlq);
    const before = await l.log('secondary');
    const lastCommit = before.filter((r) => r.type === 'commit').at(-1);
    expect(lastCommit).toBeDefined();
    // Garbage as anyone with access to the queue could send it: no key, bytes of every kind.
    const bodies = Array.from({ length: FLOOD }, (_, i) =>
      i % 3 === 0
        ? `garbage ${i} ${randomBytes(24).toString('base64')}`
        : JSON.stringify({ v: 1, type: 'heartbeat', i }),
    );
    const t0 = Date.now();
    const batches: Promise<unknown>[] = [];
    for (let i = 0; i < FLOOD; i += 10) {
      batches.push(
        sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: p2s,
            Entries: bodies.slice(i, i + 10).map((MessageBody, j) => ({
              Id: String(j),
              MessageBody,
              MessageGroupId: l.vmId,
              MessageDeduplicationId: randomBytes(16).toString('hex'),
            })),
          }),
        ),
      );
      if (batches.length >= 20) await Promise.all(batches.splice(0));
    }
    await Promise.all(batches);
    const sent = Date.now();
    await waitFor(
      `all ${FLOOD} garbage messages dead-lettered`,
      async (note) => {
        const n = (await queueDepth(dlq)) - dlqBefore;
        note({ deadLettered: n });
        return n >= FLOOD ? true : undefined;
      },
      600_000,
      250,
    );
    const drainedMs = Date.now() - sent;
    // Replication went on: no side claimed the VM, and a commit came after the flood.
    const control = (await l.control()) as { failedOver?: boolean; owner?: string | null } | undefined;
    expect(control?.owner ?? null).toBeNull();
    expect(control?.failedOver ?? false).toBe(false);
    const s = await secondary();
    expect(['failed-over', 'claiming']).not.toContain(s.state.phase);
    await waitFor(
      'a commit after the flood',
      async () =>
        (await commits()).some(
          (c) => c.epoch > (lastCommit?.type === 'commit' ? lastCommit.data.epoch : 0) + 1,
        )
          ? true
          : undefined,
      120_000,
      1000,
    );
    // No refusal was written anywhere but the DLQ: the log still holds what it held before.
    const after = await l.log('secondary');
    expect(after.slice(0, before.length)).toEqual(before);
    expect(await queueDepth(dlq)).toBe(dlqBefore + FLOOD);
    console.log(
      `[colo-live] ${FLOOD} garbage messages sent in ${sent - t0} ms, drained ${drainedMs} ms after the last send (${Math.round((FLOOD * 1000) / drainedMs)} messages/s); replication went on`,
    );
  });

  it('fails over on request to exactly the last committed checkpoint, discarding the uncommitted cache', async () => {
    const t0 = Date.now();
    // Mid-epoch, with background pages in the colo cache that no checkpoint has committed yet.
    const before = await waitFor(
      'a secondary with uncommitted background pages in its colo cache',
      async (note) => {
        const d = await secondary();
        note({ phase: d.state.phase, cache: d.state.cache.size });
        return d.state.phase === 'idle' && d.state.cache.size > 0 && d.state.appliedRounds.length > 0
          ? d
          : undefined;
      },
      120_000,
      100,
    );
    const answer = await l.invoke('HeartbeatMonitorFunctionName', { source: 'colo.failover', vmId: l.vmId });
    expect(answer).toEqual({ vmId: l.vmId, failedOver: true, phase: 'failed-over' });

    const after = await secondary();
    expect(after.state.phase).toBe('failed-over');
    expect(after.exit).toMatchObject({ reason: 'failover', detail: 'requested' });
    expect(after.state.cache.size).toBe(0);
    // The image it continues from is the last committed checkpoint, page for page (passive secondary).
    const k = await commits();
    const last = k.find((x) => x.epoch === after.state.committedEpoch);
    const ckpt = (await checkpoints()).find((x) => x.epoch === after.state.committedEpoch);
    expect(last).toBeDefined();
    expect(memoryDigest(l.params.seed, after.state.running)).toBe(last?.digest);
    expect(memoryDigest(l.params.seed, after.state.committed)).toBe(ckpt?.digest);
    expect(Buffer.from(after.state.running.buffer).equals(Buffer.from(after.state.committed.buffer))).toBe(
      true,
    );
    // Nothing of the discarded background pages reached it (unless a commit came in between, which
    // would have committed them legitimately).
    if (after.state.committedEpoch === before.state.committedEpoch) {
      for (const [page] of before.state.cache) {
        expect(after.state.running[page], `page ${page}`).toBe(before.state.committed[page]);
      }
    }
    // Replication has stopped: the control flag is set, so every timer chain ends.
    expect(await l.control()).toMatchObject({ failedOver: true });
    console.log(
      `[colo-live] failover in ${since(t0)} ms: epoch ${after.state.committedEpoch} kept, ${before.state.cache.size} cached pages dropped`,
    );
  });
});
