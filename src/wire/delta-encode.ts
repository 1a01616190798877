/** Page-delta encoder: {@link PageDelta} → versioned binary object (layout in delta-layout.ts). */
import { PAGE_SIZE, type PageDelta } from '../engine/protocol/delta.ts';
import {
  DELTA_FORMAT_VERSION,
  DELTA_MAGIC,
  HEADER_BYTES,
  KIND_CODES,
  OFF,
  PAGE_ENCODING,
  PAGE_RECORD_BYTES,
  TRAILER_BYTES,
} from './delta-layout.ts';
import { WireError } from './errors.ts';
import { allocWithFrameRoom } from './frame-room.ts';
import { MAX_EPOCH, MAX_OBJECT_BYTES, MAX_U32, VM_ID_PATTERN } from './limits.ts';
import { deflatePage } from './page-compress.ts';
import { type PageRuns, toRuns, writeRuns } from './page-runs.ts';
import { MAC_BYTES } from './replication-key.ts';
import { SEALED_OBJECT_HEADER_BYTES } from './sealed-object.ts';
import { sealWithTrailer } from './sha256.ts';

/** Encoder options. */
export interface EncodeOptions {
  /**
   * Deflate pages where it saves at least 1/8 of the page (default `false`). Costs CPU (tens of µs per
   * compressible page); pays when the object crosses a network or is stored for long.
   */
  compress?: boolean;
}

/** An encoded object and its claim-check digest. */
export interface EncodedDelta {
  /** The page-delta object. */
  bytes: Uint8Array;
  /** SHA-256 of {@link EncodedDelta.bytes}, 64 lower-case hex digits (equals `sha256Hex(bytes)`). */
  sha256: string;
}

/**
 * Encodes a page delta into a page-delta object.
 * @throws WireError on invalid input: `bad-field` (modelled delta, bad vmId/epoch/seq/version, wrong types),
 *   `unknown-kind`, `count-mismatch` (pages in a device-state delta or a blob in a RAM delta),
 *   `unsorted-pages`, `duplicate-page`, `page-out-of-range` (index > 2^32 − 1), `bad-page-size`
 *   (data not 4096 bytes), `too-large` (object would exceed 1 GiB).
 */
export function encodeDelta(delta: PageDelta, options: EncodeOptions = {}): Uint8Array {
  return encodeDeltaWithClaim(delta, options).bytes;
}

/**
 * Like {@link encodeDelta}, and also returns the object's SHA-256 for the claim check, computed in the same
 * pass that computes the trailer (so uploading does not need a second pass of `sha256Hex`).
 */
export function encodeDeltaWithClaim(delta: PageDelta, options: EncodeOptions = {}): EncodedDelta {
  const kindCode = checkHeader(delta);
  const indices = checkPages(delta);
  const runs = toRuns(indices);
  const count = delta.pages.length;
  const encodings = new Uint8Array(count);
  const stored: (Uint8Array | null)[] = new Array(count);
  let payloadBytes = 0;
  for (let i = 0; i < count; i++) {
    const data = (delta.pages[i] as PageDelta['pages'][number]).data;
    if (data === null) {
      encodings[i] = PAGE_ENCODING.zero;
      stored[i] = null;
      continue;
    }
    const packed = options.compress ? deflatePage(data) : null;
    encodings[i] = packed ? PAGE_ENCODING.deflate : PAGE_ENCODING.raw;
    stored[i] = packed ?? data;
    payloadBytes += packed ? packed.length : PAGE_SIZE;
  }
  const vmIdBytes = delta.vmId.length;
  const recordsAt = HEADER_BYTES + vmIdBytes + runs.tableBytes;
  const payloadAt = recordsAt + count * PAGE_RECORD_BYTES;
  const blobAt = payloadAt + payloadBytes;
  const bodyEnd = blobAt + delta.blob.length;
  const total = bodyEnd + TRAILER_BYTES;
  if (total > MAX_OBJECT_BYTES) {
    throw new WireError('too-large', `object would be ${total} bytes; the limit is ${MAX_OBJECT_BYTES}`);
  }

  // Not zero-filled: every byte below is written explicitly. With room for the sealed frame around it
  // (src/wire/sealed-object.ts), so that sealing does not copy the object; its pages 4-byte aligned, so a
  // reader in this process verifies them as words in place.
  const out = allocWithFrameRoom(total, SEALED_OBJECT_HEADER_BYTES + vmIdBytes, MAC_BYTES, payloadAt);
  writeHeader(out, delta, kindCode, count, runs, payloadBytes, delta.blob.length);

  let recordAt = recordsAt;
  let payload = payloadAt;
  // Pages that lie back to back in one buffer (a builder's batch) are copied in one call per run: a call
  // per 4 KiB page cost more than the bytes it moved.
  let runFrom: Uint8Array | null = null;
  let runStart = 0;
  let runBytes = 0;
  for (let i = 0; i < count; i++) {
    const page = stored[i];
    const length = page ? page.length : 0;
    out.writeUInt32LE((delta.pages[i] as PageDelta['pages'][number]).version, recordAt);
    out[recordAt + 4] = encodings[i] as number;
    out.writeUInt16LE(length, recordAt + 5);
    recordAt += PAGE_RECORD_BYTES;
    if (page) {
      if (runFrom && page.buffer === runFrom.buffer && page.byteOffset === runFrom.byteOffset + runBytes) {
        runBytes += length;
      } else {
        if (runFrom) out.set(new Uint8Array(runFrom.buffer, runFrom.byteOffset, runBytes), runStart);
        runFrom = page;
        runStart = payload;
        runBytes = length;
      }
    }
    payload += length;
  }
  if (runFrom) out.set(new Uint8Array(runFrom.buffer, runFrom.byteOffset, runBytes), runStart);
  out.set(delta.blob, blobAt);
  const sha256 = sealWithTrailer(out, bodyEnd);
  return { bytes: out, sha256 };
}

