/**
 * Page-delta decoder: strict, bounded parsing of an untrusted page-delta object.
 * Checks run in the order listed in docs/wire-format.md: size limit, claim check, framing, trailer, fields,
 * run table, page records, payload. Nothing is allocated before the object's declared layout has been
 * proven to fit its actual length, so allocation is bounded by the object size (plus 4096 bytes per
 * compressed page, whose count is bounded by the object size and by the guest size).
 */
import type { DeltaPage, PageDelta } from '../engine/protocol/delta.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import type { DeltaKind } from '../engine/protocol/messages.ts';
import { columnarRamDelta } from '../engine/protocol/page-columns.ts';
import {
  DELTA_FORMAT_VERSION,
  DELTA_MAGIC,
  HEADER_BYTES,
  KIND_CODES,
  KINDS_BY_CODE,
  MAX_SEQ_HIGH,
  MAX_VM_ID_BYTES,
  OFF,
  PAGE_ENCODING,
  PAGE_RECORD_BYTES,
  TRAILER_BYTES,
} from './delta-layout.ts';
import { WireError } from './errors.ts';
import { knownDigests } from './known-digests.ts';
import { MAX_U32, VM_ID_PATTERN } from './limits.ts';
import { inflatePage } from './page-compress.ts';
import { readRuns } from './page-runs.ts';
import { splitDigests } from './sha256.ts';

