/** Unit tests of the varint and run-table helpers. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_U32 } from '../../../src/wire/limits.ts';
import { readRuns, toRuns, writeRuns } from '../../../src/wire/page-runs.ts';
import { readVarint, varintLength, writeVarint } from '../../../src/wire/varint.ts';

describe('varint', () => {
  it('round-trips every u32 in exactly varintLength bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(300), fc.nat({ max: MAX_U32 }), fc.constant(MAX_U32)), (value) => {
        const out = new Uint8Array(5);
        const end = writeVarint(out, 0, value);
        expect(end).toBe(varintLength(value));
        expect(readVarint(out, 0, end, 'v')).toEqual({ value, next: end });
      }),
    );
  });
  it.each([
    ['over-long', [0x80, 0x00]],
    ['above u32', [0xff, 0xff, 0xff, 0xff, 0x1f]],
    ['six bytes', [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]],
    ['unterminated', [0x80]],
  ])('rejects %s', (_name, bytes) => {
    expect(() => readVarint(Uint8Array.from(bytes), 0, bytes.length, 'v')).toThrow(/bad-field/);
  });
});

describe('run table', () => {
  it('groups consecutive indices and decodes them back', () => {
    const indices = [0, 1, 2, 7, 9, 10, MAX_U32 - 1, MAX_U32];
    const runs = toRuns(indices);
    expect(runs.starts).toEqual([0, 7, 9, MAX_U32 - 1]);
    expect(runs.lengths).toEqual([3, 1, 2, 2]);
    const out = new Uint8Array(runs.tableBytes);
    expect(writeRuns(out, 0, runs)).toBe(runs.tableBytes);
    expect([...readRuns(out, 0, out.length, indices.length, MAX_U32 + 1)]).toEqual(indices);
  });
  it('is compact for clustered pages: 1 000 consecutive pages take 4 bytes', () => {
    expect(toRuns(Array.from({ length: 1000 }, (_, i) => 5000 + i)).tableBytes).toBe(4);
  });
});
