// The wire package's implementation of the engine's codec port (src/wire/engine-codec.ts).
import { describe, expect, it } from 'vitest';
import { ClaimMismatchError } from '../../../src/engine/codec.ts';
import type { PageDelta } from '../../../src/engine/protocol/delta.ts';
import { WIRE_CODEC } from '../../../src/wire/engine-codec.ts';
import { WireError } from '../../../src/wire/errors.ts';

const delta: PageDelta = {
  vmId: 'vm-0',
  epoch: 1,
  seq: 2,
  kind: 'checkpoint-ram',
  pages: [{ index: 3, version: 1, data: new Uint8Array(4096).fill(7) }],
  blob: new Uint8Array(0),
};
const limits = { maxObjectBytes: 1 << 20, pageCount: 16 };

describe('WIRE_CODEC', () => {
  it('round-trips a delta and checks the claim', () => {
    const { bytes, sha256 } = WIRE_CODEC.encodeDelta(delta);
    const back = WIRE_CODEC.decodeDelta(bytes, { ...limits, expectedSha256: sha256 });
    expect(back.pages.map((p) => [p.index, p.version])).toEqual([[3, 1]]);
  });

  it('reports a claim-check failure as ClaimMismatchError, a corrupt object as WireError', () => {
    const { bytes, sha256 } = WIRE_CODEC.encodeDelta(delta);
    const wrong = sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    expect(() => WIRE_CODEC.decodeDelta(bytes, { ...limits, expectedSha256: wrong })).toThrow(
      ClaimMismatchError,
    );
    const flipped = bytes.slice();
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    let error: unknown;
    try {
      WIRE_CODEC.decodeDelta(flipped, limits);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WireError);
    expect(error).not.toBeInstanceOf(ClaimMismatchError);
  });

  it('parses messages with the strict schema', () => {
    const msg = { v: 1, type: 'checkpoint-reply', vmId: 'vm-0', epoch: 1, seq: 2, appliedRounds: [] };
    expect(WIRE_CODEC.parseMessage(msg)).toEqual(msg);
    expect(() => WIRE_CODEC.parseMessage({ ...msg, extra: 1 })).toThrow(WireError);
  });
});
