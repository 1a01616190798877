/**
 * Fuzz: ≥ 100 000 random and mutated bodies to parseMessage. Every body must either parse to a message that
 * re-serializes and re-parses to itself, or throw a WireError `invalid-message` / `too-large`; never hang.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireError } from '../../src/wire/errors.ts';
import { parseMessage, serializeMessage } from '../../src/wire/message-schema.ts';
import { coloMessageArb } from '../unit/wire/message-arbitraries.ts';
import { Rng } from './mutate.ts';

const INPUTS = 110_000;
const SEED = 0x5eed_0004;

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

describe('parseMessage fuzz', () => {
  it(`survives ${INPUTS} random and mutated bodies`, () => {
    const rng = new Rng(SEED);
    const pool = fc.sample(coloMessageArb, { numRuns: 400, seed: SEED });
    const codes = new Map<string, number>();
    let accepted = 0;
    let slowest = 0;
    const started = performance.now();
    for (let i = 0; i < INPUTS; i++) {
      const r = rng.int(1000);
      const seed = rng.pick(pool);
      let body: string;
      if (r < 2) body = `"${'x'.repeat(256 * 1024 + rng.int(10) - 5)}"`;
      else if (r < 4)
        body = rng.chance(0.5) ? '['.repeat(rng.int(200_000)) : `${'{"a":'.repeat(rng.int(40_000))}1`;
      else if (r < 150) body = Array.from({ length: rng.int(30) }, () => rng.pick(TOKENS)).join('');
      else if (r < 200) body = JSON.stringify(seed);
      else if (r < 550) body = mutateText(rng, JSON.stringify(seed));
      else
        body = JSON.stringify(mutateObject(rng, structuredClone(seed) as unknown as Record<string, unknown>));
      const t0 = performance.now();
      try {
        const m = parseMessage(body);
        accepted++;
        expect(parseMessage(serializeMessage(m))).toEqual(m);
      } catch (error) {
        if (
          !(error instanceof WireError) ||
          (error.code !== 'invalid-message' && error.code !== 'too-large')
        ) {
          throw new Error(`body #${i} ${JSON.stringify(body.slice(0, 300))} threw ${String(error)}`);
        }
        codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
      }
      slowest = Math.max(slowest, performance.now() - t0);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `parseMessage fuzz: ${INPUTS} bodies in ${seconds.toFixed(1)} s, ${accepted} accepted, slowest ` +
        `${slowest.toFixed(1)} ms; rejections ${JSON.stringify(Object.fromEntries(codes))}`,
    );
    expect(slowest).toBeLessThan(1_000);
    expect(accepted).toBeGreaterThan(INPUTS / 20);
    expect(codes.get('too-large') ?? 0).toBeGreaterThan(0);
  });
});
