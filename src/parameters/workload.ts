/**
 * Workloads as people write them: `kind[:key=value,...]` on the command line (`--workload`, `--secondary
 * running/…`), in a scenario file's `workload` object, in the stack's `workload` context and the functions'
 * `WORKLOAD` variable. One table of kinds, keys, units and defaults; a kind alone takes its defaults.
 */
import { z } from 'zod';
import { DEFAULT_PARAMS } from '../engine/params.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import { WORKLOAD_KINDS, type WorkloadSpec } from '../engine/workload/spec.ts';
import { didYouMean } from './suggest.ts';
import { parseBandwidth, parseBytes, UnitError } from './units.ts';

/** A workload text or object that could not be read; the message names the key and what it takes. */
export class WorkloadError extends Error {
  override readonly name = 'WorkloadError';
}

/** A workload kind name. */
export type WorkloadKind = WorkloadSpec['kind'];

/** How a workload key's value is written. */
type KeyUnit = 'pages' | 'pages/s' | 'fraction' | 'number';

/** Kinds, what they model, and their keys with units (for `--help`, errors and the README). */
export const WORKLOAD_DOCS: Readonly<
  Record<WorkloadKind, { what: string; keys: Record<string, { unit: KeyUnit; what: string }> }>
> = {
  idle: { what: 'no writes at all', keys: {} },
  uniform: {
    what: 'writes spread evenly over all of RAM',
    keys: { rate: { unit: 'pages/s', what: 'writes' } },
  },
  hotcold: {
    what: 'a hot set rewritten constantly plus cold pages each written once',
    keys: {
      hotPages: { unit: 'pages', what: 'hot set (the lowest pages)' },
      hotRate: { unit: 'pages/s', what: 'writes into the hot set' },
      coldRate: { unit: 'pages/s', what: 'first touches of cold pages' },
    },
  },
  zipf: {
    what: 'a few pages get most writes',
    keys: {
      rate: { unit: 'pages/s', what: 'writes' },
      exponent: { unit: 'number', what: 'Zipf exponent, > 0 (1 is classic)' },
    },
  },
  sequential: {
    what: 'a stream through RAM, wrapping at the end (spanPages: loop a region, fio-like)',
    keys: {
      rate: { unit: 'pages/s', what: 'pages written' },
      spanPages: { unit: 'pages', what: 'looped region, e.g. a file’s page cache (default: all of RAM)' },
    },
  },
  'buffered-io': {
    what: 'a page cache rewritten constantly, with a thin uniform tail',
    keys: {
      rate: { unit: 'pages/s', what: 'writes' },
      hotPages: { unit: 'pages', what: 'page-cache hot set' },
      tail: { unit: 'fraction', what: 'share of writes outside the hot set, 0-1 or %' },
    },
  },
};

/** What a kind alone means (pages/s of guest time; hot sets in pages): the same for flags, files and the stack. */
export const DEFAULT_WORKLOADS: Readonly<Record<WorkloadKind, WorkloadSpec>> = {
  idle: { kind: 'idle' },
  uniform: { kind: 'uniform', rate: 2000 },
  hotcold: DEFAULT_PARAMS.workload,
  zipf: { kind: 'zipf', rate: 4000, exponent: 1 },
  sequential: { kind: 'sequential', rate: 4000 },
  'buffered-io': { kind: 'buffered-io', rate: 8000, hotPages: 2048, tail: 0.05 },
};

const rate = z
  .number('expected a number of pages/s')
  .finite()
  .min(0, 'must be 0 or more pages/s')
  .max(1e8, 'must be at most 100000000 pages/s');
const pages = z
  .number('expected a number of pages')
  .int('must be a whole number of pages')
  .min(0, 'must be 0 or more pages')
  .max(2 ** 32, 'must be at most 2^32 pages');

/** Validation of a complete workload (engine ranges). */
export const workloadSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('idle') }).strict(),
  z.object({ kind: z.literal('uniform'), rate }).strict(),
  z.object({ kind: z.literal('hotcold'), hotPages: pages, hotRate: rate, coldRate: rate }).strict(),
  z
    .object({
      kind: z.literal('zipf'),
      rate,
      exponent: z.number('expected a number').gt(0, 'must be above 0').max(10, 'must be at most 10'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('sequential'),
      rate,
      spanPages: pages.min(1, 'must be at least 1 page').optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('buffered-io'),
      rate,
      hotPages: pages.min(1, 'must be at least 1 page'),
      tail: z.number('expected a fraction').min(0, 'must be 0 to 1').max(1, 'must be 0 to 1'),
    })
    .strict(),
]);

