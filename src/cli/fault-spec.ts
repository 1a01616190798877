/**
 * The compact fault syntax of `colo run --faults SPEC` and of a scenario file's `faults` key, parsed into the
 * embedded runtime's {@link FaultModel} (src/runtime/embedded/faults.ts, which says how SQS, S3 and Lambda
 * produce each fault):
 *
 * ```text
 * lose=1%,duplicate=0.5%,delay=2%:0-300ms,put-fail=0.1%,put-stall=1%:0-2s,redelivery=1s,max-receives=5,
 * outage=primary@30s+5s,window=10s-60s,claim=10ms,seed=7
 * ```
 *
 * Probabilities are per message, as a percentage (`1%`) or a fraction (`0.01`). Durations take the units of
 * `--duration` (src/parameters/units.ts: a bare number other than 0 is refused). A range `A-B` is two durations; a unitless `A` takes the unit of `B`
 * (`0-300ms`, `1-2s`). `outage` may be given several times; every other key once. `none` (or an empty spec)
 * means no faults.
 */

import { parseDuration, UnitError } from '../parameters/units.ts';
import type { FaultModel, Outage } from '../runtime/embedded/faults.ts';

/** A fault spec that could not be parsed; the message names the key and what it allows. */
export class FaultSpecError extends Error {
  override readonly name = 'FaultSpecError';
}

/** What each key means and allows (for `--help` and error messages). */
export const FAULT_KEYS: Record<string, string> = {
  lose: 'P: a delivery attempt fails; redelivered after `redelivery`, dead-lettered after `max-receives`',
  duplicate: 'P: a message is delivered twice (the copy may trail newer messages)',
  delay: 'P[:A-B]: extra delay before delivery, uniform in A-B (default 0-500ms); order kept',
  crash: 'P: the consumer of a message is killed; it comes back after `visibility`',
  visibility: 'DURATION: the queue visibility timeout a crashed consumer waits for (default 60s)',
  'put-fail': 'P: a delta object cannot be stored; its sequence number is retired with a skip',
  'put-stall': 'P[:A-B]: storing a delta object is slow, uniform in A-B (default 0-2s)',
  'delete-fail':
    'P: the secondary cannot delete a delta object it consumed; it is left to the lifecycle rule',
  redelivery: 'DURATION: time until a failed delivery is visible again (default 1s)',
  'max-receives': 'N: deliveries of one message before it is dead-lettered, 1-100 (default 5)',
  outage: 'NODE@START+LENGTH: primary or secondary runs nothing in that window (repeatable)',
  window: 'FROM-UNTIL: message and object faults only in this window (either end may be left out)',
  claim: 'DURATION: round trip of a claim to the control document (default 10ms)',
  seed: 'N: seed of the fault draws (default: the scenario seed)',
};

/** An example for help texts and error messages. */
export const FAULT_EXAMPLE =
  'lose=1%,duplicate=0.5%,delay=2%:0-300ms,put-fail=0.1%,put-stall=1%:0-2s,outage=primary@30s+5s,seed=7';

const ALLOWED = Object.keys(FAULT_KEYS).join(', ');

function fail(key: string, text: string, why: string): never {
  throw new FaultSpecError(`${key}: "${text}" ${why} (${key}=${FAULT_KEYS[key] ?? ''})`);
}

/** `1%`, `0.5%`, `0.01` → a probability in [0, 1]. */
export function parseProbability(key: string, text: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?)\s*(%?)\s*$/i.exec(text);
  if (!m) fail(key, text, 'is not a probability: use a percentage (1%) or a fraction (0.01)');
  const p = Number(m[1]) / (m[2] === '%' ? 100 : 1);
  if (!(p >= 0 && p <= 1)) fail(key, text, 'is not a probability: it must be between 0% and 100% (0 and 1)');
  return p;
}

function duration(key: string, text: string, max = 24 * 3_600_000): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (e) {
    fail(key, text, `is not a duration: ${e instanceof UnitError ? e.message : String(e)}`);
  }
  if (!(ms >= 0 && ms <= max)) fail(key, text, `is out of range: at most ${max / 3_600_000} h`);
  return ms;
}

const UNIT = /[a-z]+\s*$/i;

