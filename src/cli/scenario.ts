/**
 * Scenario files: the scenario schema built from the parameter registry (src/parameters/registry.ts), and
 * the resolution of layers (defaults, a file, flags) into engine parameters, a link, a duration and the
 * policies to compare.
 */

import { z } from 'zod';
import { DEFAULT_CONTENT_MIX } from '../engine/memory/page-content.ts';
import {
  type ColoParams,
  DEFAULT_PARAMS,
  type PayloadMode,
  POLICY_NAMES,
  type PolicyName,
  type SecondaryMode,
} from '../engine/params.ts';
import type { WorkloadSpec } from '../engine/workload/spec.ts';
import { LINK_PROFILES, type LinkProfileName } from '../parameters/link-profiles.ts';
import { type Bounds, type Parameter, SCENARIO_PARAMETERS } from '../parameters/registry.ts';
import { didYouMean } from '../parameters/suggest.ts';
import {
  parsePolicyList,
  parseSecondaryText,
  parseShare,
  TextValueError,
} from '../parameters/text-values.ts';
import {
  bytesFlag,
  durationFlag,
  parseBandwidth,
  parseBytes,
  parseDuration,
  rateFlag,
  UnitError,
} from '../parameters/units.ts';
import { fillWorkloadObject, WorkloadError, workloadSchema } from '../parameters/workload.ts';
import { escapeControls } from '../runtime/cloud/text.ts';
import type { FaultModel } from '../runtime/embedded/faults.ts';
import type { Scenario } from '../runtime/report.ts';
import { FaultSpecError, faultModelFromObject, hasFaults, parseFaultSpec } from './fault-spec.ts';

export { workloadSchema } from '../parameters/workload.ts';
export type { Scenario };

/**
 * A value with a unit: a JSON number in the base unit (bytes, ms, bytes/s) or a string with a unit
 * (src/parameters/units.ts: a bare number in a string is refused like on the command line).
 */
function withUnit(parse: (s: string) => number, base: string, example: string) {
  return z.unknown().transform((v, ctx): number => {
    if (typeof v === 'number') {
      // JSON.parse reads 1e400 as Infinity.
      if (Number.isFinite(v)) return v;
      ctx.addIssue({ code: 'custom', message: `${v} ${base} is too large` });
      return z.NEVER;
    }
    if (typeof v === 'string') {
      try {
        return parse(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: e instanceof UnitError ? e.message : String(e) });
        return z.NEVER;
      }
    }
    ctx.addIssue({
      code: 'custom',
      message: `expected a number (${base}) or a string with a unit, e.g. "${example}"`,
    });
    return z.NEVER;
  });
}
const bytes = withUnit(parseBytes, 'bytes', '64MiB');
const duration = withUnit(parseDuration, 'ms', '20s');
const bandwidth = withUnit(parseBandwidth, 'bytes/s', '1Gbit');

/** A duration between `min` and `max` ms, with messages in units. */
const durationIn = (min: number, max: number, exclusiveMin = false) =>
  duration.pipe(
    (exclusiveMin
      ? z.number().gt(min, `must be above ${durationFlag(min)}`)
      : z.number().min(min, `must be at least ${durationFlag(min)}`)
    ).max(max, `must be at most ${durationFlag(max)}`),
  );

/** Why a greatest value is what it is, as a suffix of the error (registry `maxWhy`). */
const because = (why?: string) => (why ? `: ${why}` : '');

/** A whole number of bytes between `min` and `max`, in `multipleOf` steps, with messages in units. */
const bytesIn = (min: number, max: number, multipleOf?: number, maxWhy?: string) =>
  bytes.pipe(
    z
      .number()
      .min(min, `must be at least ${bytesFlag(min)}`)
      .max(max, `must be at most ${bytesFlag(max)}${because(maxWhy)}`)
      .superRefine((n, ctx) => {
        if (n < min) return;
        if (!Number.isInteger(n)) {
          ctx.addIssue({ code: 'custom', message: 'must be a whole number of bytes' });
        } else if (multipleOf !== undefined && n % multipleOf !== 0) {
          const hint = n % 1e6 === 0 ? ' (decimal MB and GB are not: use MiB, GiB)' : '';
          ctx.addIssue({
            code: 'custom',
            message: `${n} bytes is not a whole number of ${bytesFlag(multipleOf).replace('KiB', ' KiB')} pages${hint}`,
          });
        }
      }),
  );

