import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PrimaryInput, primaryStep } from '../../src/engine/primary/primary.ts';
import type { PageDelta } from '../../src/engine/protocol/delta.ts';
import { COLO_MESSAGE_TYPES, type ColoMessage } from '../../src/engine/protocol/messages.ts';
import { type SecondaryInput, secondaryStep } from '../../src/engine/secondary/secondary.ts';
import { runEmbedded } from '../../src/runtime/embedded/run.ts';
import { fingerprint, messageOf } from '../helpers/engine.ts';
import { scenarioArb } from './arbitraries.ts';

const RUNS = { numRuns: Number(process.env.PROPERTY_RUNS ?? 200) };

/** A hostile or broken input: a message with a perturbed envelope, junk, or a delta with a bad payload. */
const inputArb = fc.record({
  type: fc.constantFrom(...COLO_MESSAGE_TYPES),
  kind: fc.constantFrom('background-ram', 'checkpoint-ram', 'device-state') as fc.Arbitrary<
    'background-ram' | 'checkpoint-ram' | 'device-state'
  >,
  vm: fc.constantFrom('vm-0', 'vm-0', 'vm-x'),
  dEpoch: fc.integer({ min: -1, max: 1 }),
  dSeq: fc.integer({ min: -1, max: 2 }),
  junk: fc.option(fc.oneof(fc.anything(), fc.jsonValue()), { freq: 5 }),
  payload: fc.option(fc.uint8Array({ maxLength: 300 }), { freq: 2 }),
  flip: fc.nat(),
  dt: fc.double({ min: 0, max: 50, noNaN: true }),
});

describe('rejections change nothing (fast-check, 200 cases)', () => {
  it('(d) every rejected input leaves both sides exactly as they were', () => {
    let rejected = 0;
    fc.assert(
      fc.property(scenarioArb, fc.array(inputArb, { minLength: 1, maxLength: 12 }), (sc, inputs) => {
        const captured: { payload?: Uint8Array | PageDelta }[] = [];
        const result = runEmbedded({
          ...sc,
          faults: {
            toSecondary: (d) => {
              if (d.payload) captured.push({ payload: d.payload });
              return d;
            },
          },
        });
        const { primary, secondary } = result;
        for (const inp of inputs) {
          const m = messageOf(
            inp.type,
            inp.vm,
            Math.max(0, secondary.epoch + inp.dEpoch),
            Math.max(0, secondary.inSeq + inp.dSeq),
          );
          if (m.type === 'delta') m.kind = inp.kind;
          const raw: unknown = inp.junk ?? m;
          // A genuine payload with one byte flipped, or random bytes.
          let payload: Uint8Array | PageDelta | undefined = inp.payload ?? undefined;
          const genuine = captured[inp.flip % Math.max(1, captured.length)]?.payload;
          if (!payload && genuine instanceof Uint8Array) {
            payload = genuine.slice();
            const i = inp.flip % payload.length;
            payload[i] = (payload[i] ?? 0) ^ 0x40;
          }
          const sIn: SecondaryInput = payload
            ? { type: 'message', message: raw, payload }
            : { type: 'message', message: raw };
          // Time alone may end a wait; a rejected input must change nothing beyond what time did.
          const sAt = secondary.lastNow + inp.dt;
          secondaryStep(secondary, sc.params, sAt, { type: 'tick' });
          const sBefore = fingerprint(secondary);
          const sFx = secondaryStep(secondary, sc.params, sAt, sIn);
          if (sFx.some((e) => e.type === 'rejected')) {
            rejected++;
            expect(fingerprint(secondary).equals(sBefore)).toBe(true);
          }
          const pm = messageOf(
            inp.type,
            inp.vm,
            Math.max(0, primary.epoch + inp.dEpoch),
            Math.max(0, primary.inSeq + inp.dSeq),
          ) as ColoMessage;
          const pIn: PrimaryInput = { type: 'message', message: inp.junk ?? pm };
          const pAt = primary.lastNow + inp.dt;
          primaryStep(primary, sc.params, pAt, { type: 'tick' });
          const pBefore = fingerprint(primary);
          const pFx = primaryStep(primary, sc.params, pAt, pIn);
          if (pFx.some((e) => e.type === 'rejected')) {
            rejected++;
            expect(fingerprint(primary).equals(pBefore)).toBe(true);
          } else {
            expect(['exited', 'fenced', 'claiming']).not.toContain(primary.phase);
          }
        }
        return true;
      }),
      RUNS,
    );
    // The generator must actually exercise rejections.
    expect(rejected).toBeGreaterThan(RUNS.numRuns);
  });
});