/** `0-300ms`, `1-2s`, `100ms-2s` → [a, b] ms with a <= b. A unitless first end takes the second's unit. */
export function parseRange(key: string, text: string, openEnds = false): [number, number] {
  const parts = text.split('-');
  if (parts.length !== 2) fail(key, text, 'is not a range: use A-B, e.g. 0-300ms');
  const [rawA = '', rawB = ''] = parts.map((p) => p.trim());
  if (!openEnds && (rawA === '' || rawB === '')) fail(key, text, 'is not a range: use A-B, e.g. 0-300ms');
  const unitB = UNIT.exec(rawB)?.[0] ?? '';
  const b = rawB === '' ? Number.POSITIVE_INFINITY : duration(key, rawB);
  const a = rawA === '' ? 0 : duration(key, UNIT.test(rawA) ? rawA : `${rawA}${unitB}`);
  if (a > b) fail(key, text, 'is not a range: its start is after its end');
  return [a, b];
}

/** `primary@30s+5s` → an outage. */
export function parseOutage(text: string): Outage {
  const m = /^\s*(primary|secondary)\s*@\s*([^+]+)\+\s*(.+)$/.exec(text);
  if (!m) fail('outage', text, 'is not an outage: use NODE@START+LENGTH, e.g. primary@30s+5s');
  const from = duration('outage', m[2] ?? '');
  const length = duration('outage', m[3] ?? '');
  if (length <= 0) fail('outage', text, 'has no length: LENGTH must be above 0');
  return { node: m[1] as Outage['node'], from, until: from + length };
}

function probabilityWithRange(key: string, text: string): [number, [number, number] | undefined] {
  const i = text.indexOf(':');
  if (i < 0) return [parseProbability(key, text), undefined];
  return [parseProbability(key, text.slice(0, i)), parseRange(key, text.slice(i + 1))];
}

function integer(key: string, text: string, min: number, max: number): number {
  const t = text.trim();
  const n = Number(t);
  if (!/^[0-9]+$/.test(t) || n < min || n > max)
    fail(key, text, `must be a whole number from ${min} to ${max}`);
  return n;
}

/** Sets one key of `model` from its text form. @throws FaultSpecError */
function apply(model: FaultModel, key: string, value: string): void {
  switch (key) {
    case 'lose':
      model.lose = parseProbability(key, value);
      return;
    case 'duplicate':
      model.duplicate = parseProbability(key, value);
      return;
    case 'delay': {
      const [p, range] = probabilityWithRange(key, value);
      model.delay = p;
      if (range) model.delayMs = range;
      return;
    }
    case 'crash':
      model.crash = parseProbability(key, value);
      return;
    case 'visibility':
      model.visibilityMs = duration(key, value, 43_200_000);
      return;
    case 'put-fail':
      model.putFail = parseProbability(key, value);
      return;
    case 'put-stall': {
      const [p, range] = probabilityWithRange(key, value);
      model.putStall = p;
      if (range) model.putStallMs = range;
      return;
    }
    case 'delete-fail':
      model.deleteFail = parseProbability(key, value);
      return;
    case 'redelivery':
      model.redeliveryMs = duration(key, value, 3_600_000);
      if (model.redeliveryMs <= 0) fail(key, value, 'must be above 0');
      return;
    case 'max-receives':
      model.maxReceives = integer(key, value, 1, 100);
      return;
    case 'outage':
      model.outages = [...(model.outages ?? []), parseOutage(value)];
      return;
    case 'window': {
      if (value.trim() === '-') fail(key, value, 'names neither end: give FROM-UNTIL, FROM- or -UNTIL');
      const [from, until] = parseRange(key, value, true);
      if (from > 0) model.from = from;
      if (Number.isFinite(until)) model.until = until;
      if (until <= from) fail(key, value, 'is empty: FROM must be before UNTIL');
      return;
    }
    case 'claim':
      model.claimMs = duration(key, value, 3_600_000);
      return;
    case 'seed':
      model.seed = integer(key, value, 0, 0xffff_ffff);
      return;
    default:
      throw new FaultSpecError(`unknown key "${key}": use ${ALLOWED}`);
  }
}

/**
 * Parses `key=value,...` (see the module comment) into a fault model.
 *
 * @throws FaultSpecError naming the key and what it allows.
 */
