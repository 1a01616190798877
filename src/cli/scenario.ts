import { z } from 'zod';
import { DEFAULT_CONTENT_MIX } from '../engine/memory/page-content.ts';
import { type ColoParams, DEFAULT_PARAMS, POLICY_NAMES, type PolicyName } from '../engine/params.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import type { FaultModel } from '../runtime/embedded/faults.ts';
import type { LinkParams } from '../runtime/embedded/link.ts';
import { FaultSpecError, faultModelFromObject, hasFaults, parseFaultSpec } from './fault-spec.ts';
import { parseBandwidth, parseBytes, parseDuration, UnitError } from './units.ts';

/** A size with unit (`64MiB`) or a number of bytes. */
const bytes = z.union([z.number(), z.string()]).transform((v, ctx) => convert(v, parseBytes, ctx));
/** A duration with unit (`20s`) or a number of ms. */
const duration = z.union([z.number(), z.string()]).transform((v, ctx) => convert(v, parseDuration, ctx));
/** A bandwidth with unit (`10Gbit`) or a number of bytes per second. */
const bandwidth = z.union([z.number(), z.string()]).transform((v, ctx) => convert(v, parseBandwidth, ctx));

function convert(v: number | string, parse: (s: string) => number, ctx: z.RefinementCtx): number {
  if (typeof v === 'number') return v;
  try {
    return parse(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: e instanceof UnitError ? e.message : String(e) });
    return z.NEVER;
  }
}

/** Faults: the compact `--faults` syntax as a string, or an object of the same keys (src/cli/fault-spec.ts). */
const faults = z
  .union([z.string().max(10_000), z.record(z.string(), z.unknown())])
  .transform((v, ctx): FaultModel => {
    try {
      return typeof v === 'string' ? parseFaultSpec(v) : faultModelFromObject(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof FaultSpecError ? e.message : String(e) });
      return z.NEVER;
    }
  });

const rate = z.number().finite().min(0).max(1e8);
const pages = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32);

/** Workload schema (see `src/engine/workload/spec.ts`). */
export const workloadSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('idle') }).strict(),
  z.object({ kind: z.literal('uniform'), rate }).strict(),
  z.object({ kind: z.literal('hotcold'), hotPages: pages, hotRate: rate, coldRate: rate }).strict(),
  z.object({ kind: z.literal('zipf'), rate, exponent: z.number().gt(0).max(10) }).strict(),
  z.object({ kind: z.literal('sequential'), rate }).strict(),
  z
    .object({ kind: z.literal('buffered-io'), rate, hotPages: pages.min(1), tail: z.number().min(0).max(1) })
    .strict(),
]);

/** The scenario file format (every key optional; see docs/scenarios.md). */
export const scenarioSchema = z
  .object({
    name: z.string().max(100),
    seed: z.number().int().min(0).max(0xffff_ffff),
    duration: duration.pipe(
      z
        .number()
        .gt(0)
        .max(30 * 24 * 3_600_000),
    ),
    guest: bytes.pipe(
      z
        .number()
        .int()
        .min(PAGE_SIZE)
        .max(2 ** 46)
        .refine((n) => n % PAGE_SIZE === 0, 'guest size must be a multiple of 4 KiB'),
    ),
    workload: workloadSchema,
    secondary: z
      .object({ mode: z.enum(['passive', 'running']), workload: workloadSchema.optional() })
      .strict(),
    miscompareRate: z.number().finite().min(0).max(1000),
    checkpointDelay: duration.pipe(z.number().min(1)),
    pendingCheck: duration.pipe(z.number().min(1)),
    threshold: bytes.pipe(z.number().int().min(1)),
    applyTimeout: duration.pipe(z.number().min(1)),
    checkpointTimeout: duration.pipe(z.number().min(1)),
    heartbeatInterval: duration.pipe(z.number().min(1)),
    heartbeatTimeout: duration.pipe(z.number().min(0)),
    deviceState: bytes.pipe(
      z
        .number()
        .int()
        .min(0)
        .max(1024 ** 3),
    ),
    payload: z.enum(['materialised', 'modelled']),
    bandwidth: bandwidth.pipe(z.number().gt(0).max(1e13)),
    latency: duration.pipe(z.number().min(0).max(60_000)),
    policies: z.array(z.enum(POLICY_NAMES as [PolicyName, ...PolicyName[]])).min(1),
    downtimeBudget: duration.pipe(z.number().gt(0)),
    epochCap: bytes.pipe(z.number().int().min(0)),
    maxDelta: bytes.pipe(
      z
        .number()
        .int()
        .min(4096)
        .max(1024 ** 3),
    ),
    zeroPages: z.number().min(0).max(1),
    compressiblePages: z.number().min(0).max(1),
    faults,
  })
  .partial()
  .strict();

/** A scenario as written (units as strings allowed). */
export type ScenarioInput = z.input<typeof scenarioSchema>;

/** A resolved scenario: engine parameters, link, duration and the policies to compare. */
export interface Scenario {
  /** Display name. */
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

/** A scenario that failed validation; the message lists every problem. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
}

/** Validates and resolves a scenario: `layers` are merged left to right over the default scenario. */
export function resolveScenario(...layers: unknown[]): Scenario {
  const merged: Record<string, unknown> = { ...DEFAULT_SCENARIO };
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (typeof layer !== 'object' || layer === null || Array.isArray(layer)) {
      throw new ScenarioError('a scenario must be a JSON object');
    }
    Object.assign(merged, layer);
  }
  const parsed = scenarioSchema.safeParse(merged);
  if (!parsed.success) throw new ScenarioError(`invalid scenario:\n${z.prettifyError(parsed.error)}`);
  const s = parsed.data;
  const mix = {
    zero: s.zeroPages ?? DEFAULT_CONTENT_MIX.zero,
    compressible: s.compressiblePages ?? DEFAULT_CONTENT_MIX.compressible,
  };
  if (mix.zero + mix.compressible > 1)
    throw new ScenarioError('invalid scenario: zeroPages + compressiblePages > 1');
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
      'invalid scenario: heartbeatTimeout must exceed heartbeatInterval (or be 0 to disable)',
    );
  }
  return {
    name: s.name ?? 'scenario',
    params,
    link: { bandwidthBytesPerSec: s.bandwidth ?? 1e9 / 8, latencyMs: s.latency ?? 0.1 },
    durationMs: s.duration ?? 100_000,
    policies: s.policies ?? ['none', 'fixed'],
    ...(hasFaults(s.faults) ? { faults: s.faults } : {}),
  };
}
