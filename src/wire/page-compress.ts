/**
 * Per-page raw-deflate compression, used only where it pays, and bounded decompression.
 *
 * A zlib call on a 4 KiB page costs tens of µs, and on incompressible pages (encrypted or already
 * compressed guest data) it buys nothing; so a cheap sample of the page decides first whether to try.
 */
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import { WireError } from './errors.ts';

/** A compressed page is kept only if it is at most this long, bytes (saves ≥ 1/8 of the page). */
export const MAX_USEFUL_DEFLATE_BYTES = PAGE_SIZE - PAGE_SIZE / 8;

/** Bytes sampled by {@link looksCompressible}. */
const SAMPLE_BYTES = 128;
/** A sample with more distinct byte values than this looks random (uniform bytes give ~101 of 128). */
const MAX_DISTINCT_IN_SAMPLE = 80;
/** Scratch marks for the sample: seen[b] === stamp means byte b was seen in the current sample. */
const seen = new Uint32Array(256);
let stamp = 0;

/**
 * Guesses from 128 spread-out bytes whether deflate could shrink `page` (4096 bytes) by 1/8.
 * Reads 128 bytes, not 4096: a page with near-uniform byte values is skipped without calling zlib.
 */
export function looksCompressible(page: Uint8Array): boolean {
  stamp = stamp === 0xffff_ffff ? 1 : stamp + 1;
  if (stamp === 1) seen.fill(0);
  let distinct = 0;
  const stride = PAGE_SIZE / SAMPLE_BYTES;
  for (let i = 0; i < SAMPLE_BYTES; i++) {
    // Skew each sample within its stride so word-aligned structures do not alias.
    const b = page[i * stride + ((i * 7) % stride)] as number;
    if (seen[b] !== stamp) {
      seen[b] = stamp;
      distinct++;
    }
  }
  return distinct <= MAX_DISTINCT_IN_SAMPLE;
}

/**
 * Compresses a 4096-byte page with raw deflate (level 1: speed over ratio, pages are small).
 * @returns The compressed bytes, or `null` when compression does not save at least 1/8 of the page.
 */
export function deflatePage(page: Uint8Array): Buffer | null {
  if (!looksCompressible(page)) return null;
  const packed = deflateRawSync(page, { level: constants.Z_BEST_SPEED });
  return packed.length <= MAX_USEFUL_DEFLATE_BYTES ? packed : null;
}

/**
 * Inflates one stored page; never produces more than 4096 bytes, and the page returned owns exactly a
 * 4096-byte backing store (decode memory stays proportional to the pages, not to zlib's chunk size).
 * @param offset - Offset of the stored page in the object, for error messages.
 * @throws WireError `bad-page-size` if the stream inflates to anything but 4096 bytes;
 *   `bad-compression` if it is not exactly one valid raw-deflate stream.
 */
export function inflatePage(stored: Uint8Array, offset: number, index: number): Uint8Array {
  let out: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    // chunkSize: zlib's default output chunk is 16 KiB, which a 4 KiB page would keep alive whole (4× the
    // page, per deflated page of an object); one exact page-sized chunk holds the page and nothing more.
    out = inflateRawSync(stored, {
      maxOutputLength: PAGE_SIZE,
      chunkSize: PAGE_SIZE,
      info: true,
    }) as unknown as typeof out;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new WireError('bad-page-size', `page ${index} inflates to more than ${PAGE_SIZE} bytes`, offset);
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new WireError('bad-compression', `page ${index}: invalid deflate stream (${reason})`, offset);
  }
  if (out.buffer.length !== PAGE_SIZE) {
    throw new WireError(
      'bad-page-size',
      `page ${index} inflates to ${out.buffer.length} bytes; expected ${PAGE_SIZE}`,
      offset,
    );
  }
  if (out.engine.bytesWritten !== stored.length) {
    throw new WireError(
      'bad-compression',
      `page ${index}: deflate stream ends after ${out.engine.bytesWritten} of ${stored.length} stored bytes`,
      offset,
    );
  }
  const page = new Uint8Array(out.buffer.buffer, out.buffer.byteOffset, PAGE_SIZE);
  // Never keep a larger backing store alive for one page (should zlib ever hand one back).
  return page.buffer.byteLength === PAGE_SIZE ? page : page.slice();
}