/** What the caller knows about the object it fetched; the decoder rejects anything outside it. */
export interface DecodeLimits {
  /** Largest acceptable object, bytes; checked before any other work (e.g. the claim's `size`). */
  maxObjectBytes: number;
  /** Guest size in pages: every page index must be below it. Without it, indices need only fit a u32. */
  pageCount?: number;
  /** Claim-check SHA-256 of the whole object (64 lower-case hex digits), from the `delta` message. */
  expectedSha256?: string;
  /** Kind the announcing `delta` message declared. */
  expectedKind?: DeltaKind;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Decodes and verifies a page-delta object.
 *
 * Raw pages and the device-state blob are returned as views into `bytes` (no copy): keep `bytes`
 * unchanged while the delta is in use. Compressed pages are inflated into fresh 4096-byte arrays;
 * zero pages come back as `data: null`. A RAM delta with no compressed page keeps its pages in columns over
 * the payload section (src/engine/protocol/page-columns.ts) and builds `pages` on first read.
 *
 * @throws WireError with the code of the first failed check (see docs/wire-format.md).
 * @throws TypeError / RangeError when `bytes` or `limits` themselves are malformed (a caller bug).
 */
export function decodeDelta(bytes: Uint8Array, limits: DecodeLimits): PageDelta {
  checkLimits(bytes, limits);
  const size = bytes.length;
  if (size > limits.maxObjectBytes) {
    throw new WireError('too-large', `object is ${size} bytes; the limit is ${limits.maxObjectBytes}`);
  }

  // One hash pass yields both the whole-object digest (claim) and the body digest (trailer).
  let digests: ReturnType<typeof splitDigests> | undefined;
  if (limits.expectedSha256 !== undefined) {
    const split = Math.max(0, size - TRAILER_BYTES);
    // Opening its sealed frame hashed these bytes already (src/wire/sealed-object.ts, version 2).
    digests = knownDigests(bytes, split) ?? splitDigests(bytes, split);
    if (digests.wholeHex !== limits.expectedSha256) {
      throw new WireError(
        'checksum-mismatch',
        `object SHA-256 is ${digests.wholeHex}; the claim check says ${limits.expectedSha256}`,
      );
    }
  }

  for (let i = 0; i < Math.min(size, DELTA_MAGIC.length); i++) {
    if (bytes[i] !== DELTA_MAGIC[i]) {
      const found = Buffer.from(bytes.subarray(0, DELTA_MAGIC.length)).toString('hex');
      throw new WireError('bad-magic', `found 0x${found}; expected 0x43444c54 ("CDLT")`, 0);
    }
  }
  if (size <= OFF.version)
    throw new WireError('truncated', `object is ${size} bytes; the header needs ${HEADER_BYTES}`);
  const version = bytes[OFF.version] as number;
  if (version !== DELTA_FORMAT_VERSION) {
    throw new WireError(
      'unsupported-version',
      `format version ${version}; this decoder reads version ${DELTA_FORMAT_VERSION}`,
      OFF.version,
    );
  }
  if (size < HEADER_BYTES + TRAILER_BYTES) {
    throw new WireError(
      'truncated',
      `object is ${size} bytes; header and trailer need ${HEADER_BYTES + TRAILER_BYTES}`,
    );
  }

  // Framing: the header's section sizes must add up to the actual length. All terms are < 2^35, so the
  // sum is exact in a double; a huge count fails here, before anything is allocated for it.
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vmIdBytes = bytes[OFF.vmIdLength] as number;
  const pageCount = view.readUInt32LE(OFF.pageCount);
  const runBytes = view.readUInt32LE(OFF.runBytes);
  const payloadBytes = view.readUInt32LE(OFF.payloadBytes);
  const blobBytes = view.readUInt32LE(OFF.blobBytes);
  const runsAt = HEADER_BYTES + vmIdBytes;
  const recordsAt = runsAt + runBytes;
  const payloadAt = recordsAt + pageCount * PAGE_RECORD_BYTES;
  const blobAt = payloadAt + payloadBytes;
  const bodyEnd = blobAt + blobBytes;
  const declared = bodyEnd + TRAILER_BYTES;
  if (declared > size) {
    throw new WireError(
      'truncated',
      `object is ${size} bytes; its header declares ${declared} (${pageCount} pages, ${runBytes}-byte run table, ` +
        `${payloadBytes}-byte payload, ${blobBytes}-byte blob)`,
    );
  }
  if (declared < size) {
    throw new WireError(
      'trailing-bytes',
      `object is ${size} bytes; its header declares ${declared}`,
      declared,
    );
  }

  digests ??= knownDigests(bytes, bodyEnd) ?? splitDigests(bytes, bodyEnd);
  if (!digests.body.equals(bytes.subarray(bodyEnd))) {
    throw new WireError(
      'checksum-mismatch',
      `SHA-256 trailer is ${view.toString('hex', bodyEnd)}; the body hashes to ${digests.body.toString('hex')}`,
      bodyEnd,
    );
  }

  const kind = KINDS_BY_CODE.get(bytes[OFF.kind] as number);
  if (kind === undefined) {
    throw new WireError('unknown-kind', `kind byte ${bytes[OFF.kind]}; expected 1, 2 or 3`, OFF.kind);
  }
  if (limits.expectedKind !== undefined && kind !== limits.expectedKind) {
    throw new WireError('kind-mismatch', `object holds ${kind}; expected ${limits.expectedKind}`, OFF.kind);
  }
  if (bytes[OFF.flags] !== 0) {
    throw new WireError(
      'bad-field',
      `flags byte is ${bytes[OFF.flags]}; version 1 defines none (expected 0)`,
      OFF.flags,
    );
  }
  if (vmIdBytes === 0 || vmIdBytes > MAX_VM_ID_BYTES) {
    throw new WireError(
      'bad-field',
      `vmId length ${vmIdBytes}; expected 1…${MAX_VM_ID_BYTES}`,
      OFF.vmIdLength,
    );
  }
  const vmId = view.toString('latin1', HEADER_BYTES, runsAt);
  if (!VM_ID_PATTERN.test(vmId)) {
    throw new WireError(
      'bad-field',
      `vmId ${JSON.stringify(vmId)} does not match ${VM_ID_PATTERN}`,
      HEADER_BYTES,
    );
  }
  const epoch = view.readUInt32LE(OFF.epoch);
  const seqHigh = view.readUInt32LE(OFF.seqHigh);
  if (seqHigh > MAX_SEQ_HIGH) {
    throw new WireError('bad-field', `seq high word ${seqHigh} makes seq exceed 2^53 - 1`, OFF.seqHigh);
  }
  const seq = seqHigh * 2 ** 32 + view.readUInt32LE(OFF.seqLow);
  if (kind === 'device-state' && (pageCount !== 0 || runBytes !== 0)) {
    throw new WireError(
      'count-mismatch',
      `device-state object declares ${pageCount} pages and a ${runBytes}-byte run table; expected none`,
      OFF.pageCount,
    );
  }
  if (kind !== 'device-state' && blobBytes !== 0) {
    throw new WireError(
      'count-mismatch',
      `${kind} object declares a ${blobBytes}-byte blob; expected 0`,
      OFF.blobBytes,
    );
  }

  const indices = readRuns(bytes, runsAt, recordsAt, pageCount, limits.pageCount ?? MAX_U32 + 1);
  const deflated = checkRecords(view, recordsAt, pageCount, payloadBytes, indices);
  if (deflated === 0 && kind !== 'device-state') {
    // Every page raw or zero: the pages stay in columns over the payload section (page-columns.ts).
    return columnarRamDelta(
      { vmId, epoch, seq, kind },
      {
        index: indices,
        version: readVersions(bytes, recordsAt, pageCount),
        bytes: readZeroFlags(bytes, recordsAt, pageCount, payloadAt, payloadBytes),
      },
    );
  }
  const pages = readPages(view, recordsAt, payloadAt, indices);
  const blob =
    blobBytes === 0 ? new Uint8Array(0) : new Uint8Array(bytes.buffer, bytes.byteOffset + blobAt, blobBytes);
  return { vmId, epoch, seq, kind, pages, blob };
}

/** Rejects malformed arguments (caller bugs, not bad input) with TypeError / RangeError. */
function checkLimits(bytes: Uint8Array, limits: DecodeLimits): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeDelta: bytes must be a Uint8Array');
  if (limits === null || typeof limits !== 'object')
    throw new TypeError('decodeDelta: limits must be an object');
  if (!Number.isSafeInteger(limits.maxObjectBytes) || limits.maxObjectBytes < 0) {
    throw new RangeError(
      `decodeDelta: maxObjectBytes ${limits.maxObjectBytes} is not a non-negative safe integer`,
    );
  }
  if (limits.pageCount !== undefined && (!Number.isSafeInteger(limits.pageCount) || limits.pageCount < 0)) {
    throw new RangeError(`decodeDelta: pageCount ${limits.pageCount} is not a non-negative safe integer`);
  }
  if (limits.expectedSha256 !== undefined && !SHA256_HEX.test(limits.expectedSha256)) {
    throw new RangeError(
      `decodeDelta: expectedSha256 ${JSON.stringify(limits.expectedSha256)} is not 64 lower-case hex digits`,
    );
  }
  if (limits.expectedKind !== undefined && !Object.hasOwn(KIND_CODES, limits.expectedKind)) {
    throw new RangeError(
      `decodeDelta: expectedKind ${JSON.stringify(limits.expectedKind)} is not a delta kind`,
    );
  }
}

