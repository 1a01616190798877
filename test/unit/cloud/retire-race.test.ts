// Found by the LocalStack fault tests (colo-faults.test.ts, first run): a delta whose put failed on all
// tries in one invocation was retired with a `skip`, yet its object was stored. The interleaving, made
// deterministic here: invocation A persists an outbox holding a background delta and fails to put it;
// invocation B (another primary function) loads the node document while A retries, performs the same
// persisted outbox — its put succeeds, and it sends the delta — and is about to save; A's last try fails,
// A retires the sequence number and saves first (B has not saved, so A's compare-and-swap succeeds), then
// sends the skip. Both the delta and the skip of one sequence number reach the secondary (their FIFO
// deduplication ids differ by type). The secondary consumes the first and acknowledges the second as a
// duplicate, and the primary treats the round as failed (its pages go again at the checkpoint), so the
// replicas still agree: the "a replay sends this skip, never the delta" promise holds for replays after the
// retirement is saved, not for a performer that loaded the outbox before it.
import { describe, expect, test } from 'vitest';
import type { DeltaStore, StateStore } from '../../../src/engine/ports.ts';
import { nodeStateKey, primaryInvocation } from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from './harness.ts';

/** A promise with its resolve function. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

describe('retiring a delta while another invocation performs the same outbox', () => {
  test('both the delta and its skip are sent; the secondary consumes one, acknowledges the other; replicas agree', async () => {
    const params = testParams({ policy: 'fixed' });
    const pair = new CloudPair(params);
    pair.options = { ...pair.options, retryBackoffMs: 10 };
    await pair.start();
    pair.clock.advance(100);

    // A: its first 4 puts (all tries of one object) fail; paused in its last backoff (before the 4th try).
    let aFailures = 0;
    const failing: DeltaStore = {
      put: async (k, bytes) => {
        if (aFailures++ < 4) throw new Error('S3 is down for A');
        return pair.deltas.put(k, bytes);
      },
      get: (k, o) => pair.deltas.get(k, o),
    };
    const aPaused = latch();
    const aGo = latch();
    let aSleeps = 0;
    const aSleep = async (ms: number): Promise<void> => {
      aSleeps++;
      if (aSleeps === 3) {
        aPaused.open();
        await aGo.promise;
      }
      await pair.clock.sleep(ms);
    };
    const a = primaryInvocation(
      { state: pair.state, deltas: failing, channel: pair.p2s },
      params,
      pair.clock.now,
      [{ type: 'tick' }],
      { sleep: aSleep, retryBackoffMs: 10 },
    );
    await aPaused.promise;
    const left = await pair.primaryDoc();
    const delta = left?.outbox.sends.find((s) => s.message.type === 'delta')?.message;
    expect(delta?.type === 'delta' && delta.kind).toBe('background-ram');
    const seq = delta?.seq ?? -1;

    // B: loads the document now, performs the persisted outbox (put succeeds, delta sent), paused at its save.
    const bAtSave = latch();
    const bGo = latch();
    const key = nodeStateKey(params.vmId, 'primary');
    let bSaves = 0;
    const gatedState: StateStore = {
      load: (k) => pair.state.load(k),
      save: async (k, v, etag) => {
        if (k === key && bSaves++ === 0) {
          bAtSave.open();
          await bGo.promise;
        }
        return pair.state.save(k, v, etag);
      },
    };
    const b = primaryInvocation(
      { state: gatedState, deltas: pair.deltas, channel: pair.p2s },
      params,
      pair.clock.now,
      [],
      { sleep: pair.clock.sleep, retryBackoffMs: 10 },
    );
    await bAtSave.promise;
    expect(pair.p2s.history.some((m) => m.seq === seq && m.type === 'delta')).toBe(true);

    // A's last try fails: it retires the sequence number, saves (B has not), sends the skip.
    aGo.open();
    const ra = await a;
    expect(ra.retired).toBe(1);
    bGo.open();
    const rb = await b;
    expect(rb.casConflicts).toBeGreaterThanOrEqual(1);

    // Both left for the same sequence number.
    expect(pair.p2s.history.filter((m) => m.seq === seq).map((m) => m.type)).toEqual(['delta', 'skip']);
    expect(pair.deltas.keys().some((k) => k.endsWith(`/${seq}-background-ram`))).toBe(true);
    expect((await pair.log('primary')).filter((r) => r.type === 'send-retired')).toHaveLength(1);

    // The secondary consumes the delta and acknowledges the skip as a duplicate; nothing is refused.
    const outcomes: string[] = [];
    for (let i = 0; i < 20 && (pair.p2s.size > 0 || pair.s2p.size > 0); i++) {
      const r = await pair.toSecondary();
      outcomes.push(...(r?.outcomes ?? []).map((o) => o.status));
      await pair.toPrimary();
    }
    expect(outcomes).toContain('duplicate');
    expect(outcomes).not.toContain('rejected');
    // The primary counted the round as failed; the next checkpoint resends its pages; replicas agree.
    const rounds = (await pair.log('primary')).flatMap((r) => (r.type === 'round' ? [r.data] : []));
    expect(rounds.filter((r) => !r.ok)).toHaveLength(1);
    await pair.run(1500);
    const log = async (node: 'primary' | 'secondary', type: 'checkpoint' | 'commit') =>
      (await pair.log(node)).flatMap((r) =>
        r.type === type ? [{ epoch: r.data.epoch, digest: r.data.digest }] : [],
      );
    const checkpoints = await log('primary', 'checkpoint');
    const commits = await log('secondary', 'commit');
    expect(checkpoints.length).toBeGreaterThan(0);
    expect(commits.slice(0, checkpoints.length)).toEqual(checkpoints);
  });
});
