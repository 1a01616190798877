/**
 * Fuzz: ≥ 100 000 random and mutated inputs to decodeDelta. Every input must either decode to a well-formed
 * delta (which then re-encodes to the very same bytes when no page is deflated: the format is canonical) or
 * throw a WireError with a documented code; never hang or allocate beyond the object's size.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PageDelta } from '../../src/engine/protocol/delta.ts';
import type { DecodeLimits } from '../../src/wire/delta-codec.ts';
import { decodeDelta, encodeDelta, WIRE_ERROR_CODES, WireError } from '../../src/wire/delta-codec.ts';
import { DELTA_MAGIC, OFF } from '../../src/wire/delta-layout.ts';
import { craft, records, reseal, runTable } from '../unit/wire/craft.ts';
import { deltaArb } from '../unit/wire/delta-arbitraries.ts';
import { makePage } from '../unit/wire/page-content.ts';
import { mutateBytes, Rng } from './mutate.ts';

const INPUTS = 110_000;
const SEED = 0x5eed_0003;
const FIELD_OFFSETS = [
  OFF.epoch,
  OFF.seqLow,
  OFF.seqHigh,
  OFF.pageCount,
  OFF.runBytes,
  OFF.payloadBytes,
  OFF.blobBytes,
];

/** Small valid objects to mutate: generated deltas (raw and deflated pages) plus hand-made edge cases. */
function seeds(): Buffer[] {
  const generated = fc.sample(deltaArb({ maxPages: 4, maxBlobBytes: 200 }), { numRuns: 80, seed: SEED });
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

/** Checks what a successful decode returned. */
function checkAccepted(input: Uint8Array, delta: PageDelta, limits: DecodeLimits): void {
  let previous = -1;
  for (const page of delta.pages) {
    expect(page.index).toBeGreaterThan(previous);
    expect(page.index).toBeLessThan(limits.pageCount ?? 2 ** 32);
    if (page.data !== null) expect(page.data.length).toBe(4096);
    previous = page.index;
  }
  if (delta.kind === 'device-state') expect(delta.pages).toHaveLength(0);
  else expect(delta.blob.length).toBe(0);
  const again = encodeDelta(delta);
  if (again.length === input.length) expect(Buffer.compare(again, input)).toBe(0);
  else expect(input.length).toBeLessThan(again.length); // only deflated pages make an object shorter
}

describe('decodeDelta fuzz', () => {
  it(`survives ${INPUTS} random and mutated inputs`, () => {
    const rng = new Rng(SEED);
    const pool = seeds();
    const codes = new Map<string, number>();
    let accepted = 0;
    let slowest = 0;
    let peakArrayBuffers = 0;
    const started = performance.now();
    for (let i = 0; i < INPUTS; i++) {
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
      const t0 = performance.now();
      try {
        const delta = decodeDelta(input, limits);
        accepted++;
        checkAccepted(input, delta, limits);
      } catch (error) {
        if (!(error instanceof WireError) || !WIRE_ERROR_CODES.includes(error.code)) {
          throw new Error(`input #${i} (${input.toString('hex')}) threw ${String(error)}`);
        }
        codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
      }
      slowest = Math.max(slowest, performance.now() - t0);
      if (i % 5_000 === 0) peakArrayBuffers = Math.max(peakArrayBuffers, process.memoryUsage().arrayBuffers);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `decodeDelta fuzz: ${INPUTS} inputs in ${seconds.toFixed(1)} s, ${accepted} accepted, slowest ${slowest.toFixed(1)} ms, ` +
        `peak arrayBuffers ${(peakArrayBuffers / 2 ** 20).toFixed(1)} MiB; rejections ${JSON.stringify(Object.fromEntries(codes))}`,
    );
    expect(slowest).toBeLessThan(1_000);
    expect(peakArrayBuffers).toBeLessThan(256 * 2 ** 20);
    // The mutations must reach past the checksum into the structural checks.
    for (const code of [
      'truncated',
      'checksum-mismatch',
      'count-mismatch',
      'bad-field',
      'page-out-of-range',
    ]) {
      expect(codes.get(code) ?? 0, code).toBeGreaterThan(0);
    }
  });

  it('rejects huge declared counts by size arithmetic alone', () => {
    const small = craft({ pageCount: 1, runs: runTable([[0, 1]]), records: records([[1, 0, 0]]) });
    for (const offset of [OFF.pageCount, OFF.runBytes, OFF.payloadBytes, OFF.blobBytes]) {
      for (const value of [0x8000_0000, 0xffff_ffff]) {
        const input = Buffer.from(small);
        input.writeUInt32LE(value, offset);
        const t0 = performance.now();
        expect(() => decodeDelta(reseal(input), { maxObjectBytes: 1 << 30 })).toThrow(
          expect.objectContaining({ code: 'truncated' }),
        );
        expect(performance.now() - t0).toBeLessThan(50);
      }
    }
  });
});
