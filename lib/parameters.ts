/**
 * Stack parameters: read from CDK context (`cdk.json` or `-c key=value`), defaulted, and validated with an
 * error that names the key, the accepted range and the value given.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { VM_ID_PATTERN } from '../lambda/adapters/contract.ts';
import { workloadFromEnv } from '../lambda/handlers/lib/workload.ts';
import { WORKLOAD_KINDS } from '../src/engine/workload/spec.ts';

/** Background-migration policies the engine knows. */
export const POLICIES = ['none', 'fixed', 'adaptive'] as const;

/** Guest page size, bytes; guest RAM must be a whole number of pages. */
const PAGE_BYTES = 4096;

/** Every stack parameter. Times in ms, sizes in bytes, unless the name says otherwise. */
export interface ColoParameters {
  /** VM id: FIFO message group, key segment (`[a-z0-9][a-z0-9-]{0,62}`, the wire format's rule). Default `vm-0`. */
  vmId: string;
  /** Seed of workloads and page contents (integer ≥ 0). Default 1. */
  seed: number;
  /** Checkpoint timer period (QEMU `x-checkpoint-delay`), ms, 1 000…3 600 000. Default 20 000. */
  checkpointDelayMs: number;
  /** Pending-RAM check period (the seed's timer), ms, 1 000…3 600 000. Default 1 000. */
  pendingCheckIntervalMs: number;
  /** Pending dirty RAM that triggers a background round, bytes (integer ≥ 0). Default 104 857 600. */
  thresholdBytes: number;
  /** Secondary apply deadline, ms, 100…840 000 (the function timeout is set above it). Default 5 000. */
  applyTimeoutMs: number;
  /** Guest RAM, bytes: a positive multiple of 4 096, at most 2^40. Default 67 108 864 (64 MiB). */
  guestBytes: number;
  /**
   * Workload: a kind (one of the engine's `WORKLOAD_KINDS`, with the handlers' default rates), or
   * `kind:key=value,…` overriding some of them (pages/s of guest time, hot sets in pages), e.g.
   * `hotcold:hotPages=256,hotRate=200,coldRate=200`. Default `hotcold`.
   */
  workload: string;
  /** Background policy: `none`, `fixed` or `adaptive`. Default `fixed`. */
  policy: string;
  /** Primary heartbeat period and heartbeat-monitor tick period, ms, 1 000…3 600 000. Default 1 000. */
  heartbeatIntervalMs: number;
  /** Silence before failover, ms: 0 (no automatic failover) or above `heartbeatIntervalMs`. Default 3 000. */
  heartbeatTimeoutMs: number;
  /** Days after which `deltas/` objects expire (lifecycle rule), 1…3 650. Default 1. */
  deltaExpiryDays: number;
  /** Days the functions' log groups keep events (a CloudWatch Logs retention value). Default 7. */
  logRetentionDays: number;
  /** Address S3 path-style from the functions (emulators on an IP endpoint need it). Default false. */
  s3ForcePathStyle: boolean;
}

/** Defaults of every parameter. */
export const DEFAULT_PARAMETERS: Readonly<ColoParameters> = {
  vmId: 'vm-0',
  seed: 1,
  checkpointDelayMs: 20_000,
  pendingCheckIntervalMs: 1000,
  thresholdBytes: 104_857_600,
  applyTimeoutMs: 5000,
  guestBytes: 64 * 1024 * 1024,
  workload: 'hotcold',
  policy: 'fixed',
  heartbeatIntervalMs: 1000,
  heartbeatTimeoutMs: 10_000,
  deltaExpiryDays: 1,
  logRetentionDays: 7,
  s3ForcePathStyle: false,
};

/** Parameter names, in documentation order. */
export const PARAMETER_NAMES = Object.keys(DEFAULT_PARAMETERS) as readonly (keyof ColoParameters)[];

/** A context value is missing its mark: the message names the key, what is accepted and what was given. */
export class ContextValidationError extends Error {
  override readonly name = 'ContextValidationError';
}

/** CloudWatch Logs retention periods, days (the values `RetentionDays` allows, except infinite). */
const RETENTION_DAYS: readonly number[] = Object.values(RetentionDays).filter(
  (v): v is number => typeof v === 'number' && v > 0,
);

function fail(key: string, expected: string, value: unknown): never {
  throw new ContextValidationError(`context "${key}" must be ${expected}, got ${JSON.stringify(value)}`);
}

function integer(key: string, value: unknown, min: number, max: number, unit = ''): number {
  const expected = `an integer in [${min}, ${max}]${unit ? ` ${unit}` : ''}`;
  const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) fail(key, expected, value);
  return n;
}