/**
 * Checks every page record's encoding and stored length, and that the lengths sum to the payload size.
 * Returns the number of deflated pages.
 */
function checkRecords(
  view: Buffer,
  recordsAt: number,
  count: number,
  payloadBytes: number,
  indices: Uint32Array,
): number {
  let sum = 0;
  let deflated = 0;
  for (let i = 0, at = recordsAt; i < count; i++, at += PAGE_RECORD_BYTES) {
    const encoding = view[at + 4] as number;
    const length = view.readUInt16LE(at + 5);
    const index = indices[i] as number;
    if (encoding === PAGE_ENCODING.zero) {
      if (length !== 0)
        throw new WireError('bad-page-size', `zero page ${index} stores ${length} bytes; expected 0`, at + 5);
    } else if (encoding === PAGE_ENCODING.raw) {
      if (length !== PAGE_SIZE) {
        throw new WireError(
          'bad-page-size',
          `raw page ${index} stores ${length} bytes; expected ${PAGE_SIZE}`,
          at + 5,
        );
      }
    } else if (encoding === PAGE_ENCODING.deflate) {
      if (length === 0 || length >= PAGE_SIZE) {
        throw new WireError(
          'bad-page-size',
          `deflated page ${index} stores ${length} bytes; expected 1…${PAGE_SIZE - 1}`,
          at + 5,
        );
      }
      deflated++;
    } else {
      throw new WireError(
        'bad-field',
        `page ${index} has encoding ${encoding}; expected 0 (zero), 1 (raw) or 2 (deflate)`,
        at + 4,
      );
    }
    sum += length;
  }
  if (sum !== payloadBytes) {
    throw new WireError(
      'count-mismatch',
      `page records store ${sum} bytes; header declares a ${payloadBytes}-byte payload`,
      OFF.payloadBytes,
    );
  }
  return deflated;
}

/** The page records' versions (records checked). */
function readVersions(bytes: Uint8Array, recordsAt: number, count: number): Uint32Array {
  const versions = new Uint32Array(count);
  for (let i = 0, at = recordsAt; i < count; i++, at += PAGE_RECORD_BYTES) {
    versions[i] =
      (bytes[at] as number) |
      ((bytes[at + 1] as number) << 8) |
      ((bytes[at + 2] as number) << 16) |
      ((bytes[at + 3] as number) << 24);
  }
  return versions;
}

/**
 * The zero flags of pages whose records were checked and are all raw or zero, and the payload section
 * (a view, no copy) holding the raw pages back to back.
 */
function readZeroFlags(
  bytes: Uint8Array,
  recordsAt: number,
  count: number,
  payloadAt: number,
  payloadBytes: number,
): { zero: Uint8Array; payload: Uint8Array } {
  const zero = new Uint8Array(count);
  for (let i = 0, at = recordsAt + 4; i < count; i++, at += PAGE_RECORD_BYTES) {
    if (bytes[at] === PAGE_ENCODING.zero) zero[i] = 1;
  }
  return { zero, payload: new Uint8Array(bytes.buffer, bytes.byteOffset + payloadAt, payloadBytes) };
}

/** Builds the pages; records have been checked, so every stored range lies inside the payload section. */
function readPages(view: Buffer, recordsAt: number, payloadAt: number, indices: Uint32Array): DeltaPage[] {
  const pages: DeltaPage[] = new Array(indices.length);
  let payload = payloadAt;
  for (let i = 0, at = recordsAt; i < indices.length; i++, at += PAGE_RECORD_BYTES) {
    const index = indices[i] as number;
    const version = view.readUInt32LE(at);
    const encoding = view[at + 4];
    const length = view.readUInt16LE(at + 5);
    let data: Uint8Array | null = null;
    if (encoding === PAGE_ENCODING.raw) {
      data = new Uint8Array(view.buffer, view.byteOffset + payload, PAGE_SIZE);
    } else if (encoding === PAGE_ENCODING.deflate) {
      data = inflatePage(view.subarray(payload, payload + length), payload, index);
    }
    pages[i] = { index, version, data };
    payload += length;
  }
  return pages;
}
