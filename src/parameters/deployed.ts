/**
 * The deployed spelling of the registry: CDK context values (validated by lib/parameters.ts at synth time)
 * and the functions' environment variables (parsed by lambda/handlers/common/params.ts at cold start), read by
 * one function with the registry's bounds, so a value the stack accepts is a value the functions accept —
 * and each error is one line naming the key or variable, what it takes and what it got.
 */
import type { ColoParams } from '../engine/params.ts';
import type { WorkloadSpec } from '../engine/workload/spec.ts';
import { DEPLOYED_PARAMETERS, type Deployed, type Parameter } from './registry.ts';
import { parseBytes, parseDuration, UnitError } from './units.ts';
import { formatWorkloadText, parseWorkloadSpec, WORKLOAD_KINDS_TEXT } from './workload.ts';

/** A deployed parameter value is malformed; one line naming the context key or variable. */
export class ParameterError extends Error {
  override readonly name: string = 'ParameterError';
}

/** Every deployed parameter, by context key. Times in ms, sizes in bytes, unless the key says otherwise. */
export interface DeployedValues {
  /** VM id (`[a-z0-9][a-z0-9-]{0,62}`, the wire format's rule). */
  vmId: string;
  /** Background policy: `none`, `fixed` or `adaptive`. */
  policy: string;
  /** Seed of workloads and page contents, 0…4 294 967 295. */
  seed: number;
  /** Guest RAM, bytes: whole 4 KiB pages, at most 1 TiB. */
  guestBytes: number;
  /** Workload: a kind, or `kind:key=value,…` overriding its defaults (pages, pages/s). */
  workload: string;
  /** Checkpoint timer period (QEMU `x-checkpoint-delay`), ms. */
  checkpointDelayMs: number;
  /** Pending-RAM check period, ms. */
  pendingCheckIntervalMs: number;
  /** Pending dirty RAM that starts a background round, bytes. */
  thresholdBytes: number;
  /** Deadline of each of the secondary's waits, ms. */
  applyTimeoutMs: number;
  /** Deadline of each of the primary's waits in a checkpoint, ms. */
  checkpointTimeoutMs: number;
  /** Primary heartbeat period (and heartbeat-monitor tick period), ms. */
  heartbeatIntervalMs: number;
  /** Silence before failover, ms: 0 (never) or above `heartbeatIntervalMs`. */
  heartbeatTimeoutMs: number;
  /** Adaptive policy: downtime budget (QEMU `downtime-limit`), ms. */
  downtimeBudgetMs: number;
  /** Adaptive policy: checkpoint early above this much RAM per epoch, bytes (0 = never). */
  epochCapBytes: number;
  /** Days after which `deltas/` objects expire. */
  deltaExpiryDays: number;
  /** Days the functions' log groups keep events (a CloudWatch Logs retention). */
  logRetentionDays: number;
  /** Address S3 path-style from the functions. */
  s3ForcePathStyle: boolean;
  /** `allow` turns the functions' default-off fault hook on (integration tests only). */
  testFaults: 'off' | 'allow';
  /** `allow` deploys the test-only replay entries of `primary` and `secondary-apply` (conformance stacks). */
  virtualClock: 'off' | 'allow';
  /** Most concurrent invocations of each SQS event source (2…1 000). */
  eventSourceMaxConcurrency: number;
  /** Event-source mappings on each FIFO channel, 1…8 (more than 1 only for LocalStack's serial poller). */
  channelPollers: number;
  /** Event-source mappings on each tick queue, 1…8 (more than 1 only for LocalStack's serial poller). */
  tickPollers: number;
  /** Memory of `heartbeat-monitor` and `tick-arm`, MB (128…10 240). */
  monitorMemoryMb: number;
  /** `create` adds an SNS topic that every CloudWatch alarm of the stack notifies. */
  alarmTopic: 'off' | 'create';
}

/** A deployed parameter. */
type DeployedParameter = Parameter & { deployed: Deployed };

/** Where a raw value came from: CDK context, the function environment, or a per-VM config (src/parameters/vm-config.ts). */
export type Surface = 'context' | 'env' | 'config';

function label(p: DeployedParameter, surface: Surface): string {
  if (surface === 'context') return `context "${p.deployed.context}"`;
  if (surface === 'config') return `VM config "${p.deployed.context}"`;
  return `environment variable ${p.deployed.env ?? p.deployed.context}`;
}

/** The unit a deployed key's bare number is in, for messages (`ms`, `bytes`, `days`). */
function unitWord(p: Parameter): string {
  return p.unit === '' ? '' : ` ${p.unit}`;
}

/** The bounds a deployed VM accepts, base unit. */
export function deployedBounds(p: DeployedParameter): { min: number; max: number } | undefined {
  const b = p.deployed.bounds ?? p.bounds;
  if (!b) return undefined;
  return { min: b.exclusiveMin ? b.min + 1 : b.min, max: b.max };
}

