// Overlay segments (state-segments.ts): a round trip, and every way a stored segment can be wrong — other
// bytes than the hot document names, another VM's or revision's or level's segment, indices out of order or
// past the array, a bitmap byte over 255 — is a StateDocumentError naming it, never wrong state.
import { describe, expect, test } from 'vitest';
import { encodeContainer, StateDocumentError } from '../../../src/runtime/cloud/index.ts';
import { PRIMARY_PAGED } from '../../../src/runtime/cloud/paged-fields.ts';
import { sha256Hex } from '../../../src/runtime/cloud/state-chunks.ts';
import {
  decodeSegment,
  encodeSegment,
  type SegmentEntries,
  type SegmentIdentity,
} from '../../../src/runtime/cloud/state-segments.ts';

const ID: SegmentIdentity = {
  vmId: 'vm-0',
  node: 'primary',
  revision: 7,
  level: 1,
  pages: 256,
  createdAt: 1000,
  fields: PRIMARY_PAGED,
};

function entries(): Map<string, SegmentEntries> {
  return new Map([
    ['versions', { at: Uint32Array.of(0, 5, 255), values: Uint32Array.of(1, 2, 3) }],
    ['dirty', { at: Uint32Array.of(3), values: Uint32Array.of(255) }],
  ]);
}

/** A segment container with `body` changes applied, and its hash. */
function forged(change: (body: Record<string, unknown>) => void) {
  const fields: Record<string, unknown> = {};
  for (const f of PRIMARY_PAGED) fields[f.name] = { gaps: new Uint32Array(0), values: new Uint32Array(0) };
  const body: Record<string, unknown> = {
    vmId: ID.vmId,
    node: ID.node,
    revision: ID.revision,
    level: ID.level,
    pages: ID.pages,
    createdAt: ID.createdAt,
    fields,
  };
  change(body);
  const bytes = encodeContainer('state-segment', body);
  return { bytes, sha: sha256Hex(bytes) };
}

describe('overlay segments', () => {
  test('round trip: every field back, absolute indices, counted', () => {
    const enc = encodeSegment(ID, entries());
    expect(enc.entries).toBe(4);
    const back = decodeSegment(enc.bytes, enc.sha256, ID, 'seg');
    expect([...(back.get('versions')?.at ?? [])]).toEqual([0, 5, 255]);
    expect([...(back.get('versions')?.values ?? [])]).toEqual([1, 2, 3]);
    expect([...(back.get('dirty')?.at ?? [])]).toEqual([3]);
    expect(back.get('touched')?.at.length).toBe(0);
    expect(back.size).toBe(PRIMARY_PAGED.length);
  });

  test('a wrong segment is a clear StateDocumentError', () => {
    const enc = encodeSegment(ID, entries());
    const bad = (f: () => unknown, pattern: RegExp) => {
      expect(f).toThrow(StateDocumentError);
      expect(f).toThrow(pattern);
    };
    bad(() => decodeSegment(enc.bytes, '0'.repeat(64), ID, 'seg'), /other bytes than the document names/);
    bad(
      () => decodeSegment(enc.bytes, enc.sha256, { ...ID, revision: 8 }, 'seg'),
      /revision is 7; expected 8/,
    );
    bad(() => decodeSegment(enc.bytes, enc.sha256, { ...ID, level: 0 }, 'seg'), /level is 1; expected 0/);
    bad(() => decodeSegment(enc.bytes, enc.sha256, { ...ID, vmId: 'vm-1' }, 'seg'), /vmId/);
    const order = forged((b) => {
      (b.fields as Record<string, unknown>).versions = {
        gaps: Uint32Array.of(4, 0),
        values: Uint32Array.of(1, 1),
      };
    });
    bad(() => decodeSegment(order.bytes, order.sha, ID, 'seg'), /versions index 4 is out of order/);
    const past = forged((b) => {
      (b.fields as Record<string, unknown>).versions = {
        gaps: Uint32Array.of(256),
        values: Uint32Array.of(1),
      };
    });
    bad(() => decodeSegment(past.bytes, past.sha, ID, 'seg'), /past 256/);
    const byte = forged((b) => {
      (b.fields as Record<string, unknown>).dirty = { gaps: Uint32Array.of(1), values: Uint32Array.of(256) };
    });
    bad(() => decodeSegment(byte.bytes, byte.sha, ID, 'seg'), /byte 256 > 255/);
    const lengths = forged((b) => {
      (b.fields as Record<string, unknown>).versions = {
        gaps: Uint32Array.of(1, 2),
        values: Uint32Array.of(1),
      };
    });
    bad(() => decodeSegment(lengths.bytes, lengths.sha, ID, 'seg'), /2 indices, 1 values/);
    const missing = forged((b) => {
      delete (b.fields as Record<string, unknown>).touched;
    });
    bad(() => decodeSegment(missing.bytes, missing.sha, ID, 'seg'), /holds 6 arrays; expected 7/);
  });
});