function oneOf(key: string, value: unknown, allowed: readonly string[]): string {
  if (typeof value !== 'string' || !allowed.includes(value)) fail(key, `one of ${allowed.join(', ')}`, value);
  return value;
}

function workload(key: string, value: unknown): string {
  const expected = `one of ${WORKLOAD_KINDS.join(', ')}, or kind:key=value,… overriding its rates`;
  if (typeof value !== 'string') fail(key, expected, value);
  try {
    workloadFromEnv(value);
  } catch (e) {
    fail(key, `${expected} (${e instanceof Error ? e.message : String(e)})`, value);
  }
  return value.trim();
}

function boolean(key: string, value: unknown): boolean {
  if (value === true || value === 'true' || value === '1') return true;
  if (value === false || value === 'false' || value === '0') return false;
  return fail(key, 'true or false', value);
}

/**
 * Validates a full set of raw values (numbers may be given as decimal strings, as `-c key=value` does).
 *
 * @throws ContextValidationError naming the first bad key.
 */
export function validateParameters(raw: Readonly<Record<keyof ColoParameters, unknown>>): ColoParameters {
  const vmId = raw.vmId;
  if (typeof vmId !== 'string' || !VM_ID_PATTERN.test(vmId))
    fail('vmId', `a string matching ${VM_ID_PATTERN}`, vmId);
  const heartbeatIntervalMs = integer('heartbeatIntervalMs', raw.heartbeatIntervalMs, 1000, 3_600_000, 'ms');
  const heartbeatTimeoutMs = integer('heartbeatTimeoutMs', raw.heartbeatTimeoutMs, 0, 86_400_000, 'ms');
  if (heartbeatTimeoutMs !== 0 && heartbeatTimeoutMs <= heartbeatIntervalMs) {
    fail(
      'heartbeatTimeoutMs',
      `0 or greater than heartbeatIntervalMs (${heartbeatIntervalMs}) ms`,
      raw.heartbeatTimeoutMs,
    );
  }
  const guestBytes = integer('guestBytes', raw.guestBytes, PAGE_BYTES, 2 ** 40, 'bytes');
  if (guestBytes % PAGE_BYTES !== 0) fail('guestBytes', `a multiple of ${PAGE_BYTES} bytes`, raw.guestBytes);
  const logRetentionDays = integer('logRetentionDays', raw.logRetentionDays, 1, 3653, 'days');
  if (!RETENTION_DAYS.includes(logRetentionDays)) {
    fail(
      'logRetentionDays',
      `a CloudWatch Logs retention (${RETENTION_DAYS.join(', ')}) in days`,
      raw.logRetentionDays,
    );
  }
  return {
    vmId,
    seed: integer('seed', raw.seed, 0, Number.MAX_SAFE_INTEGER),
    checkpointDelayMs: integer('checkpointDelayMs', raw.checkpointDelayMs, 1000, 3_600_000, 'ms'),
    pendingCheckIntervalMs: integer(
      'pendingCheckIntervalMs',
      raw.pendingCheckIntervalMs,
      1000,
      3_600_000,
      'ms',
    ),
    thresholdBytes: integer('thresholdBytes', raw.thresholdBytes, 0, Number.MAX_SAFE_INTEGER, 'bytes'),
    applyTimeoutMs: integer('applyTimeoutMs', raw.applyTimeoutMs, 100, 840_000, 'ms'),
    guestBytes,
    workload: workload('workload', raw.workload),
    policy: oneOf('policy', raw.policy, POLICIES),
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    deltaExpiryDays: integer('deltaExpiryDays', raw.deltaExpiryDays, 1, 3650, 'days'),
    logRetentionDays,
    s3ForcePathStyle: boolean('s3ForcePathStyle', raw.s3ForcePathStyle),
  };
}

/**
 * Reads every parameter from the construct tree's context, falling back to `overrides` and then to
 * {@link DEFAULT_PARAMETERS}, and validates the result. Context wins over `overrides`, so
 * `cdk deploy -c key=value` always has the last word.
 *
 * @throws ContextValidationError naming the first bad key.
 */
export function parametersFromContext(node: Node, overrides: Partial<ColoParameters> = {}): ColoParameters {
  const raw = {} as Record<keyof ColoParameters, unknown>;
  for (const key of PARAMETER_NAMES) {
    raw[key] = node.tryGetContext(key) ?? overrides[key] ?? DEFAULT_PARAMETERS[key];
  }
  return validateParameters(raw);
}
