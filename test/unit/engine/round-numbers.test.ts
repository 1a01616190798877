import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Effect } from '../../../src/engine/effects.ts';
import { pageCount } from '../../../src/engine/params.ts';
import { MAX_APPLIED_ROUNDS } from '../../../src/engine/protocol/messages.ts';
import { secondaryStep } from '../../../src/engine/secondary/secondary.ts';
import type { SecondaryState } from '../../../src/engine/secondary/state.ts';
import { buildRamDelta } from '../../../src/engine/transfer/build-delta.ts';
import { serializeMessage } from '../../../src/wire/message-schema.ts';
import { fingerprint, rejections, testParams } from '../../helpers/engine.ts';
import { Pair } from '../../helpers/pair.ts';

const params = testParams({ policy: 'none', heartbeatTimeoutMs: 0 });
const zeros = new Uint32Array(pageCount(params));

/** A secondary in `idle`, the primary running (no rounds yet this epoch). */
function idle(): SecondaryState {
  const pair = new Pair(params);
  pair.until(() => pair.primary.phase === 'running' && pair.secondary.phase === 'idle');
  return pair.secondary;
}

/** One background round `round` (announce + its data) at the secondary's next sequence numbers. */
function round(s: SecondaryState, r: number): { accepted: boolean; effects: Effect[] } {
  const env = { v: 1 as const, vmId: params.vmId, epoch: s.epoch, seq: s.inSeq };
  const before = fingerprint(s);
  const announce = secondaryStep(s, params, s.lastNow, {
    type: 'message',
    message: { ...env, type: 'migrate-ram-background', round: r },
  });
  if (rejections(announce).length > 0) {
    expect(fingerprint(s).equals(before)).toBe(true);
    return { accepted: false, effects: announce };
  }
  const built = buildRamDelta(params, zeros, [0], 'background-ram', s.epoch, env.seq + 1);
  const data = secondaryStep(s, params, s.lastNow, {
    type: 'message',
    message: {
      ...env,
      seq: env.seq + 1,
      type: 'delta',
      kind: 'background-ram',
      round: r,
      claim: built.claim,
    },
    payload: built.payload.bytes,
  });
  expect(rejections(data)).toEqual([]);
  return { accepted: true, effects: [...announce, ...data] };
}

/** The checkpoint-request that makes the secondary send its `checkpoint-reply`; every send must serialise. */
function replyOf(s: SecondaryState): number[] {
  const fx = secondaryStep(s, params, s.lastNow, {
    type: 'message',
    message: {
      v: 1,
      vmId: params.vmId,
      epoch: s.epoch,
      seq: s.inSeq,
      type: 'checkpoint-request',
      trigger: 'timer',
    },
  });
  expect(rejections(fx)).toEqual([]);
  const sends = fx.flatMap((e) => (e.type === 'send' ? [e.message] : []));
  for (const m of sends) expect(() => serializeMessage(m)).not.toThrow();
  const reply = sends.find((m) => m.type === 'checkpoint-reply');
  return reply?.type === 'checkpoint-reply' ? reply.appliedRounds : [];
}

describe('background round numbers are checked against the epoch', () => {
  it('a repeated round is rejected, state unchanged; the reply stays sendable', () => {
    const s = idle();
    expect(round(s, 1).accepted).toBe(true);
    const again = round(s, 1);
    expect(again.accepted).toBe(false);
    expect(rejections(again.effects)[0]).toMatch(/^stale-transfer: round 1 .*after round 1/);
    expect(replyOf(s)).toEqual([1]);
  });

  it('a round going backwards is rejected; gaps (abandoned rounds) are fine', () => {
    const s = idle();
    expect(round(s, 3).accepted).toBe(true);
    expect(round(s, 2).accepted).toBe(false);
    expect(round(s, 5).accepted).toBe(true);
    expect(replyOf(s)).toEqual([3, 5]);
  });

  it(`more than ${MAX_APPLIED_ROUNDS} rounds in an epoch: the one past the cap is rejected`, () => {
    const s = idle();
    // The epoch's history so far: rounds 1 … 9 999 in the cache (stepping them one by one takes seconds).
    s.appliedRounds = Array.from({ length: MAX_APPLIED_ROUNDS - 1 }, (_, i) => i + 1);
    expect(round(s, MAX_APPLIED_ROUNDS).accepted).toBe(true);
    const over = round(s, MAX_APPLIED_ROUNDS + 1);
    expect(over.accepted).toBe(false);
    expect(rejections(over.effects)[0]).toMatch(/^stale-transfer: .*10000 rounds/);
    expect(replyOf(s)).toHaveLength(MAX_APPLIED_ROUNDS);
  });

  it('property: no sequence of round numbers leads to an unsendable checkpoint-reply', () => {
    const seen = { repeatsOrBackwards: 0, allAccepted: 0, rejected: 0 };
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 24 }), (rounds) => {
        const s = idle();
        let last = 0;
        let sawBad = false;
        let anyRejected = false;
        for (const r of rounds) {
          const { accepted } = round(s, r);
          // Accepted exactly when strictly above every round accepted before.
          expect(accepted).toBe(r > last);
          if (accepted) last = r;
          else {
            sawBad = true;
            anyRejected = true;
          }
        }
        const reply = replyOf(s);
        for (let i = 1; i < reply.length; i++) expect(reply[i]).toBeGreaterThan(reply[i - 1] as number);
        if (sawBad) seen.repeatsOrBackwards++;
        if (anyRejected) seen.rejected++;
        else seen.allAccepted++;
      }),
      { numRuns: 200, seed: 9 },
    );
    // Coverage: both kinds of sequence were generated often.
    expect(seen.repeatsOrBackwards).toBeGreaterThan(50);
    expect(seen.allAccepted).toBeGreaterThan(20);
  });
});
