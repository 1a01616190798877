/**
 * Structure-aware mutation of JSON values and texts, shared by the fuzz tests of the JSON decoders (Lambda
 * events, tick messages, the control, timer, armed-faults and log documents). Deterministic: everything is
 * drawn from an {@link Rng}, so a failure reproduces from its seed.
 */
import type { Rng } from './mutate.ts';

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Values that probe type, range, prototype and pattern handling. */
export const ODD_VALUES: readonly Json[] = [
  null,
  true,
  false,
  0,
  -0,
  -1,
  1,
  1.5,
  -0.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1e308,
  5e-324,
  '',
  ' ',
  '0',
  '1',
  '-1',
  'NaN',
  'Infinity',
  'x',
  'a'.repeat(300),
  'a'.repeat(5000),
  'vm-0',
  'VM 0',
  'vm-0/../x',
  '\u0000',
  '\ud800',
  'é\u2028',
  'constructor',
  '__proto__',
  'toString',
  'aws:sqs',
  'primary',
  'secondary',
  [],
  [1],
  [null],
  [[[]]],
  {},
  { x: 1 },
  { $num: 'NaN' },
];

const ODD_NUMBERS = ODD_VALUES.filter((v) => typeof v === 'number');
const ODD_STRINGS = ODD_VALUES.filter((v) => typeof v === 'string');

/** Keys that probe prototype handling and strict schemas. */
export const ODD_KEYS: readonly string[] = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'extra',
  '',
  ' ',
  '$num',
  '$u32',
  'v ',
];

/** Characters the text mutator inserts: JSON punctuation, digits, escapes, lone surrogates. */
const CHARS = '{}[]",:0123456789-+.eE truenfalsxyz\\/\u00e9\u2028\ud800\u0000';

/** JSON tokens of the token-soup generator. */
const TOKENS = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '""',
  '"v"',
  '"x"',
  '1',
  '-1',
  '0.5',
  '1e999',
  'true',
  'false',
  'null',
  ' ',
  '\\u0000',
  '"\\ud800"',
];

/** A deep copy of a JSON value (plain objects, arrays and primitives only; cheaper than structuredClone). */
export function cloneJson(value: Json): Json {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(cloneJson);
  const out: { [key: string]: Json } = {};
  for (const k of Object.keys(value)) defineKey(out, k, cloneJson(value[k] as Json));
  return out;
}

/** Sets `key` as an own, enumerable property (also `__proto__`, which plain assignment would not create). */
export function defineKey(o: { [key: string]: Json }, key: string, value: Json): void {
  if (key !== '__proto__') o[key] = value;
  else Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A copy of one of {@link ODD_VALUES} (a copy: later edits of the tree must not change the list). */
export function odd(rng: Rng): Json {
  return cloneJson(rng.pick(ODD_VALUES));
}

type Container = Json[] | { [key: string]: Json };

function isContainer(v: Json | undefined): v is Container {
  return v !== null && typeof v === 'object';
}

/** A shallow copy of a container (own keys kept, `__proto__` included). */
function shallow(c: Container): Container {
  if (Array.isArray(c)) return c.slice();
  const out: { [key: string]: Json } = {};
  for (const k of Object.keys(c)) defineKey(out, k, c[k] as Json);
  return out;
}

/**
 * Copies the path from `root` down to a random container (stopping at each level with probability 0.3):
 * returns the new root and the copied container, which may be edited in place — nothing of `root` is.
 */
function copyPath(rng: Rng, root: Container): { root: Container; target: Container } {
  const top = shallow(root);
  let cur = top;
  for (;;) {
    const keys = (Array.isArray(cur) ? cur.map((_, i) => i) : Object.keys(cur)).filter((k) =>
      isContainer((cur as Record<string | number, Json>)[k]),
    );
    if (keys.length === 0 || rng.chance(0.3)) return { root: top, target: cur };
    const k = rng.pick(keys);
    const child = shallow((cur as Record<string | number, Json>)[k] as Container);
    if (Array.isArray(cur)) cur[k as number] = child;
    else defineKey(cur, k as string, child);
    cur = child;
  }
}

/** A random JSON value of depth at most `depth` (structure-aware generation from scratch). */
export function randomJson(rng: Rng, depth = 3): Json {
  const r = rng.int(depth > 0 ? 10 : 6);
  switch (r) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.int(10) : rng.pick(ODD_NUMBERS);
    case 3:
    case 4:
      return rng.pick(ODD_STRINGS);
    case 5:
      return odd(rng);
    case 6:
    case 7:
      return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth - 1));
    default: {
      const o: { [key: string]: Json } = {};
      for (let n = rng.int(4); n > 0; n--) {
        defineKey(
          o,
          rng.chance(0.7) ? rng.pick(['v', 'x', 'type', 'source', 'vmId']) : rng.pick(ODD_KEYS),
          randomJson(rng, depth - 1),
        );
      }
      return o;
    }
  }
}