/** A workload: an object (a kind alone takes its defaults) or the `kind:key=value` text. */
const workload = z
  .unknown()
  .transform((v, ctx) => {
    try {
      return fillWorkloadObject(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof WorkloadError ? e.message : String(e) });
      return z.NEVER;
    }
  })
  .pipe(workloadSchema);

/** Faults: the compact `--faults` syntax as a string, or an object of the same keys (src/cli/fault-spec.ts). */
const faults = z.unknown().transform((v, ctx): FaultModel => {
  try {
    if (typeof v === 'string' && v.length <= 10_000) return parseFaultSpec(v);
    if (typeof v === 'object' && v !== null && !Array.isArray(v))
      return faultModelFromObject(v as Record<string, unknown>);
    ctx.addIssue({ code: 'custom', message: 'expected a fault spec string or an object of fault keys' });
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: e instanceof FaultSpecError ? e.message : String(e) });
  }
  return z.NEVER;
});

/**
 * A value a file may also give in the flag's text form: a string is read by `read` (the command line's
 * reader), anything else passes to the schema as it is.
 */
function orText(read: (text: string) => unknown) {
  return z.unknown().transform((v, ctx) => {
    if (typeof v !== 'string') return v;
    try {
      return read(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof TextValueError ? e.message : String(e) });
      return z.NEVER;
    }
  });
}

/** The bounds of a numeric registry parameter. @throws Error when it has none (a registry bug). */
function boundsOf(p: Parameter): Bounds {
  if (!p.bounds) throw new Error(`parameter ${p.name} has no bounds`);
  return p.bounds;
}

/** The scenario-file schema of one registry parameter (src/parameters/registry.ts). */
function scenarioValue(p: Parameter): z.ZodType {
  switch (p.kind) {
    case 'duration': {
      const b = boundsOf(p);
      return durationIn(b.min, b.max, b.exclusiveMin);
    }
    case 'size': {
      const b = boundsOf(p);
      return bytesIn(b.min, b.max, p.multipleOf, p.maxWhy);
    }
    case 'rate': {
      const b = boundsOf(p);
      return bandwidth.pipe(
        (b.exclusiveMin
          ? z.number().gt(b.min, `must be above ${b.min}`)
          : z.number().min(b.min, `must be at least ${rateFlag(b.min)}`)
        ).max(b.max, `must be at most ${rateFlag(b.max)}`),
      );
    }
    case 'integer': {
      const b = boundsOf(p);
      return z
        .number('expected a whole number')
        .int('must be a whole number')
        .min(b.min, b.min === 0 ? 'must be 0 or more' : `must be at least ${b.min}`)
        .max(b.max, `must be at most ${b.max}${because(p.maxWhy)}`);
    }
    case 'number': {
      const b = boundsOf(p);
      const unit = p.unit ? ` ${p.unit}` : '';
      return z
        .number(`expected a number${p.unit ? ` (${p.unit})` : ''}`)
        .finite()
        .min(b.min, b.min === 0 ? 'must be 0 or more' : `must be at least ${b.min}${unit}`)
        .max(b.max, `must be at most ${b.max}${unit}`);
    }
    case 'fraction': {
      const b = boundsOf(p);
      const range = `must be ${b.min} to ${b.max}`;
      return orText(parseShare).pipe(
        z
          .number(`expected a number from ${b.min} to ${b.max}, or a percentage`)
          .min(b.min, range)
          .max(b.max, range),
      );
    }
    case 'enum': {
      const values = (p.values ?? []).map(String) as [string, ...string[]];
      return z.enum(values, `must be ${values.slice(0, -1).join(', ')} or ${values.at(-1)}`);
    }
    case 'policies':
      return orText((t) => parsePolicyList(t, POLICY_NAMES)).pipe(
        z
          .array(
            z.enum(
              POLICY_NAMES as [PolicyName, ...PolicyName[]],
              `must be one of ${POLICY_NAMES.join(', ')}`,
            ),
          )
          .min(1, 'name at least one policy')
          .refine((a) => new Set(a).size === a.length, 'names a policy twice'),
      );
    case 'workload':
      return workload;
    case 'secondary':
      return orText(parseSecondaryText).pipe(
        z
          .object({
            mode: z.enum(['passive', 'running'], 'must be passive or running'),
            workload: workload.optional(),
          })
          .strict(),
      );
    case 'faults':
      return faults;
    case 'text':
      return p.pattern
        ? z.string('expected a string').regex(p.pattern, `must match ${p.pattern}`)
        : z
            .string('expected a string')
            .max(100, 'must be at most 100 characters')
            // A name is printed in the run header and reports: escape sequences would reach the terminal.
            .regex(/^\P{Cc}*$/u, 'must not contain control characters');
    case 'boolean':
      return z.boolean('expected true or false');
  }
}

