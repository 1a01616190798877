/**
 * The parseMessage fuzz input mix, shared by `message-parse.fuzz.test.ts` (behaviour) and `bench/fuzz.ts`
 * (throughput, slowest body), so the benchmark times exactly the bodies the test checks.
 */
import fc from 'fast-check';
import type { ColoMessage } from '../../src/engine/protocol/messages.ts';
import { coloMessageArb } from '../unit/wire/message-arbitraries.ts';
import type { Rng } from './mutate.ts';

/** Seed of the fuzz run (32-bit); a failure reproduces from it. */
export const MESSAGE_FUZZ_SEED = 0x5eed_0004;

/** Valid messages to mutate (400, generated from `seed`). */
export function messageSeeds(seed = MESSAGE_FUZZ_SEED): ColoMessage[] {
  return fc.sample(coloMessageArb, { numRuns: 400, seed });
}

/** JSON values that probe type, range and prototype handling. */
const ODD_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  -0.5,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  1e308,
  '',
  '1',
  'x',
  'a'.repeat(600),
  'vm-1/../x',
  'AB'.repeat(32),
  [],
  [1],
  [2, 1],
  {},
  { x: 1 },
  'background-ram',
  'delta',
  'heartbeat',
];
const ODD_KEYS = ['__proto__', 'constructor', 'prototype', 'extra', 'V', 'type ', ''];
const TOKENS = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '"type"',
  '"v"',
  '1',
  '-1',
  '0.5',
  'true',
  'null',
  '"delta"',
  ' ',
  '\\u0000',
  '1e999',
];
const CHARS = '{}[]",:0123456789-.eE truenfalsxyz\\/\u00e9\u2028\ud800';

/** Replaces, deletes or adds one field somewhere in a (nested) message object. */
function mutateObject(rng: Rng, value: Record<string, unknown>): Record<string, unknown> {
  const target = 'claim' in value && rng.chance(0.3) ? (value.claim as Record<string, unknown>) : value;
  const keys = Object.keys(target);
  const key = rng.pick(keys.length ? keys : ['v']);
  switch (rng.int(5)) {
    case 0:
      delete target[key];
      break;
    case 1:
      Object.defineProperty(target, rng.pick(ODD_KEYS), { value: rng.pick(ODD_VALUES), enumerable: true });
      break;
    case 2: {
      const v = target[key];
      if (typeof v === 'number') target[key] = rng.pick([v + 1, v - 1, -v, v * 2 ** 32, v + 0.5]);
      else if (Array.isArray(v)) target[key] = [...v].reverse().concat(v.slice(0, 1));
      else target[key] = rng.pick(ODD_VALUES);
      break;
    }
    default:
      target[key] = rng.pick(ODD_VALUES);
  }
  return value;
}

/** Applies 1–4 character edits to a body. */
function mutateText(rng: Rng, body: string): string {
  let s = body;
  for (let k = 1 + rng.int(4); k > 0; k--) {
    const at = rng.int(s.length + 1);
    const ch = CHARS[rng.int(CHARS.length)] as string;
    switch (rng.int(5)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1);
        break;
      case 1:
        s = s.slice(0, at) + ch + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + ch + s.slice(at + 1);
        break;
      case 3:
        s = s.slice(0, at) + s.slice(at, at + 1 + rng.int(20)) + s.slice(at);
        break;
      default:
        s = s.slice(0, rng.int(s.length + 1));
    }
  }
  return s;
}

/**
 * Draws the next fuzz body: 0.2 % near the 256 KiB limit, 0.2 % deeply nested, 14.6 % token soup, 5 % valid,
 * 35 % text edits of a valid body, 45 % valid JSON with one field replaced, deleted or added.
 */
export function nextMessageBody(rng: Rng, pool: readonly ColoMessage[]): string {
  const r = rng.int(1000);
  const seed = rng.pick(pool);
  if (r < 2) return `"${'x'.repeat(256 * 1024 + rng.int(10) - 5)}"`;
  if (r < 4) return rng.chance(0.5) ? '['.repeat(rng.int(200_000)) : `${'{"a":'.repeat(rng.int(40_000))}1`;
  if (r < 150) return Array.from({ length: rng.int(30) }, () => rng.pick(TOKENS)).join('');
  if (r < 200) return JSON.stringify(seed);
  if (r < 550) return mutateText(rng, JSON.stringify(seed));
  return JSON.stringify(mutateObject(rng, structuredClone(seed) as unknown as Record<string, unknown>));
}