/** The header, the VM id and the run table of an object (`out` is the object, sized by the caller). */
export function writeHeader(
  out: Buffer,
  header: Pick<PageDelta, 'vmId' | 'epoch' | 'seq'>,
  kindCode: number,
  count: number,
  runs: PageRuns,
  payloadBytes: number,
  blobBytes: number,
): void {
  const vmIdBytes = header.vmId.length;
  out.set(DELTA_MAGIC, OFF.magic);
  out[OFF.version] = DELTA_FORMAT_VERSION;
  out[OFF.kind] = kindCode;
  out[OFF.flags] = 0;
  out[OFF.vmIdLength] = vmIdBytes;
  out.writeUInt32LE(header.epoch, OFF.epoch);
  out.writeUInt32LE(header.seq % 2 ** 32, OFF.seqLow);
  out.writeUInt32LE(Math.floor(header.seq / 2 ** 32), OFF.seqHigh);
  out.writeUInt32LE(count, OFF.pageCount);
  out.writeUInt32LE(runs.tableBytes, OFF.runBytes);
  out.writeUInt32LE(payloadBytes, OFF.payloadBytes);
  out.writeUInt32LE(blobBytes, OFF.blobBytes);
  out.write(header.vmId, HEADER_BYTES, 'latin1');
  writeRuns(out, HEADER_BYTES + vmIdBytes, runs);
}

/** Validates the header fields; returns the kind byte. */
export function checkHeader(delta: PageDelta): number {
  if (delta === null || typeof delta !== 'object')
    throw new WireError('bad-field', 'delta must be an object');
  if (delta.modelled) {
    throw new WireError(
      'bad-field',
      'delta is modelled (no page bytes were built); only real deltas can be encoded',
    );
  }
  if (typeof delta.vmId !== 'string' || !VM_ID_PATTERN.test(delta.vmId)) {
    throw new WireError('bad-field', `vmId ${JSON.stringify(delta.vmId)} does not match ${VM_ID_PATTERN}`);
  }
  if (!Number.isInteger(delta.epoch) || delta.epoch < 0 || delta.epoch > MAX_EPOCH) {
    throw new WireError('bad-field', `epoch ${delta.epoch} is not an integer in 0…${MAX_EPOCH}`);
  }
  if (!Number.isSafeInteger(delta.seq) || delta.seq < 0) {
    throw new WireError('bad-field', `seq ${delta.seq} is not a non-negative safe integer`);
  }
  if (typeof delta.kind !== 'string' || !Object.hasOwn(KIND_CODES, delta.kind)) {
    throw new WireError(
      'unknown-kind',
      `kind ${JSON.stringify(delta.kind)} is not one of ${Object.keys(KIND_CODES).join(', ')}`,
    );
  }
  if (!Array.isArray(delta.pages)) throw new WireError('bad-field', 'pages must be an array');
  if (!(delta.blob instanceof Uint8Array)) throw new WireError('bad-field', 'blob must be a Uint8Array');
  if (delta.kind === 'device-state' && delta.pages.length > 0) {
    throw new WireError('count-mismatch', `device-state delta has ${delta.pages.length} pages; expected 0`);
  }
  if (delta.kind !== 'device-state' && delta.blob.length > 0) {
    throw new WireError(
      'count-mismatch',
      `${delta.kind} delta has a ${delta.blob.length}-byte blob; expected 0`,
    );
  }
  return KIND_CODES[delta.kind];
}

/** Validates every page; returns the page indices. */
function checkPages(delta: PageDelta): number[] {
  const indices: number[] = new Array(delta.pages.length);
  let previous = -1;
  for (let i = 0; i < delta.pages.length; i++) {
    const page = delta.pages[i];
    if (page === null || typeof page !== 'object')
      throw new WireError('bad-field', `pages[${i}] is not an object`);
    const { index, version, data } = page;
    if (!Number.isInteger(index) || index < 0) {
      throw new WireError('bad-field', `pages[${i}].index ${index} is not a non-negative integer`);
    }
    if (index > MAX_U32)
      throw new WireError('page-out-of-range', `pages[${i}].index ${index} exceeds 2^32 - 1`);
    if (index === previous)
      throw new WireError('duplicate-page', `page ${index} is listed twice (pages[${i}])`);
    if (index < previous) {
      throw new WireError(
        'unsorted-pages',
        `pages[${i}].index ${index} follows ${previous}; indices must increase`,
      );
    }
    if (!Number.isInteger(version) || version < 0 || version > MAX_U32) {
      throw new WireError('bad-field', `page ${index}: version ${version} is not a u32`);
    }
    if (data !== null) {
      if (!(data instanceof Uint8Array))
        throw new WireError('bad-field', `page ${index}: data is not a Uint8Array or null`);
      if (data.length !== PAGE_SIZE) {
        throw new WireError(
          'bad-page-size',
          `page ${index}: data is ${data.length} bytes; expected ${PAGE_SIZE}`,
        );
      }
    }
    indices[i] = index;
    previous = index;
  }
  return indices;
}
