// A RAM delta given in columns encodes to the very object its pages make (src/wire/delta-encode-columns.ts).
import { describe, expect, it } from 'vitest';
import type { RamDeltaColumns } from '../../../src/engine/codec.ts';
import type { PageDelta } from '../../../src/engine/protocol/delta.ts';
import { encodeDeltaWithClaim, sha256Hex, WireError } from '../../../src/wire/delta-codec.ts';
import { encodeRamColumns } from '../../../src/wire/delta-encode-columns.ts';

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
    fill(payload) {
      for (let k = 0; k < payload.byteLength / PAGE; k++) payload.set(pageBytes(k), k * PAGE);
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

  it('hands fill a 4-byte aligned payload exactly as long as the non-zero pages', () => {
    let seen: Uint8Array | undefined;
    encodeRamColumns(
      columns({
        fill(payload) {
          seen = payload;
          payload.fill(1);
        },
      }),
    );
    expect(seen?.byteLength).toBe(3 * PAGE);
    expect((seen?.byteOffset ?? 1) % 4).toBe(0);
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
