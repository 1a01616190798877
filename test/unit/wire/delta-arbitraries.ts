/** fast-check arbitraries for page deltas, and a fast equality check for decoded deltas. */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { DeltaPage, PageDelta } from '../../../src/engine/protocol/delta.ts';
import type { DeltaKind } from '../../../src/engine/protocol/messages.ts';
import { MAX_U32 } from '../../../src/wire/limits.ts';
import { makePage, PAGE_MODES, randomBytes } from './page-content.ts';

/** Valid VM ids. */
export const vmIdArb = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/);

/** Shape of a generated delta. */
export interface DeltaArbOptions {
  /** Most pages in a RAM delta. */
  maxPages: number;
  /** Fewest pages in a RAM delta. */
  minPages?: number;
  /** Longest device-state blob, bytes. */
  maxBlobBytes: number;
}

const kindArb = fc.constantFrom<DeltaKind>('background-ram', 'checkpoint-ram', 'device-state');

/** Strictly increasing page indices below 2^32, clustered in runs (gap 0) or scattered. */
function indicesArb(minPages: number, maxPages: number): fc.Arbitrary<number[]> {
  const gap = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.nat(8), fc.nat(100_000));
  const base = fc.oneof(fc.constant(0), fc.nat(1_000_000), fc.constant(MAX_U32));
  return fc
    .tuple(base, fc.array(gap, { minLength: minPages, maxLength: maxPages, size: 'max' }))
    .map(([start, gaps]) => {
      const indices: number[] = [];
      let at = start;
      for (const g of gaps) {
        indices.push(at);
        at += 1 + g;
      }
      // Shift the whole set down if it ran past the u32 range (spans stay far below 2^32).
      const over = (indices.at(-1) ?? 0) - MAX_U32;
      return over > 0 ? indices.map((i) => i - over) : indices;
    });
}

/** Pages for the given indices, each with a random content mix and version. */
function pagesArb(indices: number[]): fc.Arbitrary<DeltaPage[]> {
  const one = fc.record({
    mode: fc.constantFrom(...PAGE_MODES),
    seed: fc.integer(),
    version: fc.oneof(fc.nat(10), fc.constant(MAX_U32), fc.nat({ max: MAX_U32 })),
  });
  return fc.array(one, { minLength: indices.length, maxLength: indices.length }).map((specs) =>
    specs.map((s, i) => ({
      index: indices[i] as number,
      version: s.version,
      data: makePage(s.mode, s.seed),
    })),
  );
}

/** Valid page deltas of every kind. */
export function deltaArb(options: DeltaArbOptions): fc.Arbitrary<PageDelta> {
  const header = fc.record({
    vmId: vmIdArb,
    epoch: fc.oneof(fc.nat(100), fc.constant(MAX_U32)),
    seq: fc.oneof(fc.nat(1000), fc.maxSafeNat()),
    kind: kindArb,
  });
  return header.chain((h): fc.Arbitrary<PageDelta> => {
    if (h.kind === 'device-state') {
      return fc
        .tuple(fc.oneof(fc.nat(64), fc.nat(options.maxBlobBytes)), fc.integer())
        .map(([length, seed]) => ({ ...h, pages: [], blob: randomBytes(seed, length) }));
    }
    return indicesArb(options.minPages ?? 0, options.maxPages)
      .chain(pagesArb)
      .map((pages) => ({ ...h, pages, blob: new Uint8Array(0) }));
  });
}

/** Asserts two deltas are equal field by field, comparing page bytes with memcmp (fast for big deltas). */
export function expectSameDelta(actual: PageDelta, expected: PageDelta): void {
  const meta = (d: PageDelta) => ({
    vmId: d.vmId,
    epoch: d.epoch,
    seq: d.seq,
    kind: d.kind,
    modelled: d.modelled,
    pages: d.pages.length,
    blob: Buffer.from(d.blob).toString('base64'),
  });
  expect(meta(actual)).toEqual(meta(expected));
  for (let i = 0; i < expected.pages.length; i++) {
    const a = actual.pages[i] as DeltaPage;
    const e = expected.pages[i] as DeltaPage;
    expect(a.index).toBe(e.index);
    expect(a.version).toBe(e.version);
    if (e.data === null) {
      expect(a.data).toBeNull();
    } else {
      expect(a.data).toBeInstanceOf(Uint8Array);
      expect(Buffer.compare(a.data as Uint8Array, e.data), `page ${e.index} bytes`).toBe(0);
    }
  }
}
