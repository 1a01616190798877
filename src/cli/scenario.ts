import { z } from 'zod';
import { DEFAULT_CONTENT_MIX } from '../engine/memory/page-content.ts';
import { type ColoParams, DEFAULT_PARAMS, POLICY_NAMES, type PolicyName } from '../engine/params.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import type { FaultModel } from '../runtime/embedded/faults.ts';
import type { LinkParams } from '../runtime/embedded/link.ts';
import { FaultSpecError, faultModelFromObject, hasFaults, parseFaultSpec } from './fault-spec.ts';
import { didYouMean } from './suggest.ts';
import { durationFlag, parseBandwidth, parseBytes, parseDuration, UnitError } from './units.ts';
import { fillWorkloadObject, WorkloadError, workloadSchema } from './workload.ts';

export { workloadSchema } from './workload.ts';

/**
 * A value with a unit: a JSON number in the base unit (bytes, ms, bytes/s) or a string with a unit
 * (src/cli/units.ts: a bare number in a string is refused like on the command line).
 */
function withUnit(parse: (s: string) => number, base: string, example: string) {
  return z.unknown().transform((v, ctx): number => {
    if (typeof v === 'number') return v;
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

const KIB = 1024;
/** A whole number of bytes between `min` and `max`. */
const bytesIn = (min: number, max: number) =>
  bytes.pipe(
    z
      .number()
      .int('must be a whole number of bytes')
      .min(min, `must be at least ${min} bytes`)
      .max(max, `must be at most ${max} bytes`),
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

const share = z.number('expected a number from 0 to 1').min(0, 'must be 0 to 1').max(1, 'must be 0 to 1');

/** The scenario file format (every key optional; see docs/report-format.md, "Scenario files"). */
export const scenarioSchema = z
  .object({
    name: z.string().max(100),
    seed: z
      .number('expected a whole number')
      .int('must be a whole number')
      .min(0, 'must be 0 or more')
      .max(0xffff_ffff, 'must be at most 4294967295'),
    duration: durationIn(0, 30 * 24 * 3_600_000, true),
    guest: bytes.pipe(
      z
        .number()
        .min(PAGE_SIZE, 'must be at least 4KiB')
        .max(2 ** 46, 'must be at most 64TiB')
        .superRefine((n, ctx) => {
          if (n < PAGE_SIZE || n % PAGE_SIZE === 0) return;
          const hint = n % 1e6 === 0 ? ' (decimal MB and GB are not: use MiB, GiB)' : '';
          ctx.addIssue({ code: 'custom', message: `${n} bytes is not a whole number of 4 KiB pages${hint}` });
        }),
    ),
    workload,
    secondary: z
      .object({
        mode: z.enum(['passive', 'running'], 'must be passive or running'),
        workload: workload.optional(),
      })
      .strict(),
    miscompareRate: z
      .number('expected a number (per second)')
      .finite()
      .min(0, 'must be 0 or more')
      .max(1000, 'must be at most 1000 per second'),
    checkpointDelay: durationIn(1, 30 * 24 * 3_600_000),
    pendingCheck: durationIn(1, 24 * 3_600_000),
    threshold: bytesIn(1, 2 ** 46),
    applyTimeout: durationIn(1, 24 * 3_600_000),
    checkpointTimeout: durationIn(1, 24 * 3_600_000),
    heartbeatInterval: durationIn(1, 24 * 3_600_000),
    heartbeatTimeout: durationIn(0, 24 * 3_600_000),
    deviceState: bytesIn(0, 1024 ** 3),
    payload: z.enum(['materialised', 'modelled'], 'must be materialised or modelled'),
    bandwidth: bandwidth.pipe(z.number().gt(0, 'must be above 0').max(1e13, 'must be at most 80Tbit/s')),
    latency: durationIn(0, 60_000),
    policies: z
      .array(
        z.enum(POLICY_NAMES as [PolicyName, ...PolicyName[]], `must be one of ${POLICY_NAMES.join(', ')}`),
      )
      .min(1, 'name at least one policy')
      .refine((a) => new Set(a).size === a.length, 'names a policy twice'),
    downtimeBudget: durationIn(0, 24 * 3_600_000, true),
    epochCap: bytesIn(0, 2 ** 46),
    maxDelta: bytesIn(4 * KIB, 1024 ** 3),
    zeroPages: share,
    compressiblePages: share,
    faults,
  })
  .partial()
  .strict();

/** A scenario as written (units as strings allowed). */
export type ScenarioInput = z.input<typeof scenarioSchema>;

/** A resolved scenario: engine parameters, link, duration and the policies to compare. */
export interface Scenario {
  /** Display name; says which keys the flags changed when they changed a named scenario. */
  name: string;
  /** Engine parameters (the `policy` field is replaced per run). */
  params: ColoParams;
  /** Modelled link. */
  link: LinkParams;
  /** Simulated time, ms. */
  durationMs: number;
  /** Policies to run, in order. */
  policies: PolicyName[];
  /** Seeded faults (`--faults`, the `faults` key), absent when none. */
  faults?: FaultModel;
}

/**
 * The default scenario `npm start` runs: a 1 GiB guest whose writes are dominated by cold first touches
 * (a small hot set plus a steady stream of pages written once), on a 1 Gbit/s link — the case the seed
 * was made for.
 */
export const DEFAULT_SCENARIO: ScenarioInput = {
  name: 'cold-dominated',
  seed: 42,
  duration: '100s',
  guest: '1GiB',
  workload: { kind: 'hotcold', hotPages: 4096, hotRate: 4000, coldRate: 2500 },
  bandwidth: '1Gbit',
  latency: '0.1ms',
  policies: ['none', 'fixed'],
};

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

/** Validates and resolves a scenario: `layers` are merged left to right over the default scenario. */
export function resolveScenario(...layers: unknown[]): Scenario {
  const merged: Record<string, unknown> = { ...DEFAULT_SCENARIO };
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
      if (!named && k !== 'name' && k !== 'policies' && JSON.stringify(merged[k]) !== JSON.stringify(v)) {
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
            return `${origin.source}: unknown key "${k}"${didYouMean(k, KEYS)}`;
          })
          .join('\n');
      }
      const where =
        key === undefined ? 'scenario' : `${label(key)}${rest.length ? ` ${rest.join('.')}` : ''}`;
      return `${where}: ${issue.message}`;
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
  const params: ColoParams = {
    ...d,
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
    deviceStateBytes: s.deviceState ?? d.deviceStateBytes,
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
    link: { bandwidthBytesPerSec: s.bandwidth ?? 1e9 / 8, latencyMs: s.latency ?? 0.1 },
    durationMs: s.duration ?? 100_000,
    policies: s.policies ?? ['none', 'fixed'],
    ...(hasFaults(s.faults) ? { faults: s.faults } : {}),
  };
}