/** The parameter's own default in its deployed form (a number in base unit, a text, a boolean). */
export function deployedDefault(p: Parameter): string | number | boolean {
  const d = p.default;
  switch (p.kind) {
    case 'duration':
      return parseDuration(String(d));
    case 'size':
      return parseBytes(String(d));
    case 'integer':
    case 'number':
      return Number(d);
    case 'policies':
      // One policy deployed: the last of the list is the one being measured (`none,fixed` → fixed).
      return String(d).split(',').at(-1) ?? 'fixed';
    default:
      return d;
  }
}

/** The deploy profile's default (`cdk.json`): the profile's value where it has one, else the parameter's. */
export function profileDefault(p: DeployedParameter): string | number | boolean {
  return p.deployed.profileDefault ?? deployedDefault(p);
}

/**
 * Reads one deployed value: a number in the unit its key names (as a JSON number, or decimal digits as
 * `-c key=value` and environment variables give it), a text, a boolean.
 *
 * @throws ParameterError naming the key or variable, what it takes and what it got.
 */
export function readDeployedValue(
  p: DeployedParameter,
  raw: unknown,
  surface: Surface,
): string | number | boolean {
  const fail = (expected: string): never => {
    throw new ParameterError(`${label(p, surface)} must be ${expected}, got ${JSON.stringify(raw)}`);
  };
  switch (p.kind) {
    case 'duration':
    case 'size':
    case 'integer':
    case 'number': {
      const b = deployedBounds(p);
      const lo = b?.min ?? 0;
      const hi = b?.max ?? Number.MAX_SAFE_INTEGER;
      const expected = `an integer in [${lo}, ${hi}]${unitWord(p)}`;
      let n: unknown = raw;
      if (typeof raw === 'string') {
        const t = raw.trim();
        // A number without a unit is in the key's unit however it is written (`5000`, `5e3`, `5000.0`): the
        // key names it, so no unit hint is needed (a hint of `5e3s` would be out of range).
        if (/^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?$/i.test(t)) n = Number(t);
        else if (surface !== 'env' && (p.kind === 'size' || p.kind === 'duration') && /^\+?\d/.test(t)) {
          // The vocabulary of scenario files and flags: `--set guestBytes=64GiB`, `-c checkpointDelayMs=5s`
          // (not the functions' environment, which the stack writes in base units).
          try {
            n = p.kind === 'size' ? parseBytes(t) : parseDuration(t);
          } catch (e) {
            if (!(e instanceof UnitError)) throw e;
            throw new ParameterError(
              `${label(p, surface)} must be ${expected}, got ${JSON.stringify(raw)}: ${e.message}`,
            );
          }
        }
      }
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < lo || n > hi) return fail(expected);
      if (p.multipleOf !== undefined && n % p.multipleOf !== 0)
        return fail(`a multiple of ${p.multipleOf}${unitWord(p)}`);
      if (p.values !== undefined && !p.values.includes(n))
        return fail(`one of ${p.values.join(', ')}${unitWord(p)}`);
      return n;
    }
    case 'text': {
      if (typeof raw !== 'string' || (p.pattern !== undefined && !p.pattern.test(raw)))
        return fail(p.pattern ? `a string matching ${p.pattern}` : 'a string');
      return raw;
    }
    case 'enum':
    case 'policies': {
      const values = (p.values ?? []).map(String);
      const t = typeof raw === 'string' ? raw.trim() : raw;
      if (typeof t !== 'string' || !values.includes(t)) return fail(`one of ${values.join(', ')}`);
      return t;
    }
    case 'workload': {
      const expected = `one of ${WORKLOAD_KINDS_TEXT}, or kind:key=value,… overriding its defaults`;
      if (typeof raw !== 'string') return fail(expected);
      try {
        parseWorkloadSpec(raw);
      } catch (e) {
        return fail(`${expected} (${e instanceof Error ? e.message : String(e)})`);
      }
      return raw.trim();
    }
    case 'boolean': {
      // Case-insensitive, so every reader of a switch (the config and the S3 client) agrees on `TRUE`.
      const t = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
      if (t === true || t === 'true' || t === '1') return true;
      if (t === false || t === 'false' || t === '0') return false;
      return fail('true or false (or 1, 0)');
    }
    default:
      throw new Error(`parameter ${p.name} of kind ${p.kind} cannot be deployed`);
  }
}

/**
 * Whether a deployed parameter is a switch in the environment: set only when it is not its default
 * (`AWS_S3_FORCE_PATH_STYLE=1`, `COLO_TEST_FAULTS=allow`), absent otherwise.
 */
export function isSwitch(p: Parameter): boolean {
  return p.kind === 'boolean' || p.kind === 'enum';
}

/**
 * Reads and validates every deployed parameter. `read` gives a parameter's raw value, or undefined when
 * it is absent: context falls back to the defaults the caller merged in, and in the environment an absent
 * variable is an error unless the parameter is a switch (absent = default) or the stack does not pass it.
 *
 * @throws ParameterError naming the first bad key or variable.
 */
