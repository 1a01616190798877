// A RAM delta given in columns encodes to the very object its pages make (src/wire/delta-encode-columns.ts).
import { describe, expect, it } from 'vitest';
import type { RamDeltaColumns } from '../../../src/engine/codec.ts';
import type { PageDelta } from '../../../src/engine/protocol/delta.ts';
import { encodeDeltaWithClaim, sha256Hex, WireError } from '../../../src/wire/delta-codec.ts';
import { encodeRamColumns, FILL_BLOCK_PAGES } from '../../../src/wire/delta-encode-columns.ts';

const PAGE = 4096;
const index = Uint32Array.of(2, 3, 4, 9, 70_000);
const version = Uint32Array.of(1, 5, 2, 7, 3);
const zero = Uint8Array.of(0, 1, 0, 0, 1);
/** Non-zero page k holds the byte k + 1 throughout. */
const pageBytes = (k: number) => new Uint8Array(PAGE).fill(k + 1);

function columns(over: Partial<RamDeltaColumns> = {}): RamDeltaColumns {
  return {
    vmId: 'vm-7',
    epoch: 4,
    seq: 11,
    kind: 'background-ram',
    index,
    version,
    zero,
    fill(payload, first) {
      for (let k = 0; k < payload.byteLength / PAGE; k++) payload.set(pageBytes(first + k), k * PAGE);
    },
    ...over,
  };
}

describe('encodeRamColumns', () => {
  it('writes the same bytes and claim as encodeDeltaWithClaim of the same pages', () => {
    let k = 0;
    const delta: PageDelta = {
      vmId: 'vm-7',
      epoch: 4,
      seq: 11,
      kind: 'background-ram',
      pages: [...index].map((p, i) => ({
        index: p,
        version: version[i] as number,
        data: zero[i] ? null : pageBytes(k++),
      })),
      blob: new Uint8Array(0),
    };
    const want = encodeDeltaWithClaim(delta);
    const got = encodeRamColumns(columns());
    expect(Buffer.compare(got.bytes, want.bytes)).toBe(0);
    expect(got.sha256).toBe(want.sha256);
    expect(got.sha256).toBe(sha256Hex(got.bytes));
  });

  it('hands fill 4-byte aligned runs that cover the non-zero pages once, in order', () => {
    const seen: [number, number, number][] = [];
    encodeRamColumns(
      columns({
        fill(payload, first) {
          seen.push([first, payload.byteLength, payload.byteOffset % 4]);
          payload.fill(1);
        },
      }),
    );
    expect(seen).toEqual([[0, 3 * PAGE, 0]]);
  });

  it('writes the same object when the pages span several fill runs', () => {
    const n = 2 * FILL_BLOCK_PAGES + 5;
    const many = {
      index: Uint32Array.from({ length: n }, (_, i) => 3 * i + 1),
      version: Uint32Array.from({ length: n }, (_, i) => i + 1),
      zero: Uint8Array.from({ length: n }, (_, i) => (i % 7 === 3 ? 1 : 0)),
    };
    const firsts: number[] = [];
    let k = 0;
    const delta: PageDelta = {
      vmId: 'vm-7',
      epoch: 4,
      seq: 11,
      kind: 'checkpoint-ram',
      pages: [...many.index].map((p, i) => ({
        index: p,
        version: many.version[i] as number,
        data: many.zero[i] ? null : pageBytes(k++),
      })),
      blob: new Uint8Array(0),
    };
    const want = encodeDeltaWithClaim(delta);
    const got = encodeRamColumns(
      columns({
        kind: 'checkpoint-ram',
        ...many,
        fill(payload, first) {
          firsts.push(first);
          for (let j = 0; j < payload.byteLength / PAGE; j++) payload.set(pageBytes(first + j), j * PAGE);
        },
      }),
    );
    expect(firsts).toEqual([0, FILL_BLOCK_PAGES, 2 * FILL_BLOCK_PAGES].filter((f) => f < k));
    expect(Buffer.compare(got.bytes, want.bytes)).toBe(0);
    expect(got.sha256).toBe(want.sha256);
    expect(got.sha256).toBe(sha256Hex(got.bytes));
  });

  it.each([
    ['unsorted-pages', { index: Uint32Array.of(2, 3, 1, 9, 70_000) }],
    ['duplicate-page', { index: Uint32Array.of(2, 3, 3, 9, 70_000) }],
    ['bad-field', { version: Uint32Array.of(1) }],
    ['bad-field', { zero: Uint8Array.of(0) }],
    ['bad-field', { kind: 'device-state' as 'background-ram' }],
    ['bad-field', { vmId: 'Not An Id' }],
  ])('refuses %s columns before filling anything', (code, over) => {
    let filled = false;
    let error: unknown;
    try {
      encodeRamColumns(
        columns({
          ...over,
          fill() {
            filled = true;
          },
        }),
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WireError);
    expect((error as WireError).code).toBe(code);
    expect(filled).toBe(false);
  });
});
