import { createHash } from 'node:crypto';

/** Bytes hashed per update, bytes. */
const DIGEST_SLICE_BYTES = 256 * 1024 * 1024;

/**
 * Digest of a memory image given as page versions (bit 31 marks a page last written by the SVM).
 * Page bytes are a pure function of (seed, page, version, author), so equal versions mean equal
 * bytes; hashing versions keeps the digest cheap for 64 GiB guests and identical in both payload modes.
 */
export function memoryDigest(seed: number, versions: Uint32Array): string {
  const h = createHash('sha256');
  const head = new Uint32Array([seed >>> 0, versions.length]);
  h.update(new Uint8Array(head.buffer));
  // In slices: one update of 2 GiB or more fails (a guest of 2 TiB has 2 GiB of versions). Same digest.
  const bytes = new Uint8Array(versions.buffer, versions.byteOffset, versions.byteLength);
  for (let at = 0; at < bytes.byteLength; at += DIGEST_SLICE_BYTES) {
    h.update(bytes.subarray(at, Math.min(bytes.byteLength, at + DIGEST_SLICE_BYTES)));
  }
  return h.digest('hex').slice(0, 32);
}

/** Bit set in a secondary page version when the SVM itself wrote the page. */
export const SVM_AUTHOR_BIT = 0x8000_0000;