function isKind(k: unknown): k is WorkloadKind {
  return typeof k === 'string' && (WORKLOAD_KINDS as readonly string[]).includes(k);
}

function unknownKind(kind: unknown): WorkloadError {
  const k = String(kind);
  return new WorkloadError(
    `unknown workload kind "${k}"${didYouMean(k, WORKLOAD_KINDS)}: use ${WORKLOAD_KINDS.join(', ')}`,
  );
}

function keysOf(kind: WorkloadKind): string {
  const keys = Object.entries(WORKLOAD_DOCS[kind].keys).map(([k, d]) => `${k} (${d.unit})`);
  return keys.length ? `its keys are ${keys.join(', ')}` : 'it has no keys';
}

/** One key's value from text: pages or a size, pages/s or a byte rate, a fraction or a percentage. */
function keyValue(kind: WorkloadKind, key: string, text: string): number {
  const doc = WORKLOAD_DOCS[kind].keys[key];
  if (!doc)
    throw new WorkloadError(
      `${kind} has no key "${key}"${didYouMean(key, Object.keys(WORKLOAD_DOCS[kind].keys))}: ${keysOf(kind)}`,
    );
  const t = text.trim();
  const plain = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(t) ? Number(t) : undefined;
  try {
    switch (doc.unit) {
      case 'pages': {
        if (plain !== undefined) return plain;
        const pagesOf = parseBytes(t) / PAGE_SIZE;
        if (!Number.isInteger(pagesOf)) throw new UnitError(`"${t}" is not a whole number of 4 KiB pages`);
        return pagesOf;
      }
      case 'pages/s': {
        if (plain !== undefined) return plain;
        const perSec = /^(.*)\/s$/.exec(t)?.[1]?.trim();
        if (perSec !== undefined && /^[0-9.eE+]+$/.test(perSec) && Number.isFinite(Number(perSec)))
          return Number(perSec);
        return parseBandwidth(t) / PAGE_SIZE;
      }
      case 'fraction': {
        const pct = /^([0-9.]+)\s*%$/.exec(t);
        if (pct && Number.isFinite(Number(pct[1]))) return Number(pct[1]) / 100;
        if (plain !== undefined) return plain;
        throw new UnitError(`"${t}" is not a fraction: use 0.05 or 5%`);
      }
      case 'number':
        if (plain !== undefined) return plain;
        throw new UnitError(`"${t}" is ${/^-\s*[0-9.]/.test(t) ? 'negative' : 'not a number'}`);
    }
  } catch (e) {
    if (e instanceof UnitError) {
      const takes =
        doc.unit === 'pages'
          ? 'pages, or a size such as 16MiB'
          : doc.unit === 'pages/s'
            ? 'pages/s, or a rate such as 40MiB/s'
            : doc.unit;
      throw new WorkloadError(`${key}: ${e.message} (${key} takes ${takes})`);
    }
    throw e;
  }
}

/**
 * Parses `kind[:key=value,...]`: the kind's {@link DEFAULT_WORKLOADS} with the given keys replaced, e.g.
 * `hotcold:hotPages=16MiB,coldRate=2500`. Page keys take pages or a size, rate keys pages/s or a byte
 * rate (`40MiB/s`), `tail` a fraction or a percentage. Ranges are checked by {@link workloadSchema}.
 *
 * @throws WorkloadError naming the key and what it takes.
 */
export function parseWorkloadText(text: string): Record<string, unknown> {
  const t = text.trim();
  const colon = t.indexOf(':');
  const kind = (colon < 0 ? t : t.slice(0, colon)).trim();
  if (!isKind(kind)) throw unknownKind(kind);
  const out: Record<string, unknown> = { ...DEFAULT_WORKLOADS[kind] };
  const rest = colon < 0 ? '' : t.slice(colon + 1);
  if (colon >= 0 && rest.trim() === '')
    throw new WorkloadError(`"${t}": nothing after "${kind}:"; ${keysOf(kind)}`);
  const seen = new Set<string>();
  for (const pair of rest === '' ? [] : rest.split(',')) {
    const eq = pair.indexOf('=');
    const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    if (eq <= 0 || value.trim() === '')
      throw new WorkloadError(`"${pair.trim()}" should be key=value; ${kind}: ${keysOf(kind)}`);
    if (seen.has(key)) throw new WorkloadError(`${key} is given twice`);
    seen.add(key);
    out[key] = keyValue(kind, key, value);
  }
  return out;
}

