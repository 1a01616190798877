/**
 * Per-VM configuration of a fleet stack: the VM-specific deployed parameters (VM id, seed, guest size,
 * workload, policy, timer periods, deadlines…) that one shared stack holds per VM under `vms/<vmId>.json`,
 * validated by the same registry reader as CDK context and the functions' environment
 * (./deployed.ts), so a config the CLI writes is a config every function accepts. Stack-wide parameters
 * (log retention, delta expiry, S3 path style, the test hooks) stay in the stack.
 */
import { VM_ID_PATTERN } from '../wire/limits.ts';
import {
  DEPLOY_PROFILE,
  type DeployedValues,
  isSwitch,
  ParameterError,
  readDeployed,
  readDeployedValue,
} from './deployed.ts';
import { DEPLOYED_PARAMETERS } from './registry.ts';

/** Version of the stored config document. */
export const VM_CONFIG_VERSION = 1;

/** Largest stored config document, bytes (a few hundred in practice); a larger object is refused unread. */
export const MAX_VM_CONFIG_BYTES = 16 * 1024;

/**
 * The VM-specific parameters: every deployed parameter a function reads from its environment that is not
 * a stack-wide switch (`AWS_S3_FORCE_PATH_STYLE`, `COLO_TEST_FAULTS`).
 */
export const VM_PARAMETERS = DEPLOYED_PARAMETERS.filter((p) => p.deployed.env !== undefined && !isSwitch(p));

/** Context keys of {@link VM_PARAMETERS}, in registry order. */
export const VM_CONFIG_KEYS: readonly string[] = VM_PARAMETERS.map((p) => p.deployed.context);

/** One VM's configuration: the VM-specific deployed values (times in ms, sizes in bytes). */
export type VmConfig = Pick<
  DeployedValues,
  | 'vmId'
  | 'policy'
  | 'seed'
  | 'guestBytes'
  | 'workload'
  | 'checkpointDelayMs'
  | 'pendingCheckIntervalMs'
  | 'thresholdBytes'
  | 'applyTimeoutMs'
  | 'checkpointTimeoutMs'
  | 'heartbeatIntervalMs'
  | 'heartbeatTimeoutMs'
  | 'downtimeBudgetMs'
  | 'epochCapBytes'
>;

/** A VM config is malformed; one line naming the key, what it takes and what it got. */
export class VmConfigError extends ParameterError {
  override readonly name: string = 'VmConfigError';
}

function pick(values: DeployedValues): VmConfig {
  const all = values as unknown as Record<string, unknown>;
  return Object.fromEntries(VM_CONFIG_KEYS.map((k) => [k, all[k]])) as unknown as VmConfig;
}

/**
 * Checks that every key of `raw` is a VM config key (what a `colo vm` command can check before it knows
 * the stored config).
 *
 * @throws VmConfigError naming the first unknown key.
 */
export function checkVmConfigKeys(raw: Readonly<Record<string, unknown>>): void {
  for (const key of Object.keys(raw)) {
    if (!VM_CONFIG_KEYS.includes(key)) {
      throw new VmConfigError(
        `VM config has no key ${JSON.stringify(key)} (VM keys: ${VM_CONFIG_KEYS.join(', ')}; stack-wide keys are CDK context)`,
      );
    }
  }
}

/**
 * Checks each value of `raw` on its own (type, range, unit; not the rules between keys, which need the
 * stored config): what `colo vm set` can check before it reads the VM's stored config.
 *
 * @throws VmConfigError naming an unknown key or the first bad value.
 */
export function checkVmConfigValues(raw: Readonly<Record<string, unknown>>): void {
  checkVmConfigKeys(raw);
  for (const p of VM_PARAMETERS) {
    const value = raw[p.deployed.context];
    if (value === undefined) continue;
    try {
      readDeployedValue(p, value, 'config');
    } catch (e) {
      if (e instanceof ParameterError && !(e instanceof VmConfigError)) throw new VmConfigError(e.message);
      throw e;
    }
  }
}

