// Conformance: the same seeded scenario on the embedded runtime and on LocalStack gives the same protocol
// messages (direction, type, epoch, seq — as sent and as delivered through real SQS FIFO queues), the same
// checkpoint, round and commit records and the same final memory digests (docs/conformance.md).
//
// Needs LocalStack on AWS_ENDPOINT_URL (default http://127.0.0.1:4566): `npm run localstack:up`. Without it
// the test fails (it is never skipped). No mocks: the cloud runtime runs in this process on virtual clocks,
// with the real adapters (S3StateStore, S3DeltaStore, SqsChannel) on a bucket and two FIFO queues it creates.
// Run: npx vitest run --project integration test/integration/conformance.test.ts
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ColoMessage } from '../../src/engine/protocol/messages.ts';
import {
  type Clients,
  checkLocalStack,
  clientsFor,
  createScratchResources,
  deleteScratchResources,
  endpointFromEnv,
  type ScratchResources,
} from '../../src/runtime/localstack/aws.ts';
import { compareRuns } from '../../src/runtime/localstack/compare.ts';
import {
  conformanceScenario,
  type LocalStackReplayOptions,
  replayOnLocalStack,
} from '../../src/runtime/localstack/conformance.ts';
import { deliveredKeys, recordEmbedded, sentKeys } from '../../src/runtime/localstack/schedule.ts';
import { verifyRun } from '../../src/runtime/verify.ts';

const endpoint = endpointFromEnv();
const clients: Clients = clientsFor(endpoint);
const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
const made: ScratchResources[] = [];

/** A fresh bucket + FIFO queues and a fresh VM id for one replay. */
async function fresh(tag: string) {
  const name = `colo-conf-${tag}-${suffix}`;
  const resources = await createScratchResources(clients, name);
  made.push(resources);
  const scenario = conformanceScenario(name);
  return { resources, scenario, recorded: recordEmbedded(scenario) };
}

async function replay(tag: string, options: LocalStackReplayOptions = {}) {
  const { resources, scenario, recorded } = await fresh(tag);
  const result = await replayOnLocalStack(recorded.steps, scenario.params, clients, resources, options);
  return { recorded, result, scenario };
}

beforeAll(async () => {
  await checkLocalStack(endpoint);
});

afterAll(async () => {
  for (const r of made) await deleteScratchResources(clients, r);
});

describe('conformance: embedded runtime vs cloud runtime on LocalStack', () => {
  it('same messages, records and final digests', async () => {
    const { recorded, result, scenario } = await replay('ok');
    const { result: embedded, steps } = recorded;

    // Non-trivial: ≥ 3 checkpoints, ≥ 1 background round, and the timing the replay must get right.
    expect(embedded.checkpoints.length).toBeGreaterThanOrEqual(3);
    expect(embedded.rounds.filter((r) => r.ok).length).toBeGreaterThanOrEqual(1);
    expect(embedded.pendingChecks.some((p) => p.decision === 'busy')).toBe(true);
    expect(embedded.checkpoints.some((c) => embedded.rounds.some((r) => r.endedAt === c.requestedAt))).toBe(
      true,
    );
    expect(verifyRun(embedded, scenario.params).consistent).toBe(true);

    expect(compareRuns(recorded, result)).toEqual([]);
    // The same facts, asserted one by one so a failure shows the values.
    expect(result.divergence).toBeNull();
    expect(result.anomalies).toEqual([]);
    expect(result.steps).toBe(steps.length);
    expect(result.sent).toEqual(sentKeys(embedded));
    expect(result.delivered).toEqual(deliveredKeys(steps));
    expect(result.final).toEqual(embedded.final);
    expect(result.final.committedEpoch).toBe(embedded.checkpoints.length);
    expect(result.commits).toEqual(embedded.commits.map((c) => ({ epoch: c.epoch, digest: c.digest })));
    expect(result.checkpoints).toEqual(embedded.checkpoints);
    expect(result.rounds).toEqual(embedded.rounds);
    // Every message crossed a real queue: received from SQS, one by one or in batches.
    expect(result.sqs.toSecondary.messages + result.sqs.toPrimary.messages).toBe(
      result.delivered.length + result.leftover.length,
    );
  });

  it('a message dropped on its way to SQS is caught', async () => {
    let dropped = false;
    const drop = (from: string, batch: readonly ColoMessage[]) => {
      if (from !== 'primary' || dropped) return batch;
      const i = batch.findIndex((m) => m.type === 'vmstate-size' && m.epoch === 2);
      if (i < 0) return batch;
      dropped = true;
      return batch.filter((_, j) => j !== i);
    };
    const { recorded, result } = await replay('drop', { tamper: drop, receiveWaitMs: 1500 });
    expect(dropped).toBe(true);
    expect(result.divergence).toMatch(/expected P→S vmstate-size e2/);
    expect(compareRuns(recorded, result).length).toBeGreaterThan(0);
  });

  it('messages reordered on their way to SQS are caught', async () => {
    let swapped = false;
    const swap = (from: string, batch: readonly ColoMessage[]) => {
      if (from !== 'primary' || swapped || batch.length < 2) return batch;
      swapped = true;
      return [batch[1] as ColoMessage, batch[0] as ColoMessage, ...batch.slice(2)];
    };
    const { recorded, result } = await replay('swap', { tamper: swap, receiveWaitMs: 1500 });
    expect(swapped).toBe(true);
    expect(result.divergence).toMatch(/expected P→S/);
    expect(compareRuns(recorded, result).length).toBeGreaterThan(0);
  });
});
