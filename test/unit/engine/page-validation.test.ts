/**
 * The secondary's check of a materialised RAM delta's page bytes (src/engine/secondary/validation.ts): random
 * pages are checked two at a time, and the error reported must still be the first one in page order, as if
 * every page were checked as it came — against a page-by-page reference on seeded corruptions.
 */
import { describe, expect, it } from 'vitest';
import { ColoError } from '../../../src/engine/errors.ts';
import { fillPage, isRandomPage, isZeroPage, pageMatches } from '../../../src/engine/memory/page-content.ts';
import type { DeltaPage } from '../../../src/engine/protocol/delta.ts';
import { PAGE_SIZE } from '../../../src/engine/protocol/delta.ts';
import { MESSAGE_VERSION } from '../../../src/engine/protocol/messages.ts';
import { validateDelta } from '../../../src/engine/secondary/validation.ts';
import { deltaKey } from '../../../src/engine/transfer/build-delta.ts';
import { encodeDeltaWithClaim } from '../../../src/wire/delta-encode.ts';
import { testParams } from '../../helpers/engine.ts';

const params = testParams({ guestBytes: 4096 * PAGE_SIZE });
const PAGE_COUNT = 4096;

/** A small seeded generator (xorshift32) for the cases. */
function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** The first error in page order, each page checked on its own (the order the secondary must report). */
function reference(pages: DeltaPage[]): string | undefined {
  let prev = -1;
  for (const p of pages) {
    if (p.index <= prev) return `page ${p.index} is out of order`;
    prev = p.index;
    const zero = isZeroPage(params.seed, p.index, p.version, params.contentMix);
    if (zero !== (p.data === null))
      return `page ${p.index} v${p.version} should ${zero ? '' : 'not '}be a zero page`;
    if (p.data && !pageMatches(p.data, params.seed, p.index, p.version, params.contentMix))
      return `page ${p.index} v${p.version} bytes differ`;
  }
  return undefined;
}

/** `validateDelta` of the object of `pages`, its bytes `shift` bytes into their buffer (1: pages unaligned). */
function validate(pages: DeltaPage[], shift = 0): string | undefined {
  const delta = {
    vmId: params.vmId,
    epoch: 3,
    seq: 9,
    kind: 'background-ram' as const,
    pages,
    blob: new Uint8Array(0),
  };
  const encoded = encodeDeltaWithClaim(delta);
  const { sha256 } = encoded;
  const bytes =
    shift === 0 ? encoded.bytes : new Uint8Array(encoded.bytes.byteLength + shift).subarray(shift);
  if (shift !== 0) bytes.set(encoded.bytes);
  const msg = {
    v: MESSAGE_VERSION,
    vmId: params.vmId,
    epoch: 3,
    seq: 9,
    type: 'delta' as const,
    kind: 'background-ram' as const,
    round: 1,
    claim: { key: deltaKey(params.vmId, 3, 9, 'background-ram'), size: bytes.byteLength, sha256 },
  };
  const out = validateDelta(params, PAGE_COUNT, msg, bytes, 'background-ram', 0);
  return out instanceof ColoError ? out.message : undefined;
}

describe('page bytes of a materialised delta', () => {
  it('reports the first error in page order whatever pages are paired, on 400 seeded deltas', () => {
    let pairedFirst = 0;
    let laterAfterHeld = 0;
    let clean = 0;
    for (let c = 0; c < 400; c++) {
      const next = rng(0x5eed + c);
      const pages: DeltaPage[] = [];
      let index = Math.floor(next() * 20);
      for (let i = 0; i < 12 + Math.floor(next() * 20); i++) {
        const version = 1 + Math.floor(next() * 50);
        let data: Uint8Array | null = null;
        if (!isZeroPage(params.seed, index, version, params.contentMix)) {
          data = new Uint8Array(PAGE_SIZE);
          fillPage(data, params.seed, index, version, params.contentMix);
        }
        pages.push({ index, version, data });
        index += 1 + Math.floor(next() * 60);
      }
      // Corrupt a few pages' bytes and sometimes drop one page's bytes (pages outside the guest never get
      // here: the decoder refuses them first).
      for (const p of pages) {
        const at = Math.floor(next() * PAGE_SIZE);
        if (p.data && next() < 0.08) p.data[at] = (p.data[at] as number) ^ 1;
      }
      const nonZero = pages.filter((p) => p.data);
      if (next() < 0.4 && nonZero.length > 0)
        (nonZero[Math.floor(next() * nonZero.length)] as DeltaPage).data = null;
      const want = reference(pages);
      expect(validate(pages), `case ${c}`).toBe(want);
      expect(validate(pages, 1), `case ${c}, unaligned`).toBe(want);
      if (want === undefined) clean++;
      const first = pages.find((p) => want?.startsWith(`page ${p.index} `));
      if (
        first &&
        want?.endsWith('bytes differ') &&
        isRandomPage(params.seed, first.index, first.version, params.contentMix)
      ) {
        // The failing page was a random one: held for a partner, or checked with the one before it.
        pairedFirst++;
        const later = pages.slice(pages.indexOf(first) + 1);
        if (reference(later) !== undefined) laterAfterHeld++;
      }
    }
    // Coverage: clean deltas, random pages failing, and failing before a later error that must not win.
    expect(clean).toBeGreaterThan(20);
    expect(pairedFirst).toBeGreaterThan(20);
    expect(laterAfterHeld).toBeGreaterThan(5);
  });
});
