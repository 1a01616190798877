// Lean state over real S3 and SQS: the cloud runtime in this process (a recorded embedded run replayed, every
// step one invocation) with the real adapters (S3StateStore, S3DeltaStore, SqsChannel) on a bucket and two
// FIFO queues it creates (`lean64-it-…`, deleted after), for a 1 GiB and a 64 GiB guest (modelled payloads),
// checkpoints and background rounds. Asserts the bound of the lean layout: every save writes the hot
// document, at most one segment and at most `foldsPerSave` chunks, and the bytes a save writes do not grow
// with the guest (64× the guest, well under 64× the bytes) (docs/cloud-runtime.md,
// "State I/O, measured"; `npm run bench:state -- --s3` prints the full figures).
//
// Needs LocalStack on AWS_ENDPOINT_URL (default http://127.0.0.1:4566). Deploys no stack.
// Run: npx vitest run --project integration test/integration/lean-state.test.ts
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ColoParams, DEFAULT_PARAMS } from '../../src/engine/params.ts';
import { DEFAULT_STATE_LAYOUT, type StateLayout } from '../../src/runtime/cloud/index.ts';
import { DEFAULT_LINK } from '../../src/runtime/embedded/link.ts';
import {
  type Clients,
  checkLocalStack,
  clientsFor,
  createScratchResources,
  deleteScratchResources,
  endpointFromEnv,
  type ScratchResources,
} from '../../src/runtime/localstack/aws.ts';
import { recordEmbedded } from '../../src/runtime/localstack/schedule.ts';
import { localStackStateIoPorts, measureStateIo } from '../../src/runtime/localstack/state-io.ts';

const endpoint = endpointFromEnv();
const clients: Clients = clientsFor(endpoint);
const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
const made: ScratchResources[] = [];
const GiB = 1024 * 1024 * 1024;

beforeAll(async () => {
  await checkLocalStack(endpoint);
});

afterAll(async () => {
  for (const r of made) await deleteScratchResources(clients, r);
});

/** A 5 s run with a checkpoint every 2 s (2 checkpoints) and background rounds, on fresh resources. */
async function run(tag: string, guestBytes: number, layout: Partial<StateLayout>, steps?: number) {
  const name = `lean64-it-${tag}-${suffix}`;
  const params: ColoParams = {
    ...DEFAULT_PARAMS,
    vmId: name,
    guestBytes,
    payload: 'modelled',
    checkpointDelayMs: 2000,
    thresholdBytes: 16 * 1024 * 1024,
  };
  const recorded = recordEmbedded({ params, link: DEFAULT_LINK, durationMs: 5000 });
  const resources = await createScratchResources(clients, name);
  made.push(resources);
  const m = await measureStateIo(
    recorded.steps.slice(0, steps ?? recorded.steps.length),
    params,
    localStackStateIoPorts(clients, resources, params),
    layout,
    { receiveWaitMs: 10_000 },
  );
  return { m, recorded };
}

describe('lean state on real S3 and SQS', () => {
  it('a save writes at most one segment and foldsPerSave chunks, and its bytes do not grow with the guest', async () => {
    // Folds start past 32 Ki live segment elements here, so that a short run folds too.
    const layout: Partial<StateLayout> = { kind: 'lean', segmentEntries: 32_768 };
    const small = await run('1g', GiB, layout);
    const large = await run('64g', 64 * GiB, layout);
    for (const { m, recorded } of [small, large]) {
      expect(recorded.result.checkpoints.length).toBeGreaterThanOrEqual(2);
      expect(recorded.result.rounds.filter((r) => r.ok).length).toBeGreaterThanOrEqual(1);
      expect(m.consistent).toBe(true);
      expect(m.saves.saves).toBeGreaterThan(10);
      expect(m.saves.maxSegmentPuts).toBe(1); // segments were written, never two in one save
      expect(m.saves.maxChunkPuts).toBeLessThanOrEqual(DEFAULT_STATE_LAYOUT.foldsPerSave);
      expect(m.saves.maxPuts).toBeLessThanOrEqual(2 + DEFAULT_STATE_LAYOUT.foldsPerSave);
    }
    expect(large.m.saves.maxChunkPuts).toBe(DEFAULT_STATE_LAYOUT.foldsPerSave); // folds happened
    // 64× the guest: the bytes a save writes stay of the same order (what changed, not the guest).
    const ratio = large.m.saves.meanBytes / small.m.saves.meanBytes;
    console.log(
      `[lean-state] bytes per save: 1 GiB ${(small.m.saves.meanBytes / 1024).toFixed(1)} KiB, 64 GiB ${(large.m.saves.meanBytes / 1024).toFixed(1)} KiB (×${ratio.toFixed(2)}); PUTs per save ≤ ${large.m.saves.maxPuts}`,
    );
    expect(ratio).toBeLessThan(4);
  }, 300_000);
});
