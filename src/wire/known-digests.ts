/**
 * Digests already computed for an exact byte array, so that a second reader of the same object in the same
 * process does not hash it again: the encoder records what it hashed for the claim, the sealer reuses it;
 * opening a sealed object records what it hashed for the MAC, the decoder reuses it for the claim and the
 * trailer. Entries are keyed by the array object itself (a WeakMap: they go when it goes) and hold the
 * split point they were computed for. Whoever writes into bytes after they were recorded must not hand
 * them on: the digests would be stale (this package never does; a stale digest at sealing fails closed,
 * the receiver recomputes it).
 */
import type { SplitDigests } from './sha256.ts';

const known = new WeakMap<Uint8Array, SplitDigests & { bodyEnd: number; size: number }>();

/** Records the digests of `bytes` split at `bodyEnd` (as {@link splitDigests} computes them). */
export function rememberDigests(bytes: Uint8Array, bodyEnd: number, digests: SplitDigests): void {
  known.set(bytes, { ...digests, bodyEnd, size: bytes.byteLength });
}

/** The digests recorded for exactly these bytes split at `bodyEnd`, or undefined. */
export function knownDigests(bytes: Uint8Array, bodyEnd: number): SplitDigests | undefined {
  const d = known.get(bytes);
  return d && d.bodyEnd === bodyEnd && d.size === bytes.byteLength ? d : undefined;
}