/** A value of the same kind as `v`, nudged: numbers ±1, ×2³², halves; strings cut, grown or case-changed. */
function nudge(rng: Rng, v: Json): Json {
  if (typeof v === 'number') return rng.pick([v + 1, v - 1, -v, v * 2 ** 32, v + 0.5, v / 3, 0]);
  if (typeof v === 'string') {
    return rng.pick([
      v.slice(0, rng.int(v.length + 1)),
      v + v,
      v.toUpperCase(),
      ` ${v}`,
      `${v}-x`,
      `${v}\u0000`,
    ]);
  }
  if (typeof v === 'boolean') return !v;
  if (Array.isArray(v)) return rng.chance(0.5) ? v.slice(0, rng.int(v.length + 1)) : [...v, ...v.slice(0, 2)];
  return v;
}

/**
 * Applies 1–3 structural edits to `value`, copying only the path to each edit (`value` itself and the
 * values spliced in are never changed, so they may be shared): delete a field or element, add an odd key, replace a
 * value with an odd one, a random one or one of another field (type confusion), nudge a value, duplicate or
 * truncate an array, wrap a value in an array or object.
 *
 * @param pool - Values to splice in from valid inputs (so mutations stay close to the grammar).
 */
export function mutateJson(rng: Rng, value: Json, pool: readonly Json[] = []): Json {
  let root = value;
  for (let ops = 1 + rng.int(3); ops > 0; ops--) {
    if (!isContainer(root) || rng.chance(0.03)) {
      root = rng.chance(0.5) ? randomJson(rng) : [root];
      continue;
    }
    const path = copyPath(rng, root);
    root = path.root;
    const target = path.target;
    const keys = Array.isArray(target) ? target.map((_, i) => String(i)) : Object.keys(target);
    const key = keys.length > 0 ? rng.pick(keys) : undefined;
    const get = (): Json => (key === undefined ? null : ((target as Record<string, Json>)[key] ?? null));
    const set = (v: Json): void => {
      if (key === undefined) return;
      if (Array.isArray(target)) target[Number(key)] = v;
      else defineKey(target, key, v);
    };
    switch (rng.int(9)) {
      case 0:
        if (key !== undefined) {
          if (Array.isArray(target)) target.splice(Number(key), 1);
          else delete target[key];
        }
        break;
      case 1:
        if (Array.isArray(target)) target.push(odd(rng));
        else defineKey(target, rng.pick(ODD_KEYS), rng.chance(0.5) ? odd(rng) : randomJson(rng, 2));
        break;
      case 2:
        set(odd(rng));
        break;
      case 3:
        set(randomJson(rng, 2));
        break;
      case 4:
        set(pool.length > 0 ? rng.pick(pool) : randomJson(rng, 2));
        break;
      case 5:
      case 6:
        set(nudge(rng, get()));
        break;
      case 7:
        set(rng.chance(0.5) ? [get()] : { v: get() });
        break;
      default: {
        // Another field's value (type confusion within the same object).
        const other = key === undefined ? undefined : (target as Record<string, Json>)[rng.pick(keys)];
        if (other !== undefined) set(other);
      }
    }
  }
  return root;
}

/** Applies 1–4 character edits (delete, insert, replace, duplicate a run, truncate) to a text. */
export function mutateText(rng: Rng, text: string): string {
  let s = text;
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

/** Up to 30 random JSON tokens run together (mostly not JSON; sometimes a scalar, array or object). */
export function tokenSoup(rng: Rng): string {
  return Array.from({ length: rng.int(30) }, () => rng.pick(TOKENS)).join('');
}

/** A hostile text: deeply nested arrays or objects (up to 100 000 levels), or a long string. */
export function hostileText(rng: Rng): string {
  switch (rng.int(3)) {
    case 0:
      return '['.repeat(rng.int(100_000)) + ']'.repeat(rng.chance(0.5) ? 0 : 100_000);
    case 1: {
      const n = rng.int(20_000);
      return `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    }
    default:
      return JSON.stringify({ v: 1, x: 'x'.repeat(200_000 + rng.int(100_000)) });
  }
}

/**
 * Draws a text input for a JSON-text decoder from valid `seeds`: 0.3 % hostile, 8.7 % token soup, 10 %
 * valid, 31 % character edits of a valid text, 50 % a valid value with structural edits.
 */
export function nextJsonText(rng: Rng, seeds: readonly Json[]): string {
  const r = rng.int(1000);
  const seed = rng.pick(seeds);
  if (r < 3) return hostileText(rng);
  if (r < 90) return tokenSoup(rng);
  if (r < 190) return JSON.stringify(seed);
  if (r < 500) return mutateText(rng, JSON.stringify(seed));
  return JSON.stringify(mutateJson(rng, seed, seeds));
}

/**
 * Draws a JSON value (a Lambda event as the runtime hands it over, already parsed) from valid `seeds`:
 * 0.5 % deeply nested (up to 20 000 levels), 9.5 % random values, 10 % valid, 80 % a valid value with structural edits.
 */
export function nextJsonValue(rng: Rng, seeds: readonly Json[]): Json {
  const r = rng.int(200);
  if (r < 1) {
    let deep: Json = 1;
    for (let i = rng.int(20_000); i > 0; i--) deep = rng.chance(0.5) ? [deep] : { a: deep };
    const host = cloneJson(rng.pick(seeds));
    return host !== null && typeof host === 'object' && !Array.isArray(host) ? { ...host, deep } : deep;
  }
  if (r < 20) return randomJson(rng, 4);
  if (r < 40) return cloneJson(rng.pick(seeds));
  return mutateJson(rng, rng.pick(seeds), seeds);
}