/**
 * A scenario file's workload object with the kind's defaults filled in (`{ "kind": "uniform" }` is
 * uniform at 2 000 pages/s); string values take the units {@link parseWorkloadText} takes. Anything that
 * is not such an object is returned as it is, for the schema to refuse.
 *
 * @throws WorkloadError for an unknown kind or key, or a value that cannot be read.
 */
export function fillWorkloadObject(value: unknown): unknown {
  if (typeof value === 'string') return parseWorkloadText(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const o = value as Record<string, unknown>;
  if (!isKind(o.kind)) throw unknownKind(o.kind);
  const kind = o.kind;
  const out: Record<string, unknown> = { ...DEFAULT_WORKLOADS[kind] };
  for (const [key, v] of Object.entries(o)) {
    if (key === 'kind') continue;
    if (!(key in WORKLOAD_DOCS[kind].keys))
      throw new WorkloadError(
        `${kind} has no key "${key}"${didYouMean(key, Object.keys(WORKLOAD_DOCS[kind].keys))}: ${keysOf(kind)}`,
      );
    out[key] = typeof v === 'string' ? keyValue(kind, key, v) : v;
  }
  return out;
}

/** A workload on one line for report headers: `hotcold (hotPages=4096, hotRate=4000/s, coldRate=2500/s)`. */
export function formatWorkload(w: WorkloadSpec): string {
  const docs = WORKLOAD_DOCS[w.kind].keys;
  const parts = Object.entries(w)
    .filter(([k]) => k !== 'kind')
    .map(([k, v]) => `${k}=${v}${docs[k]?.unit === 'pages/s' ? '/s' : ''}`);
  return parts.length ? `${w.kind} (${parts.join(', ')})` : w.kind;
}

/** Help lines: every kind, what it models, its keys with units and defaults. */
export function workloadHelp(): string[] {
  return WORKLOAD_KINDS.flatMap((kind) => {
    const d = DEFAULT_WORKLOADS[kind] as unknown as Record<string, number>;
    // An optional key without a default (sequential's spanPages) is named in the kind's line instead.
    const keys = Object.entries(WORKLOAD_DOCS[kind].keys)
      .filter(([k]) => d[k] !== undefined)
      .map(([k, doc]) => `${k}=${d[k]}${doc.unit === 'pages/s' ? '/s' : ''}`);
    const head = `  ${kind.padEnd(12)} ${WORKLOAD_DOCS[kind].what}`;
    return keys.length ? [head, `  ${''.padEnd(12)} ${kind}:${keys.join(',')}`] : [head];
  });
}

/** The kinds, comma-separated, for messages. */
export const WORKLOAD_KINDS_TEXT = WORKLOAD_KINDS.join(', ');

/**
 * Parses and validates a workload text (`hotcold`, `zipf:rate=4000,exponent=1.1`) into a workload: the
 * kind's defaults with the given keys replaced, ranges checked.
 *
 * @throws WorkloadError naming the key and what is wrong.
 */
export function parseWorkloadSpec(text: string): WorkloadSpec {
  const parsed = workloadSchema.safeParse(parseWorkloadText(text));
  if (!parsed.success) {
    throw new WorkloadError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  return parsed.data as WorkloadSpec;
}

/**
 * A workload as the text {@link parseWorkloadSpec} reads back: the kind alone when it has the kind's
 * defaults, else `kind:key=value,…` with every key (`hotcold:hotPages=4096,hotRate=4000,coldRate=2500`).
 */
export function formatWorkloadText(w: WorkloadSpec): string {
  if (JSON.stringify(w) === JSON.stringify(DEFAULT_WORKLOADS[w.kind])) return w.kind;
  const parts = Object.entries(w)
    .filter(([k, v]) => k !== 'kind' && v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return parts.length ? `${w.kind}:${parts.join(',')}` : w.kind;
}

/**
 * True when two workload texts run the same guest writes (`hotcold` and its defaults spelled out are one
 * workload); texts that do not parse compare as written.
 */
export function sameWorkload(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return JSON.stringify(parseWorkloadSpec(a)) === JSON.stringify(parseWorkloadSpec(b));
  } catch {
    return false;
  }
}