/** The shape of the scenario schema: one key per registry parameter a scenario sets. */
type ScenarioShape = {
  name: z.ZodString;
  vmId: z.ZodString;
  seed: z.ZodNumber;
  duration: z.ZodType<number, unknown>;
  guest: z.ZodType<number, unknown>;
  workload: typeof workload;
  secondary: z.ZodType<{ mode: SecondaryMode; workload?: WorkloadSpec | undefined }, unknown>;
  miscompareRate: z.ZodNumber;
  checkpointDelay: z.ZodType<number, unknown>;
  pendingCheck: z.ZodType<number, unknown>;
  threshold: z.ZodType<number, unknown>;
  applyTimeout: z.ZodType<number, unknown>;
  checkpointTimeout: z.ZodType<number, unknown>;
  heartbeatInterval: z.ZodType<number, unknown>;
  heartbeatTimeout: z.ZodType<number, unknown>;
  deviceState: z.ZodType<number, unknown>;
  payload: z.ZodType<PayloadMode, unknown>;
  bandwidth: z.ZodType<number, unknown>;
  latency: z.ZodType<number, unknown>;
  linkProfile: z.ZodType<LinkProfileName, unknown>;
  policies: z.ZodType<PolicyName[], unknown>;
  downtimeBudget: z.ZodType<number, unknown>;
  epochCap: z.ZodType<number, unknown>;
  maxDelta: z.ZodType<number, unknown>;
  zeroPages: z.ZodType<number, unknown>;
  compressiblePages: z.ZodType<number, unknown>;
  faults: typeof faults;
  vms: z.ZodNumber;
  vmStagger: z.ZodType<number, unknown>;
};

/**
 * The scenario file format: one key per registry parameter with a scenario spelling, every key optional
 * (docs/parameters.md; the JSON Schema is schema/scenario.schema.json).
 */
export const scenarioSchema = z
  .object(
    Object.fromEntries(
      SCENARIO_PARAMETERS.map((p) => [p.scenario as string, scenarioValue(p)]),
    ) as unknown as ScenarioShape,
  )
  .partial()
  .strict();

/** A scenario as written (units as strings allowed). */
export type ScenarioInput = z.input<typeof scenarioSchema>;

/** A scenario as validated (base units: bytes, ms, bytes/s). */
export type ScenarioValues = z.output<typeof scenarioSchema>;

/** A registry parameter's default as a scenario file writes it (text with units, numbers, lists, objects). */
function scenarioDefault(p: Parameter): unknown {
  switch (p.kind) {
    case 'integer':
    case 'number':
    case 'fraction':
      return Number(p.default);
    case 'policies':
      return String(p.default).split(',');
    case 'secondary':
      return { mode: p.default };
    default:
      return p.default;
  }
}

/**
 * The default scenario `npm start` runs — every registry default (src/parameters/registry.ts): a 1 GiB guest
 * whose writes are dominated by cold first touches (a small hot set plus a steady stream of pages written
 * once), on a 1 Gbit/s link — the case the seed was made for.
 */
