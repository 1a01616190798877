/**
 * The cloud runtime's heartbeat: the primary sends none on the channel (`heartbeatMessages: false`), the
 * secondary's timer reads the primary's document (`readPrimarySeen`) and hands it over as `primary-seen`.
 */
import { describe, expect, test } from 'vitest';
import { heartbeatSlackMs } from '../../../src/engine/secondary/heartbeat.ts';
import type { SecondaryState } from '../../../src/engine/secondary/state.ts';
import {
  claimFence,
  type InvocationResult,
  readPrimarySeen,
  type SecondaryCloudInput,
} from '../../../src/runtime/cloud/index.ts';
import { nodeStateKey } from '../../../src/runtime/cloud/keys.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from './harness.ts';

// Checkpoints further apart than the timeout + slack: between them only the evidence keeps the secondary.
const params = testParams({
  policy: 'none',
  heartbeatIntervalMs: 100,
  heartbeatTimeoutMs: 1000,
  checkpointDelayMs: 2000,
});
const S = heartbeatSlackMs(params);
const T = params.heartbeatTimeoutMs;
/** The secondary timer's cadence here, ms (well inside the timeout, as the deployed 2 s are inside 10 s). */
const MONITOR_MS = 300;

/** A pair whose primary keeps its heartbeats off the channel, as deployed; `layout` of both documents. */
function pairOf(layout: 'whole' | 'lean'): CloudPair {
  const pair = new CloudPair(params);
  pair.options = {
    ...pair.options,
    heartbeatMessages: false,
    stateLayout: layout === 'lean' ? { kind: 'lean', chunkPages: 64 } : { kind: 'whole' },
  };
  return pair;
}

/** The secondary timer's work: start, the primary as its document shows it, tick. */
async function monitor(pair: CloudPair): Promise<InvocationResult<SecondaryState>> {
  const seen = await readPrimarySeen(pair.state, params.vmId);
  const inputs: SecondaryCloudInput[] = seen ? [{ type: 'primary-seen', ...seen }] : [];
  inputs.push({ type: 'start' }, { type: 'tick' });
  return pair.secondary(inputs);
}

/**
 * Runs `ms` in 50 ms steps: the primary ticked at its wake (unless `silent`), the monitor every
 * {@link MONITOR_MS}, every message delivered. Returns the heartbeats the primary put on the channel.
 */
async function run(pair: CloudPair, ms: number, silent = false): Promise<number> {
  let heartbeats = 0;
  const end = pair.clock.now() + ms;
  let nextMonitor = pair.clock.now();
  while (pair.clock.now() < end) {
    pair.clock.advance(50);
    const p = await pair.primaryDoc();
    if (!silent && p && p.wakeAt <= pair.clock.now()) {
      const r = await pair.primary([{ type: 'tick' }]);
      heartbeats += r.sent.filter((m) => m.type === 'heartbeat').length;
    }
    if (pair.clock.now() >= nextMonitor) {
      nextMonitor += MONITOR_MS;
      await monitor(pair);
    }
    for (let i = 0; i < 20 && (pair.p2s.size > 0 || pair.s2p.size > 0); i++) {
      await pair.toSecondary();
      const r = await pair.toPrimary();
      heartbeats += r?.sent.filter((m) => m.type === 'heartbeat').length ?? 0;
    }
  }
  return heartbeats;
}

describe.each(['whole', 'lean'] as const)("the primary's document is its heartbeat (%s layout)", (layout) => {
  test('no heartbeat on the channel; the secondary never fails over while the primary saves; checkpoints commit', async () => {
    const pair = pairOf(layout);
    await monitor(pair); // starts the secondary: checkpoint-ready
    await pair.toPrimary();
    const heartbeats = await run(pair, 8 * T);
    expect(heartbeats).toBe(0);
    const s = await pair.secondaryDoc();
    expect(s?.state.phase).not.toBe('claiming');
    expect(s?.exit).toBeNull();
    expect(s?.state.heard).toBe(true);
    expect(s?.state.committedEpoch).toBeGreaterThanOrEqual(2);
  });

  test('a primary that stops saving is failed over by its last save + slack + timeout, never before its last save + timeout', async () => {
    const pair = pairOf(layout);
    await monitor(pair);
    await pair.toPrimary();
    await run(pair, 3 * T);
    const last = (await pair.primaryDoc())?.updatedAt ?? Number.NaN;
    const from = pair.clock.now();
    await run(pair, 4 * T, true);
    const s = await pair.secondaryDoc();
    expect(s?.exit?.reason).toBe('failover');
    const at = s?.exit?.at ?? Number.NaN;
    expect(at).toBeGreaterThanOrEqual(last + T);
    expect(at).toBeLessThanOrEqual(Math.max(from, last + S + T) + MONITOR_MS + 50);
  });
});

describe('readPrimarySeen', () => {
  test("a replicating primary's save: its time, epoch and next sequence number; nothing before checkpoint-ready or without a document", async () => {
    const pair = pairOf('whole');
    expect(await readPrimarySeen(pair.state, params.vmId)).toBeUndefined();
    await pair.primary([{ type: 'tick' }]); // waits for checkpoint-ready: sends no heartbeat either
    expect((await pair.primaryDoc())?.state.phase).toBe('wait-ready');
    expect(await readPrimarySeen(pair.state, params.vmId)).toBeUndefined();
    await pair.start();
    const d = await pair.primaryDoc();
    expect(d?.state.phase).toBe('running');
    expect(await readPrimarySeen(pair.state, params.vmId)).toEqual({
      at: d?.updatedAt,
      epoch: d?.state.epoch,
      seq: d?.state.outSeq,
    });
  });

  test('a fenced primary (it exited) is no evidence', async () => {
    const pair = pairOf('whole');
    await pair.start();
    await claimFence(pair.state, params.vmId, 'secondary', 'test', pair.clock.now());
    pair.clock.advance(100);
    await pair.primary([{ type: 'tick' }]);
    expect((await pair.primaryDoc())?.state.phase).toBe('fenced');
    expect(await readPrimarySeen(pair.state, params.vmId)).toBeUndefined();
  });

  test("another VM's document under this VM's key, or a corrupt one, is an error (never counted)", async () => {
    const pair = pairOf('whole');
    await pair.start();
    const key = nodeStateKey(params.vmId, 'primary');
    const mine = await pair.state.load(key);
    if (!mine) throw new Error('no primary document');
    await pair.state.save(nodeStateKey('vm-other', 'primary'), mine.value, undefined);
    await expect(readPrimarySeen(pair.state, 'vm-other')).rejects.toThrow(/VM vm-0/);
    const corrupt = Uint8Array.from(mine.value);
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] ?? 0) ^ 0xff;
    await pair.state.save(key, corrupt, mine.etag);
    await expect(readPrimarySeen(pair.state, params.vmId)).rejects.toThrow(/corrupt/);
  });
});