/**
 * Validates raw VM-specific values (numbers may be decimal strings, as `--set key=value` gives them); keys
 * it leaves out take `base` (default: the deploy profile, what `cdk.json` holds).
 *
 * @throws VmConfigError naming an unknown key or the first bad value.
 */
export function validateVmConfig(
  raw: Readonly<Record<string, unknown>>,
  base: Readonly<Partial<DeployedValues>> = DEPLOY_PROFILE,
): VmConfig {
  checkVmConfigKeys(raw);
  const merged = { ...DEPLOY_PROFILE, ...base } as Record<string, unknown>;
  try {
    return pick(readDeployed((p) => raw[p.deployed.context] ?? merged[p.deployed.context], 'config'));
  } catch (e) {
    if (e instanceof ParameterError && !(e instanceof VmConfigError)) throw new VmConfigError(e.message);
    throw e;
  }
}

/** The VM config of a full set of deployed values (a stack's context: its initial VM). */
export function vmConfigOf(values: DeployedValues): VmConfig {
  return pick(values);
}

/** The stored document: `{"v":1, …every VM key…}`. */
export function encodeVmConfig(config: VmConfig): string {
  return JSON.stringify({ v: VM_CONFIG_VERSION, ...config });
}

/**
 * Parses a stored config document strictly: version 1, every VM key present, nothing else, and — when
 * `vmId` is given (the id in the object key) — the same VM id inside.
 *
 * @throws VmConfigError naming the problem.
 */
export function parseVmConfig(text: string, vmId?: string): VmConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new VmConfigError(`VM config is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new VmConfigError('VM config must be a JSON object');
  }
  const { v, ...values } = doc as Record<string, unknown>;
  if (v !== VM_CONFIG_VERSION) {
    throw new VmConfigError(`VM config version must be ${VM_CONFIG_VERSION}, got ${JSON.stringify(v)}`);
  }
  const missing = VM_CONFIG_KEYS.filter((k) => !(k in values));
  if (missing.length > 0) throw new VmConfigError(`VM config lacks ${missing.join(', ')}`);
  const config = validateVmConfig(values);
  if (vmId !== undefined && config.vmId !== vmId) {
    throw new VmConfigError(`VM config stored for ${vmId} names VM ${config.vmId}`);
  }
  return config;
}

/** Checks a VM id against the wire format's rule. @throws VmConfigError */
export function checkVmId(vmId: string): string {
  if (!VM_ID_PATTERN.test(vmId)) {
    throw new VmConfigError(`VM id must match ${VM_ID_PATTERN}, got ${JSON.stringify(vmId)}`);
  }
  return vmId;
}

/**
 * The environment variables of a VM config (`VM_ID`, `SEED`, …), spelt as the functions parse them: laid
 * over the stack-wide environment, they give exactly what a one-VM stack's function used to receive.
 */
export function vmConfigEnvironment(config: VmConfig): Record<string, string> {
  const values = config as unknown as Record<string, string | number>;
  const env: Record<string, string> = {};
  for (const p of VM_PARAMETERS) {
    const name = p.deployed.env;
    if (name !== undefined) env[name] = String(values[p.deployed.context]);
  }
  return env;
}

/**
 * Refuses a VM whose apply deadline does not fit the stack's `secondary-apply` timeout (the stack is
 * synthesised for one deadline cap: its context `applyTimeoutMs`).
 *
 * @param capMs - The stack's cap, ms.
 * @throws VmConfigError when the config's `applyTimeoutMs` is above the cap.
 */
export function checkApplyTimeoutCap(config: VmConfig, capMs: number): void {
  if (config.applyTimeoutMs > capMs) {
    throw new VmConfigError(
      `VM config "applyTimeoutMs" must be at most ${capMs} ms on this stack (its secondary-apply timeout is sized for it; redeploy with -c applyTimeoutMs=${config.applyTimeoutMs} to raise it), got ${config.applyTimeoutMs}`,
    );
  }
}
