/** Property: encode → decode is the identity on page deltas, for every content mix, kind and option. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PageDelta } from '../../../src/engine/protocol/delta.ts';
import { decodeDelta, encodeDelta, encodeDeltaWithClaim, sha256Hex } from '../../../src/wire/delta-codec.ts';
import { deltaArb, expectSameDelta } from './delta-arbitraries.ts';

/** Round-trips `delta` with the tightest limits it should still pass. */
function roundTrip(delta: PageDelta, compress: boolean): void {
  const { bytes, sha256 } = encodeDeltaWithClaim(delta, { compress });
  expect(sha256).toBe(sha256Hex(bytes));
  const last = delta.pages.at(-1);
  const decoded = decodeDelta(bytes, {
    maxObjectBytes: bytes.length,
    pageCount: last ? last.index + 1 : 0,
    expectedSha256: sha256,
    expectedKind: delta.kind,
  });
  expectSameDelta(decoded, delta);
  // Deterministic: the same delta always encodes to the same bytes.
  expect(Buffer.compare(encodeDelta(delta, { compress }), bytes)).toBe(0);
}

describe('page-delta round trip', () => {
  it('is the identity for 1 200 small deltas (0–64 pages, all kinds and content mixes)', () => {
    fc.assert(fc.property(deltaArb({ maxPages: 64, maxBlobBytes: 20_000 }), fc.boolean(), roundTrip), {
      numRuns: 1_200,
    });
  });

  it('is the identity for large deltas (1 000–6 000 pages)', () => {
    fc.assert(
      fc.property(
        deltaArb({ minPages: 1_000, maxPages: 6_000, maxBlobBytes: 4 << 20 }),
        fc.boolean(),
        roundTrip,
      ),
      { numRuns: 8 },
    );
  });

  it('keeps null pages null and all-zero byte pages as bytes', () => {
    const delta: PageDelta = {
      vmId: 'vm',
      epoch: 1,
      seq: 2,
      kind: 'checkpoint-ram',
      pages: [
        { index: 3, version: 1, data: null },
        { index: 4, version: 2, data: new Uint8Array(4096) },
      ],
      blob: new Uint8Array(0),
    };
    for (const compress of [false, true]) {
      const decoded = decodeDelta(encodeDelta(delta, { compress }), { maxObjectBytes: 1 << 20 });
      expect(decoded.pages[0]?.data).toBeNull();
      expect(decoded.pages[1]?.data).toEqual(new Uint8Array(4096));
    }
  });
});
