/** fast-check arbitrary for valid COLO messages of every type. */
import fc from 'fast-check';
import type { ColoMessage, DeltaKind } from '../../../src/engine/protocol/messages.ts';
import { MAX_EPOCH, MAX_U32 } from '../../../src/wire/limits.ts';
import { vmIdArb } from './delta-arbitraries.ts';

const envelope = fc.record({
  v: fc.constant(1 as const),
  vmId: vmIdArb,
  epoch: fc.oneof(fc.nat(100), fc.constant(MAX_EPOCH)),
  seq: fc.oneof(fc.nat(1000), fc.maxSafeNat()),
});
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const ms = fc.oneof(fc.constant(0), fc.double({ min: 0, max: 86_400_000, noNaN: true }));
const rounds = fc
  .uniqueArray(fc.integer({ min: 1, max: MAX_U32 }), { maxLength: 50 })
  .map((r) => r.sort((a, b) => a - b));

/** Any valid COLO message. */
export const coloMessageArb: fc.Arbitrary<ColoMessage> = envelope.chain((e) =>
  fc.oneof(
    fc.constant({ ...e, type: 'checkpoint-ready' as const }),
    fc
      .constantFrom('timer', 'miscompare', 'policy', 'request' as const)
      .map((trigger) => ({ ...e, type: 'checkpoint-request' as const, trigger })),
    rounds.map((appliedRounds) => ({ ...e, type: 'checkpoint-reply' as const, appliedRounds })),
    fc.constant({ ...e, type: 'vmstate-send' as const }),
    fc.nat(2 ** 30).map((size) => ({ ...e, type: 'vmstate-size' as const, size })),
    fc.constant({ ...e, type: 'vmstate-received' as const }),
    fc
      .tuple(ms, ms)
      .map(([applyMemMs, applyDevMs]) => ({ ...e, type: 'vmstate-loaded' as const, applyMemMs, applyDevMs })),
    fc
      .integer({ min: 1, max: MAX_U32 })
      .map((round) => ({ ...e, type: 'migrate-ram-background' as const, round })),
    fc
      .tuple(
        fc.constantFrom<DeltaKind>('background-ram', 'checkpoint-ram', 'device-state'),
        fc.integer({ min: 1, max: 99 }),
        fc.nat(2 ** 30),
        hex64,
      )
      .map(([kind, r, size, sha256]) => ({
        ...e,
        type: 'delta' as const,
        kind,
        round: kind === 'background-ram' ? r : 0,
        claim: { key: `${e.vmId}/${e.epoch}/${e.seq}-${kind}`, size, sha256 },
      })),
    fc
      .tuple(fc.nat(), fc.nat())
      .map(([beat, sentAt]) => ({ ...e, type: 'heartbeat' as const, beat, sentAt })),
  ),
);
