/** Unit tests of the page-delta codec: encoder input checks, decoder argument checks, storage choices. */
import { describe, expect, it } from 'vitest';
import type { DeltaPage, PageDelta } from '../../../src/engine/protocol/delta.ts';
import { decodeDelta, encodeDelta, WireError } from '../../../src/wire/delta-codec.ts';
import { HEADER_BYTES, PAGE_RECORD_BYTES, TRAILER_BYTES } from '../../../src/wire/delta-layout.ts';
import type { WireErrorCode } from '../../../src/wire/errors.ts';
import { makePage } from './page-content.ts';

const LIMITS = { maxObjectBytes: 1 << 24 };

function ram(pages: DeltaPage[], patch: Partial<PageDelta> = {}): PageDelta {
  return { vmId: 'vm-1', epoch: 1, seq: 0, kind: 'checkpoint-ram', pages, blob: new Uint8Array(0), ...patch };
}

function codeOf(run: () => unknown): WireErrorCode | 'ok' {
  try {
    run();
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(WireError);
    return (error as WireError).code;
  }
}

describe('encodeDelta input checks', () => {
  const page = (index: number, data: Uint8Array | null = null, version = 1): DeltaPage => ({
    index,
    version,
    data,
  });
  it.each<[string, PageDelta, WireErrorCode]>([
    ['modelled', ram([], { modelled: true }), 'bad-field'],
    ['bad vmId', ram([], { vmId: 'VM_1' }), 'bad-field'],
    ['epoch > u32', ram([], { epoch: 2 ** 32 }), 'bad-field'],
    ['fractional seq', ram([], { seq: 0.5 }), 'bad-field'],
    ['unsafe seq', ram([], { seq: 2 ** 53 }), 'bad-field'],
    ['unknown kind', ram([], { kind: 'disk' as PageDelta['kind'] }), 'unknown-kind'],
    ['inherited kind name', ram([], { kind: 'toString' as PageDelta['kind'] }), 'unknown-kind'],
    ['device-state with pages', ram([page(1)], { kind: 'device-state' }), 'count-mismatch'],
    ['RAM delta with a blob', ram([], { blob: new Uint8Array(3) }), 'count-mismatch'],
    ['unsorted', ram([page(5), page(4)]), 'unsorted-pages'],
    ['duplicate', ram([page(5), page(5)]), 'duplicate-page'],
    ['negative index', ram([page(-1)]), 'bad-field'],
    ['index > u32', ram([page(2 ** 32)]), 'page-out-of-range'],
    ['version > u32', ram([page(1, null, 2 ** 32)]), 'bad-field'],
    ['short page', ram([page(1, new Uint8Array(4095))]), 'bad-page-size'],
    ['long page', ram([page(1, new Uint8Array(4097))]), 'bad-page-size'],
    ['data not bytes', ram([page(1, [1, 2] as unknown as Uint8Array)]), 'bad-field'],
  ])('rejects %s', (_name, delta, code) => {
    expect(codeOf(() => encodeDelta(delta))).toBe(code);
  });

  it('says what it found and what it expected', () => {
    expect(() => encodeDelta(ram([{ index: 1, version: 1, data: new Uint8Array(10) }]))).toThrow(
      'bad-page-size: page 1: data is 10 bytes; expected 4096',
    );
  });
});

describe('decodeDelta argument checks', () => {
  const bytes = encodeDelta(ram([]));
  it.each<[string, object]>([
    ['negative maxObjectBytes', { maxObjectBytes: -1 }],
    ['non-integer pageCount', { maxObjectBytes: 100, pageCount: 1.5 }],
    ['upper-case expectedSha256', { maxObjectBytes: 100, expectedSha256: 'A'.repeat(64) }],
    ['unknown expectedKind', { maxObjectBytes: 100, expectedKind: 'disk' }],
  ])('throws RangeError for %s (a caller bug, not bad input)', (_name, limits) => {
    expect(() => decodeDelta(bytes, limits as never)).toThrow(RangeError);
  });
  it('throws TypeError when bytes is not a Uint8Array', () => {
    expect(() => decodeDelta('CDLT' as never, LIMITS)).toThrow(TypeError);
  });
  it('reports the byte offset of a bad field', () => {
    const copy = Buffer.from(bytes);
    copy[5] = 9;
    // The trailer no longer matches; it is checked before the kind, and the error points at it.
    expect(() => decodeDelta(copy, LIMITS)).toThrow(
      expect.objectContaining({ code: 'checksum-mismatch', offset: bytes.length - TRAILER_BYTES }),
    );
  });
});

describe('storage', () => {
  const random = makePage('random', 1);
  const text = makePage('text', 1);
  const delta = ram([
    { index: 0, version: 1, data: null },
    { index: 1, version: 2, data: random },
    { index: 2, version: 3, data: text },
  ]);

  it('costs no payload for a null page, 4096 bytes for a raw one', () => {
    const size = HEADER_BYTES + 4 + 2 + 3 * PAGE_RECORD_BYTES + TRAILER_BYTES;
    expect(encodeDelta(ram([{ index: 0, version: 1, data: null }])).length).toBe(
      size - 2 * PAGE_RECORD_BYTES,
    );
    expect(encodeDelta(delta).length).toBe(size + 2 * 4096);
  });

  it('deflates compressible pages only, when asked', () => {
    const packed = encodeDelta(delta, { compress: true });
    expect(packed.length).toBeLessThan(encodeDelta(delta).length - 3000);
    expect(packed.length).toBeGreaterThan(4096); // the random page stays raw
  });

  it('returns raw pages and the blob as views of the input, inflated pages as fresh arrays', () => {
    const raw = encodeDelta(delta);
    const decoded = decodeDelta(raw, LIMITS);
    expect(decoded.pages[1]?.data?.buffer).toBe(raw.buffer);
    const packed = encodeDelta(delta, { compress: true });
    expect(decodeDelta(packed, LIMITS).pages[2]?.data?.buffer).not.toBe(packed.buffer);
    const state = encodeDelta({ ...ram([]), kind: 'device-state', blob: new Uint8Array(100).fill(7) });
    expect(decodeDelta(state, LIMITS).blob.buffer).toBe(state.buffer);
  });

  it('decodes from a view at a non-zero offset of a larger buffer', () => {
    const raw = encodeDelta(delta);
    const big = new Uint8Array(raw.length + 10);
    big.set(raw, 7);
    const decoded = decodeDelta(big.subarray(7, 7 + raw.length), LIMITS);
    expect(Buffer.compare(decoded.pages[1]?.data as Uint8Array, random as Uint8Array)).toBe(0);
  });

  it('rejects an oversize object before hashing it', () => {
    const raw = encodeDelta(delta);
    expect(
      codeOf(() => decodeDelta(raw, { maxObjectBytes: raw.length - 1, expectedSha256: '0'.repeat(64) })),
    ).toBe('too-large');
  });
});
