/**
 * Unsigned LEB128 varints holding u32 values, as used by the page-run table.
 * Decoding is canonical: an over-long encoding (a final 0x00 group) or a value above 2^32 − 1 is rejected,
 * so every value has exactly one byte form and bit flips cannot hide in padding.
 */
import { WireError } from './errors.ts';
import { MAX_U32 } from './limits.ts';

/** Longest varint of a u32, bytes. */
export const MAX_VARINT_BYTES = 5;

/** Bytes needed to write `value` (a u32) as a varint: 1–5. */
export function varintLength(value: number): number {
  let n = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 128)) n++;
  return n;
}

/** Writes `value` (a u32) at `offset`; returns the offset after it. */
export function writeVarint(out: Uint8Array, offset: number, value: number): number {
  let v = value;
  let at = offset;
  while (v >= 0x80) {
    out[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[at++] = v;
  return at;
}

/** A decoded varint and the offset just after it. */
export interface VarintRead {
  /** Decoded value, 0 … 2^32 − 1. */
  value: number;
  /** Offset of the byte after the varint. */
  next: number;
}

/**
 * Reads a varint at `offset`, which must end before `end`.
 * @throws WireError `bad-field` when it runs past `end`, is over-long, or exceeds 2^32 − 1.
 */
export function readVarint(bytes: Uint8Array, offset: number, end: number, what: string): VarintRead {
  let value = 0;
  let scale = 1;
  for (let at = offset; at < end && at - offset < MAX_VARINT_BYTES; at++) {
    const byte = bytes[at] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (byte === 0 && at > offset) {
        throw new WireError('bad-field', `${what}: over-long varint (final byte 0x00)`, offset);
      }
      if (value > MAX_U32)
        throw new WireError('bad-field', `${what}: varint ${value} exceeds 2^32 - 1`, offset);
      return { value, next: at + 1 };
    }
    scale *= 128;
  }
  const why = end - offset >= MAX_VARINT_BYTES ? 'longer than 5 bytes' : 'runs past the end of its table';
  throw new WireError('bad-field', `${what}: varint ${why}`, offset);
}