export function parseFaultSpec(text: string): FaultModel {
  const model: FaultModel = {};
  const spec = text.trim();
  if (spec === '' || spec === 'none') return model;
  const seen = new Set<string>();
  for (const raw of spec.split(',')) {
    const pair = raw.trim();
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) {
      throw new FaultSpecError(`"${pair}" should be key=value, e.g. ${FAULT_EXAMPLE}`);
    }
    const key = pair.slice(0, eq).trim();
    if (key !== 'outage' && seen.has(key)) throw new FaultSpecError(`${key} is given twice`);
    seen.add(key);
    apply(model, key, pair.slice(eq + 1).trim());
  }
  return model;
}

/** Keys whose value is one duration. */
const DURATION_KEYS = new Set(['visibility', 'redelivery', 'claim']);

/**
 * The object form of a scenario file's `faults` key: the same keys, each value a string in the same syntax
 * (or a number: a probability as a fraction, a duration in ms); `outage` may be a list.
 *
 * @throws FaultSpecError naming the key and what it allows.
 */
export function faultModelFromObject(o: Record<string, unknown>): FaultModel {
  const model: FaultModel = {};
  for (const [key, value] of Object.entries(o)) {
    if (!(key in FAULT_KEYS)) throw new FaultSpecError(`unknown key "${key}": use ${ALLOWED}`);
    const values = key === 'outage' && Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v !== 'string' && typeof v !== 'number') {
        throw new FaultSpecError(`${key}: expected a string or a number (${key}=${FAULT_KEYS[key] ?? '?'})`);
      }
      // A JSON number is a fraction for a probability and ms for a duration, as everywhere in a scenario file.
      apply(model, key, typeof v === 'number' && DURATION_KEYS.has(key) ? `${v}ms` : String(v));
    }
  }
  return model;
}

/** True when the model can inject anything at all. */
export function hasFaults(model: FaultModel | undefined): boolean {
  if (!model) return false;
  const p = (x: number | undefined) => (x ?? 0) > 0;
  return (
    p(model.lose) ||
    p(model.duplicate) ||
    p(model.delay) ||
    p(model.crash) ||
    p(model.putFail) ||
    p(model.putStall) ||
    p(model.deleteFail) ||
    (model.outages?.length ?? 0) > 0
  );
}

/** Renders a model back in the compact syntax (for report headers). */
export function formatFaultSpec(model: FaultModel): string {
  const pct = (p: number) => `${+(p * 100).toPrecision(6)}%`;
  const ms = (v: number) => (v >= 1000 && v % 1000 === 0 ? `${v / 1000}s` : `${+v.toFixed(3)}ms`);
  const range = (r: [number, number]) => `${r[0] === 0 ? '0' : ms(r[0])}-${ms(r[1])}`;
  const parts: string[] = [];
  if (model.lose) parts.push(`lose=${pct(model.lose)}`);
  if (model.duplicate) parts.push(`duplicate=${pct(model.duplicate)}`);
  if (model.delay) parts.push(`delay=${pct(model.delay)}${model.delayMs ? `:${range(model.delayMs)}` : ''}`);
  if (model.crash) parts.push(`crash=${pct(model.crash)}`);
  if (model.visibilityMs !== undefined) parts.push(`visibility=${ms(model.visibilityMs)}`);
  if (model.putFail) parts.push(`put-fail=${pct(model.putFail)}`);
  if (model.putStall) {
    const r = model.putStallMs;
    parts.push(`put-stall=${pct(model.putStall)}${r ? `:${range(r)}` : ''}`);
  }
  if (model.deleteFail) parts.push(`delete-fail=${pct(model.deleteFail)}`);
  if (model.redeliveryMs !== undefined) parts.push(`redelivery=${ms(model.redeliveryMs)}`);
  if (model.maxReceives !== undefined) parts.push(`max-receives=${model.maxReceives}`);
  for (const o of model.outages ?? []) parts.push(`outage=${o.node}@${ms(o.from)}+${ms(o.until - o.from)}`);
  if (model.from !== undefined || model.until !== undefined)
    parts.push(`window=${ms(model.from ?? 0)}-${model.until !== undefined ? ms(model.until) : ''}`);
  if (model.claimMs !== undefined) parts.push(`claim=${ms(model.claimMs)}`);
  if (model.seed !== undefined) parts.push(`seed=${model.seed}`);
  return parts.length ? parts.join(',') : 'none';
}