export function readDeployed(read: (p: DeployedParameter) => unknown, surface: Surface): DeployedValues {
  const out: Record<string, unknown> = {};
  for (const p of DEPLOYED_PARAMETERS) {
    let raw = read(p);
    if (surface === 'env' && (raw === undefined || raw === '')) {
      if (p.deployed.env !== undefined && !isSwitch(p))
        throw new ParameterError(`environment variable ${p.deployed.env} is not set`);
      raw = deployedDefault(p);
    }
    out[p.deployed.context] = readDeployedValue(p, raw, surface);
  }
  const v = out as unknown as DeployedValues;
  if (v.heartbeatTimeoutMs !== 0 && v.heartbeatTimeoutMs <= v.heartbeatIntervalMs) {
    const p = DEPLOYED_PARAMETERS.find((x) => x.name === 'heartbeatTimeout') as DeployedParameter;
    throw new ParameterError(
      `${label(p, surface)} must be 0 or greater than ${surface === 'env' ? 'HEARTBEAT_INTERVAL_MS' : 'heartbeatIntervalMs'} (${v.heartbeatIntervalMs}) ms, got ${JSON.stringify(read(p) ?? v.heartbeatTimeoutMs)}: the two go together (a longer heartbeat interval needs a longer timeout)`,
    );
  }
  return v;
}

/** The function environment of deployed values: every parameter with a variable, switches only when on. */
export function environmentOf(v: DeployedValues): Record<string, string> {
  const env: Record<string, string> = {};
  const values = v as unknown as Record<string, string | number | boolean>;
  for (const p of DEPLOYED_PARAMETERS) {
    const name = p.deployed.env;
    if (name === undefined) continue;
    const value = values[p.deployed.context];
    if (isSwitch(p)) {
      if (value !== deployedDefault(p)) env[name] = value === true ? '1' : String(value);
    } else env[name] = String(value);
  }
  return env;
}

/**
 * The stack-wide part of {@link environmentOf}: only the switches (`AWS_S3_FORCE_PATH_STYLE`,
 * `COLO_TEST_FAULTS`), set when on. A fleet stack's VM-specific variables (`VM_ID`, `SEED`, …) come from each
 * VM's registered config (./vm-config.ts), never from the function's own environment.
 */
export function stackEnvironmentOf(v: DeployedValues): Record<string, string> {
  const all = environmentOf(v);
  const env: Record<string, string> = {};
  for (const p of DEPLOYED_PARAMETERS) {
    const name = p.deployed.env;
    if (name !== undefined && isSwitch(p) && all[name] !== undefined) env[name] = all[name];
  }
  return env;
}

/** The deploy profile (what `cdk.json` holds and a bare deploy uses), by context key. */
export const DEPLOY_PROFILE: Readonly<DeployedValues> = Object.fromEntries(
  DEPLOYED_PARAMETERS.map((p) => [p.deployed.context, profileDefault(p)]),
) as unknown as DeployedValues;

/** The engine parameters of deployed values: `base` (the engine's fixed costs and caps) with every deployed value. */
export function coloParamsOf(v: DeployedValues, base: ColoParams): ColoParams {
  const workload: WorkloadSpec = parseWorkloadSpec(v.workload);
  return {
    ...base,
    vmId: v.vmId,
    seed: v.seed,
    guestBytes: v.guestBytes,
    workload,
    policy: v.policy as ColoParams['policy'],
    checkpointDelayMs: v.checkpointDelayMs,
    pendingCheckIntervalMs: v.pendingCheckIntervalMs,
    thresholdBytes: v.thresholdBytes,
    applyTimeoutMs: v.applyTimeoutMs,
    checkpointTimeoutMs: v.checkpointTimeoutMs,
    heartbeatIntervalMs: v.heartbeatIntervalMs,
    heartbeatTimeoutMs: v.heartbeatTimeoutMs,
    downtimeBudgetMs: v.downtimeBudgetMs,
    epochCapBytes: v.epochCapBytes,
  };
}

/**
 * The CDK context of a resolved scenario (engine parameters and its policies): every deployed parameter
 * the scenario decides, as `-c key=value` takes it. Stack-only keys (expiry, retention, path style, the
 * fault hook) are left to the deploy.
 *
 * @throws ParameterError when the scenario names more than one policy (a deployed VM runs one).
 */
export function contextOfScenario(
  params: ColoParams,
  policies: readonly string[],
): Record<string, string | number> {
  if (policies.length !== 1) {
    throw new ParameterError(
      `a deployed VM runs one policy, the scenario names ${policies.length} (${policies.join(', ')}): set "policies": ["fixed"] or name one (deploy:local -c policy=…, colo vm --set policy=…)`,
    );
  }
  return {
    vmId: params.vmId,
    policy: policies[0] ?? 'fixed',
    seed: params.seed,
    guestBytes: params.guestBytes,
    workload: formatWorkloadText(params.workload),
    checkpointDelayMs: params.checkpointDelayMs,
    pendingCheckIntervalMs: params.pendingCheckIntervalMs,
    thresholdBytes: params.thresholdBytes,
    applyTimeoutMs: params.applyTimeoutMs,
    checkpointTimeoutMs: params.checkpointTimeoutMs,
    heartbeatIntervalMs: params.heartbeatIntervalMs,
    heartbeatTimeoutMs: params.heartbeatTimeoutMs,
    downtimeBudgetMs: params.downtimeBudgetMs,
    epochCapBytes: params.epochCapBytes,
  };
}
