/**
 * Builds page-delta objects field by field, including invalid ones, for corpus and fuzz tests.
 * Every field can be overridden; lengths default to the sections' real sizes and the trailer to a valid
 * SHA-256, so a case can break exactly one rule and reach the check that guards it.
 */
import { HEADER_BYTES, OFF, TRAILER_BYTES } from '../../../src/wire/delta-layout.ts';
import { sealWithTrailer } from '../../../src/wire/sha256.ts';
import { writeVarint } from '../../../src/wire/varint.ts';

/** Fields of a raw object; omitted ones get valid defaults (an empty checkpoint-ram delta of VM "vm"). */
export interface RawDelta {
  magic?: string;
  version?: number;
  kind?: number;
  flags?: number;
  vmId?: string;
  vmIdLength?: number;
  epoch?: number;
  seqLow?: number;
  seqHigh?: number;
  pageCount?: number;
  runs?: Uint8Array;
  runBytes?: number;
  records?: Uint8Array;
  payload?: Uint8Array;
  payloadBytes?: number;
  blob?: Uint8Array;
  blobBytes?: number;
  /** `valid` (default) seals the object; `zero` leaves a zero trailer; `none` omits it. */
  trailer?: 'valid' | 'zero' | 'none';
}

/** Encodes runs `[start, length]` as the run table does (no checks: any values can be written). */
export function runTable(runs: readonly (readonly [number, number])[]): Uint8Array {
  const out = new Uint8Array(runs.length * 10);
  let at = 0;
  for (const [start, length] of runs) {
    at = writeVarint(out, at, start);
    at = writeVarint(out, at, length);
  }
  return out.subarray(0, at);
}

/** Page records `[version, encoding, storedLength]`. */
export function records(list: readonly (readonly [number, number, number])[]): Uint8Array {
  const out = Buffer.alloc(list.length * 7);
  list.forEach(([version, encoding, length], i) => {
    out.writeUInt32LE(version, i * 7);
    out[i * 7 + 4] = encoding;
    out.writeUInt16LE(length, i * 7 + 5);
  });
  return out;
}

/** Builds the object described by `raw`. */
export function craft(raw: RawDelta = {}): Buffer {
  const vmId = Buffer.from(raw.vmId ?? 'vm', 'latin1');
  const runs = raw.runs ?? new Uint8Array(0);
  const recs = raw.records ?? new Uint8Array(0);
  const payload = raw.payload ?? new Uint8Array(0);
  const blob = raw.blob ?? new Uint8Array(0);
  const trailer = raw.trailer ?? 'valid';
  const body = Buffer.concat([Buffer.alloc(HEADER_BYTES), vmId, runs, recs, payload, blob]);
  Buffer.from(raw.magic ?? 'CDLT', 'latin1').copy(body, OFF.magic, 0, 4);
  body[OFF.version] = raw.version ?? 1;
  body[OFF.kind] = raw.kind ?? 2;
  body[OFF.flags] = raw.flags ?? 0;
  body[OFF.vmIdLength] = raw.vmIdLength ?? vmId.length;
  body.writeUInt32LE(raw.epoch ?? 1, OFF.epoch);
  body.writeUInt32LE(raw.seqLow ?? 0, OFF.seqLow);
  body.writeUInt32LE(raw.seqHigh ?? 0, OFF.seqHigh);
  body.writeUInt32LE(raw.pageCount ?? 0, OFF.pageCount);
  body.writeUInt32LE(raw.runBytes ?? runs.length, OFF.runBytes);
  body.writeUInt32LE(raw.payloadBytes ?? payload.length, OFF.payloadBytes);
  body.writeUInt32LE(raw.blobBytes ?? blob.length, OFF.blobBytes);
  if (trailer === 'none') return body;
  const out = Buffer.concat([body, Buffer.alloc(TRAILER_BYTES)]);
  if (trailer === 'valid') sealWithTrailer(out, body.length);
  return out;
}

/** Copy of `bytes` with a fresh trailer over everything before its last 32 bytes. */
export function reseal(bytes: Uint8Array): Buffer {
  const out = Buffer.from(bytes);
  if (out.length >= TRAILER_BYTES) sealWithTrailer(out, out.length - TRAILER_BYTES);
  return out;
}
