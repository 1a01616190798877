/**
 * Page-delta encoder for a RAM delta given in columns ({@link RamDeltaColumns}): the same object as
 * {@link encodeDeltaWithClaim} makes of the same pages, with the page bytes written by the caller straight
 * into the object's payload section — no page objects, no scratch buffer, no copy.
 */
import type { RamDeltaColumns } from '../engine/codec.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import { checkHeader, type EncodedDelta, writeHeader } from './delta-encode.ts';
import { HEADER_BYTES, PAGE_ENCODING, PAGE_RECORD_BYTES, TRAILER_BYTES } from './delta-layout.ts';
import { WireError } from './errors.ts';
import { allocWithFrameRoom } from './frame-room.ts';
import { MAX_OBJECT_BYTES } from './limits.ts';
import { toRuns } from './page-runs.ts';
import { MAC_BYTES } from './replication-key.ts';
import { SEALED_OBJECT_HEADER_BYTES } from './sealed-object.ts';
import { TrailerSealer } from './sha256.ts';

/**
 * Non-zero pages filled, then hashed, at a time (128 KiB): small enough that the pages are still in the
 * processor's cache when they are hashed, large enough that a call per piece costs nothing.
 */
export const FILL_BLOCK_PAGES = 32;

/**
 * Encodes `delta`: header and page checks as {@link encodeDeltaWithClaim}'s, then `delta.fill` writes the
 * non-zero pages into the payload section (4-byte aligned in its buffer) {@link FILL_BLOCK_PAGES} at a time,
 * each piece hashed right after it is written; the one SHA-256 pass gives the trailer and the claim's digest.
 * @throws WireError as {@link encodeDeltaWithClaim}: `bad-field` (header fields, a kind other than RAM,
 *   columns of unequal length), `unknown-kind`, `unsorted-pages`, `duplicate-page`, `too-large`.
 */
export function encodeRamColumns(delta: RamDeltaColumns): EncodedDelta {
  const { index, version, zero } = delta;
  const count = index.length;
  const kindCode = checkHeader({ ...delta, pages: [], blob: new Uint8Array(0) });
  if (delta.kind !== 'background-ram' && delta.kind !== 'checkpoint-ram') {
    throw new WireError('bad-field', `a delta in columns carries RAM pages; ${delta.kind} does not`);
  }
  if (version.length !== count || zero.length !== count) {
    throw new WireError(
      'bad-field',
      `columns of ${count} indices, ${version.length} versions and ${zero.length} zero flags; expected equal`,
    );
  }
  let filled = 0;
  let previous = -1;
  for (let i = 0; i < count; i++) {
    const page = index[i] as number;
    if (page <= previous) {
      throw new WireError(
        page === previous ? 'duplicate-page' : 'unsorted-pages',
        page === previous
          ? `page ${page} is listed twice (pages[${i}])`
          : `pages[${i}].index ${page} follows ${previous}; indices must increase`,
      );
    }
    previous = page;
    if (zero[i] === 0) filled++;
  }
  const runs = toRuns(index);
  const payloadBytes = filled * PAGE_SIZE;
  const vmIdBytes = delta.vmId.length;
  const recordsAt = HEADER_BYTES + vmIdBytes + runs.tableBytes;
  const payloadAt = recordsAt + count * PAGE_RECORD_BYTES;
  const bodyEnd = payloadAt + payloadBytes;
  const total = bodyEnd + TRAILER_BYTES;
  if (total > MAX_OBJECT_BYTES) {
    throw new WireError('too-large', `object would be ${total} bytes; the limit is ${MAX_OBJECT_BYTES}`);
  }
  const out = allocWithFrameRoom(total, SEALED_OBJECT_HEADER_BYTES + vmIdBytes, MAC_BYTES, payloadAt);
  writeHeader(out, delta, kindCode, count, runs, payloadBytes, 0);
  for (let i = 0, at = recordsAt; i < count; i++, at += PAGE_RECORD_BYTES) {
    const isZero = zero[i] !== 0;
    out.writeUInt32LE(version[i] as number, at);
    out[at + 4] = isZero ? PAGE_ENCODING.zero : PAGE_ENCODING.raw;
    out.writeUInt16LE(isZero ? 0 : PAGE_SIZE, at + 5);
  }
  const sealer = new TrailerSealer(out, bodyEnd);
  sealer.hashTo(payloadAt);
  for (let first = 0; first < filled; first += FILL_BLOCK_PAGES) {
    const from = payloadAt + first * PAGE_SIZE;
    const to = payloadAt + Math.min(filled, first + FILL_BLOCK_PAGES) * PAGE_SIZE;
    delta.fill(out.subarray(from, to), first);
    sealer.hashTo(to);
  }
  return { bytes: out, sha256: sealer.seal() };
}