export const DEFAULT_SCENARIO: Readonly<Record<string, unknown>> = Object.fromEntries(
  SCENARIO_PARAMETERS.map((p) => [p.scenario as string, scenarioDefault(p)]),
);

/** A scenario that failed validation; one line per problem, each naming the flag or key. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
}

/** Where a layer of scenario keys came from: how to name one of its keys in an error. */
export interface LayerOrigin {
  /** The layer as a whole, e.g. `scenario file x.json`. */
  source: string;
  /** One key, e.g. `--guest` or `scenario file x.json: guest`. */
  key(key: string): string;
}

const ORIGINS = new WeakMap<object, LayerOrigin>();
const DEFAULT_ORIGIN: LayerOrigin = { source: 'scenario', key: (k) => `scenario: ${k}` };

/** Marks `layer` as coming from `origin` (errors name its keys that way); returns it. */
export function withOrigin<T extends object>(layer: T, origin: LayerOrigin): T {
  ORIGINS.set(layer, origin);
  return layer;
}

/** A scenario file's layer: its keys are named `scenario file PATH: key` in errors. */
export function fileLayer(path: string, content: unknown): unknown {
  if (typeof content !== 'object' || content === null || Array.isArray(content)) {
    throw new ScenarioError(`scenario file ${path}: must be a JSON object, e.g. { "guest": "1GiB" }`);
  }
  return withOrigin(content, { source: `scenario file ${path}`, key: (k) => `scenario file ${path}: ${k}` });
}

const KEYS = Object.keys(scenarioSchema.shape);

/**
 * Whether two values of scenario key `key` mean the same (`"1GiB"` and 1073741824), so that a flag giving
 * the default is not listed as a change; values that do not parse are compared as written.
 */
