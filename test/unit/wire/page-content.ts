/** Deterministic page contents for wire tests: each (mode, seed) pair always yields the same bytes. */
import { PAGE_SIZE } from '../../../src/engine/protocol/delta.ts';

/** Content mixes: from free (null) to incompressible (random). */
export const PAGE_MODES = ['null', 'zeros', 'fill', 'text', 'sparse', 'half', 'random'] as const;
/** A content mix. */
export type PageMode = (typeof PAGE_MODES)[number];

/** xorshift32 stream seeded by `seed` (never 0). */
export function xorshift(seed: number): () => number {
  let x = seed | 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** `length` pseudo-random bytes from `seed`, filled a word at a time. */
export function randomBytes(seed: number, length: number): Uint8Array {
  const next = xorshift(seed);
  const words = new Uint32Array(Math.ceil(length / 4));
  for (let i = 0; i < words.length; i++) words[i] = next();
  return new Uint8Array(words.buffer, 0, length);
}

const WORDS = [
  'colo',
  'checkpoint',
  'epoch',
  'dirty',
  'page',
  'ram',
  'vmstate',
  'secondary',
  'primary',
  'cache',
];

/** A page of the given mix, or null for `null`. */
export function makePage(mode: PageMode, seed: number): Uint8Array | null {
  switch (mode) {
    case 'null':
      return null;
    case 'zeros':
      return new Uint8Array(PAGE_SIZE);
    case 'fill':
      return new Uint8Array(PAGE_SIZE).fill(seed & 0xff);
    case 'text': {
      const next = xorshift(seed);
      let text = '';
      while (text.length < PAGE_SIZE) text += `${WORDS[next() % WORDS.length]} `;
      return new TextEncoder().encode(text.slice(0, PAGE_SIZE));
    }
    case 'sparse': {
      const page = new Uint8Array(PAGE_SIZE);
      const next = xorshift(seed);
      const view = new DataView(page.buffer);
      for (let k = 0; k < 1 + (next() % 16); k++) view.setUint32((next() % (PAGE_SIZE / 4)) * 4, next());
      return page;
    }
    case 'half': {
      const page = new Uint8Array(PAGE_SIZE);
      page.set(randomBytes(seed, PAGE_SIZE / 2));
      return page;
    }
    case 'random':
      return randomBytes(seed, PAGE_SIZE);
  }
}
