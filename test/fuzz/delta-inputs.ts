/**
 * The decodeDelta fuzz input mix, shared by `delta-decode.fuzz.test.ts` (behaviour) and `bench/fuzz.ts`
 * (throughput, slowest input, memory), so the benchmark times exactly the inputs the test checks.
 */
import fc from 'fast-check';
import type { PageDelta } from '../../src/engine/protocol/delta.ts';
import type { DecodeLimits } from '../../src/wire/delta-codec.ts';
import { encodeDelta } from '../../src/wire/delta-codec.ts';
import { DELTA_MAGIC, OFF } from '../../src/wire/delta-layout.ts';
import { craft, records, reseal, runTable } from '../unit/wire/craft.ts';
import { deltaArb } from '../unit/wire/delta-arbitraries.ts';
import { makePage } from '../unit/wire/page-content.ts';
import { mutateBytes, type Rng } from './mutate.ts';

/** Seed of the fuzz run (32-bit); a failure reproduces from it. */
export const DELTA_FUZZ_SEED = 0x5eed_0003;

const FIELD_OFFSETS = [
  OFF.epoch,
  OFF.seqLow,
  OFF.seqHigh,
  OFF.pageCount,
  OFF.runBytes,
  OFF.payloadBytes,
  OFF.blobBytes,
];

/** One fuzz case: the object bytes and the limits to decode them under. */
export interface DeltaFuzzInput {
  input: Buffer;
  limits: DecodeLimits;
}

/** Small valid objects to mutate: generated deltas (raw and deflated pages) plus hand-made edge cases. */
export function deltaSeeds(seed = DELTA_FUZZ_SEED): Buffer[] {
  const generated = fc.sample(deltaArb({ maxPages: 4, maxBlobBytes: 200 }), { numRuns: 80, seed });
  const out: Buffer[] = generated.map((d, i) => Buffer.from(encodeDelta(d, { compress: i % 2 === 0 })));
  const nulls: PageDelta = {
    vmId: 'vm',
    epoch: 1,
    seq: 1,
    kind: 'background-ram',
    pages: [0, 1, 2, 9, 4000].map((index) => ({ index, version: 1, data: null })),
    blob: new Uint8Array(0),
  };
  const deflated: PageDelta = { ...nulls, pages: [{ index: 3, version: 1, data: makePage('sparse', 9) }] };
  out.push(Buffer.from(encodeDelta(nulls)), Buffer.from(encodeDelta(deflated, { compress: true })));
  out.push(craft({ pageCount: 1, runs: runTable([[5, 1]]), records: records([[1, 0, 0]]) }));
  return out;
}

/** A sealed object with consistent framing but random runs and page records (mostly small values). */
function structured(rng: Rng): Buffer {
  const small = () => (rng.chance(0.8) ? rng.int(12) : rng.int(2 ** 32));
  const runs: [number, number][] = Array.from({ length: rng.int(5) }, () => [small(), small()]);
  const pageCount = rng.chance(0.7) ? runs.reduce((n, [, l]) => n + l, 0) % 24 : rng.int(8);
  const recs: [number, number, number][] = Array.from({ length: pageCount }, () => {
    const encoding = rng.pick([0, 0, 1, 2, 3]);
    const length = rng.chance(0.8) ? ([0, 4096, 1 + rng.int(40), 0][encoding] ?? 0) : rng.int(5000);
    return [rng.int(9), encoding, length];
  });
  // Zeros with a random head: random bytes where deflate streams start, without a per-byte loop over pages.
  const payload = Buffer.alloc(recs.reduce((n, [, , l]) => n + l, 0) + (rng.chance(0.9) ? 0 : rng.int(3)));
  rng.bytes(Math.min(payload.length, 64)).copy(payload);
  return craft({
    kind: rng.pick([1, 2, 3, 0]),
    pageCount,
    runs: runTable(runs),
    records: records(recs),
    payload,
  });
}

/**
 * Draws the next fuzz case: 5 % random bytes, 5 % random bodies behind a valid magic (half resealed),
 * 15 % structured objects, 75 % mutations of `pool` (two thirds of them resealed).
 */
export function nextDeltaInput(rng: Rng, pool: readonly Buffer[]): DeltaFuzzInput {
  const r = rng.int(100);
  let input: Buffer;
  if (r < 5) input = rng.bytes(rng.int(300));
  else if (r < 10) {
    input = Buffer.concat([DELTA_MAGIC, Buffer.of(1), rng.bytes(31 + rng.int(300))]);
    if (rng.chance(0.5)) input = reseal(input);
  } else if (r < 25) input = structured(rng);
  else {
    // Resealed, length-keeping mutations get past framing and the trailer to the deeper checks.
    const keepLength = rng.chance(0.6);
    input = mutateBytes(rng, rng.pick(pool), FIELD_OFFSETS, keepLength);
    if (r >= 50) input = reseal(input);
  }
  const limits: DecodeLimits = {
    maxObjectBytes: rng.chance(0.05) ? rng.int(input.length + 1) : 1 << 20,
    pageCount: rng.pick([undefined, 1 << 20, 64]),
    expectedKind: rng.chance(0.05)
      ? rng.pick(['background-ram', 'checkpoint-ram', 'device-state'] as const)
      : undefined,
  };
  return { input, limits };
}

/** Objects whose header declares a huge count or length (2³¹ and 2³² − 1) in each size field, resealed. */
export function hugeCountInputs(): Buffer[] {
  const small = craft({ pageCount: 1, runs: runTable([[0, 1]]), records: records([[1, 0, 0]]) });
  const out: Buffer[] = [];
  for (const offset of [OFF.pageCount, OFF.runBytes, OFF.payloadBytes, OFF.blobBytes]) {
    for (const value of [0x8000_0000, 0xffff_ffff]) {
      const input = Buffer.from(small);
      input.writeUInt32LE(value, offset);
      out.push(reseal(input));
    }
  }
  return out;
}
