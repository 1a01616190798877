import { hash32 } from '../rng.ts';

/**
 * Device state of epoch `epoch`: `size` bytes that are a pure function of (seed, epoch), so the
 * secondary can check that what it loads is exactly what the primary saved.
 */
export function deviceStateBytes(seed: number, epoch: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = hash32(seed, epoch, 0xde71ce) | 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
    out[i + 1] = (x >>> 8) & 0xff;
    out[i + 2] = (x >>> 16) & 0xff;
    out[i + 3] = (x >>> 24) & 0xff;
  }
  for (let i = size - (size % 4); i < size; i++) out[i] = i & 0xff;
  return out;
}
