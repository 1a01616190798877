/**
 * Byte layout of a page-delta object, format version 1 (all integers little-endian).
 * docs/wire-format.md holds the same table with the meaning of every field; keep them in step.
 */
import type { DeltaKind } from '../engine/protocol/messages.ts';

/** Magic at offset 0: ASCII `CDLT` ("COLO delta"). */
export const DELTA_MAGIC = Uint8Array.of(0x43, 0x44, 0x4c, 0x54);

/** Format version this code writes and the only one it reads. */
export const DELTA_FORMAT_VERSION = 1;

/** Header field offsets, bytes from the start of the object. */
export const OFF = {
  magic: 0,
  version: 4,
  kind: 5,
  flags: 6,
  vmIdLength: 7,
  epoch: 8,
  seqLow: 12,
  seqHigh: 16,
  pageCount: 20,
  runBytes: 24,
  payloadBytes: 28,
  blobBytes: 32,
} as const;

/** Size of the fixed header, bytes; the VM id follows it. */
export const HEADER_BYTES = 36;

/** Size of the SHA-256 trailer, bytes. */
export const TRAILER_BYTES = 32;

/** Size of one page record (version u32, encoding u8, stored length u16), bytes. */
export const PAGE_RECORD_BYTES = 7;

/** Longest VM id, bytes (same bound as the message schema's pattern). */
export const MAX_VM_ID_BYTES = 63;

/** Kind byte values. 0 and 4–255 are invalid. */
export const KIND_CODES: Readonly<Record<DeltaKind, number>> = {
  'background-ram': 1,
  'checkpoint-ram': 2,
  'device-state': 3,
};

/** Kind for each valid kind byte. */
export const KINDS_BY_CODE: ReadonlyMap<number, DeltaKind> = new Map(
  Object.entries(KIND_CODES).map(([kind, code]) => [code, kind as DeltaKind]),
);

/** How a page's bytes are stored in the payload section. */
export const PAGE_ENCODING = {
  /** `data === null`: no payload bytes, stored length 0. */
  zero: 0,
  /** The 4096 bytes as they are, stored length 4096. */
  raw: 1,
  /** One raw-deflate stream (RFC 1951) that inflates to exactly 4096 bytes; stored length 1–4095. */
  deflate: 2,
} as const;

/** The high half of `seq` may not exceed this, so `seq` stays a safe integer (≤ 2^53 − 1). */
export const MAX_SEQ_HIGH = 0x1f_ffff;