function sameValue(key: string, a: unknown, b: unknown): boolean {
  const shape = scenarioSchema.shape as Record<string, z.ZodType>;
  const schema = Object.hasOwn(shape, key) ? shape[key] : undefined;
  const pa = schema?.safeParse(a);
  const pb = schema?.safeParse(b);
  if (pa?.success && pb?.success) return JSON.stringify(pa.data) === JSON.stringify(pb.data);
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Validates and resolves a scenario: `layers` are merged left to right over the default scenario. */
export function resolveScenario(...layers: unknown[]): Scenario {
  // No prototype: a file's own "__proto__" key (JSON.parse makes one) stays a key, refused as unknown,
  // instead of replacing the prototype and passing unseen.
  const merged: Record<string, unknown> = Object.assign(Object.create(null), DEFAULT_SCENARIO);
  const from = new Map<string, LayerOrigin>();
  let name = String(DEFAULT_SCENARIO.name);
  const changed: string[] = [];
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (typeof layer !== 'object' || layer === null || Array.isArray(layer)) {
      throw new ScenarioError('a scenario must be a JSON object');
    }
    const origin = ORIGINS.get(layer) ?? DEFAULT_ORIGIN;
    const values = layer as Record<string, unknown>;
    const named = typeof values.name === 'string';
    if (named) {
      name = values.name as string;
      changed.length = 0;
    }
    for (const [k, v] of Object.entries(values)) {
      from.set(k, origin);
      // A layer that names the scenario defines it; later layers change it.
      if (!named && k !== 'name' && k !== 'policies' && !sameValue(k, merged[k], v)) {
        changed.push(origin.source === 'flags' ? origin.key(k) : k);
      }
      merged[k] = v;
    }
  }
  const label = (k: string) => (from.get(k) ?? DEFAULT_ORIGIN).key(k);
  const parsed = scenarioSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const [key, ...rest] = issue.path.map(String);
      if (issue.code === 'unrecognized_keys') {
        return issue.keys
          .map((k) => {
            const origin = from.get(k) ?? DEFAULT_ORIGIN;
            return escapeControls(`${origin.source}: unknown key "${k}"${didYouMean(k, KEYS)}`);
          })
          .join('\n');
      }
      const where =
        key === undefined ? 'scenario' : `${label(key)}${rest.length ? ` ${rest.join('.')}` : ''}`;
      // One problem per line: a value quoted in it keeps its newlines and escapes as text.
      return escapeControls(`${where}: ${issue.message}`);
    });
    throw new ScenarioError(lines.join('\n'));
  }
  const s = parsed.data;
  const mix = {
    zero: s.zeroPages ?? DEFAULT_CONTENT_MIX.zero,
    compressible: s.compressiblePages ?? DEFAULT_CONTENT_MIX.compressible,
  };
  if (mix.zero + mix.compressible > 1) {
    throw new ScenarioError(`${label('compressiblePages')}: zeroPages + compressiblePages must be at most 1`);
  }
  const d = DEFAULT_PARAMS;
  const profile = s.linkProfile && s.linkProfile !== 'none' ? LINK_PROFILES[s.linkProfile] : undefined;
  // A profile replaces the defaults of what it covers; a value a layer sets still wins.
  const fromProfile = <T>(key: string, own: T, value: T | undefined): T =>
    profile && !from.has(key) && value !== undefined ? value : own;
  const params: ColoParams = {
    ...d,
    vmId: s.vmId ?? d.vmId,
    seed: s.seed ?? d.seed,
    guestBytes: s.guest ?? d.guestBytes,
    contentMix: mix,
    workload: s.workload ?? d.workload,
    secondaryMode: s.secondary?.mode ?? d.secondaryMode,
    secondaryWorkload: s.secondary?.workload ?? d.secondaryWorkload,
    miscompareRatePerSec: s.miscompareRate ?? d.miscompareRatePerSec,
    checkpointDelayMs: s.checkpointDelay ?? d.checkpointDelayMs,
    pendingCheckIntervalMs: s.pendingCheck ?? d.pendingCheckIntervalMs,
    thresholdBytes: s.threshold ?? d.thresholdBytes,
    applyTimeoutMs: s.applyTimeout ?? d.applyTimeoutMs,
    checkpointTimeoutMs: s.checkpointTimeout ?? d.checkpointTimeoutMs,
    heartbeatIntervalMs: s.heartbeatInterval ?? d.heartbeatIntervalMs,
    heartbeatTimeoutMs: s.heartbeatTimeout ?? d.heartbeatTimeoutMs,
    deviceStateBytes: fromProfile(
      'deviceState',
      s.deviceState ?? d.deviceStateBytes,
      profile?.deviceStateBytes,
    ),
    costs: profile?.costs ?? d.costs,
    payload: s.payload ?? d.payload,
    downtimeBudgetMs: s.downtimeBudget ?? d.downtimeBudgetMs,
    epochCapBytes: s.epochCap ?? d.epochCapBytes,
    maxDeltaBytes: s.maxDelta ?? d.maxDeltaBytes,
  };
  if (params.heartbeatTimeoutMs > 0 && params.heartbeatTimeoutMs <= params.heartbeatIntervalMs) {
    throw new ScenarioError(
      `${label(from.has('heartbeatTimeout') ? 'heartbeatTimeout' : 'heartbeatInterval')}: the heartbeat timeout ` +
        `(${durationFlag(params.heartbeatTimeoutMs)}) must exceed the heartbeat interval ` +
        `(${durationFlag(params.heartbeatIntervalMs)}), or be 0 to never fail over on silence`,
    );
  }
  return {
    name: changed.length ? `${name} (changed: ${[...new Set(changed)].join(', ')})` : name,
    params,
    link: {
      bandwidthBytesPerSec: fromProfile('bandwidth', s.bandwidth ?? 1e9 / 8, profile?.bandwidthBytesPerSec),
      latencyMs: fromProfile('latency', s.latency ?? 0.1, profile?.latencyMs),
    },
    durationMs: s.duration ?? 100_000,
    policies: s.policies ?? ['none', 'fixed'],
    ...(hasFaults(s.faults) ? { faults: s.faults } : {}),
    ...((s.vms ?? 1) > 1 ? { fleet: { vms: s.vms ?? 1, staggerMs: s.vmStagger ?? 0 } } : {}),
  };
}
