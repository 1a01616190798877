/**
 * The context of the experiment stack (bin/experiment-app.ts, `npm run deploy:experiments:local -- -c …`):
 * each key parsed and checked, one clear error per bad value.
 */
import type { MapKind } from '../src/experiment/stepfunctions/contract.ts';
import { ContextValidationError } from './parameters.ts';

/** Settings of an {@link ExperimentStack} (lib/experiment-stack.ts). */
export interface ExperimentStackSettings {
  /** `distributed` (default: a Distributed Map reading its items from S3) or `inline` (LocalStack gap). */
  mapKind: MapKind;
  /** Cells running at once (the map's MaxConcurrency), 1-10 000. Default 1 000. */
  maxConcurrency: number;
  /** The cell function's timeout, s (1-900). Default 900 (Lambda's maximum). */
  cellTimeoutSeconds: number;
  /** The cell function's memory, MiB (128-10 240). Default 1 769 (one full vCPU on AWS). */
  cellMemoryMiB: number;
  /** Days a run's items and results stay in the bucket, ≥ 1. Default 30. */
  runExpiryDays: number;
  /** Days the function and state-machine logs are kept. Default 7. */
  logRetentionDays: number;
  /** Path-style S3 addressing in the function (`true` on LocalStack). Default false. */
  s3ForcePathStyle: boolean;
}

/** Defaults of every setting. */
export const EXPERIMENT_STACK_DEFAULTS: Readonly<ExperimentStackSettings> = {
  mapKind: 'distributed',
  maxConcurrency: 1000,
  cellTimeoutSeconds: 900,
  cellMemoryMiB: 1769,
  runExpiryDays: 30,
  logRetentionDays: 7,
  s3ForcePathStyle: false,
};

/** Context keys the experiment app reads (besides CDK's own `@aws-cdk/…` flags and `stackName`). */
export const EXPERIMENT_CONTEXT_KEYS = Object.keys(EXPERIMENT_STACK_DEFAULTS);

const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

function whole(key: string, raw: unknown, min: number, max: number): number {
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
    throw new ContextValidationError(
      `context "${key}" must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  return n;
}

/**
 * Parses the settings from context values (strings as `-c key=value` gives them, or JSON values).
 *
 * @param get - Reads one context key (`undefined` when unset).
 * @throws ContextValidationError naming the key and the allowed values.
 */
export function experimentSettingsFromContext(get: (key: string) => unknown): ExperimentStackSettings {
  const s: ExperimentStackSettings = { ...EXPERIMENT_STACK_DEFAULTS };
  const mapKind = get('mapKind');
  if (mapKind !== undefined) {
    if (mapKind !== 'distributed' && mapKind !== 'inline')
      throw new ContextValidationError(
        `context "mapKind" must be distributed or inline, got ${JSON.stringify(mapKind)}`,
      );
    s.mapKind = mapKind;
  }
  const num = (key: keyof ExperimentStackSettings, min: number, max: number) => {
    const raw = get(key);
    return raw === undefined ? (s[key] as number) : whole(key, raw, min, max);
  };
  s.maxConcurrency = num('maxConcurrency', 1, 10_000);
  s.cellTimeoutSeconds = num('cellTimeoutSeconds', 1, 900);
  s.cellMemoryMiB = num('cellMemoryMiB', 128, 10_240);
  s.runExpiryDays = num('runExpiryDays', 1, 3650);
  s.logRetentionDays = num('logRetentionDays', 1, 3653);
  if (!RETENTION_DAYS.includes(s.logRetentionDays))
    throw new ContextValidationError(
      `context "logRetentionDays" must be one of CloudWatch's retention periods (${RETENTION_DAYS.join(', ')}), got ${s.logRetentionDays}`,
    );
  const path = get('s3ForcePathStyle');
  if (path !== undefined) {
    if (path !== true && path !== false && path !== 'true' && path !== 'false')
      throw new ContextValidationError(
        `context "s3ForcePathStyle" must be true or false, got ${JSON.stringify(path)}`,
      );
    s.s3ForcePathStyle = path === true || path === 'true';
  }
  return s;
}
