/**
 * Managing the VMs of a deployed fleet stack (`colo vm add|set|list|show|remove`): validated configs written
 * to the stack's registry (`vms/<vmId>.json`), the VM's timers started at once by invoking the watchdog for
 * that VM, and removal that stops the timers (ticks of an unregistered VM are dropped) and optionally
 * deletes the VM's state and deltas. Works on LocalStack or AWS: the stack is found by its CloudFormation
 * outputs, as `colo run --backend localstack --stack NAME` finds it.
 */
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  controlStateKey,
  DELTA_PREFIX,
  MONITOR_DOCUMENT_KEY,
  PULSE_DOCUMENT_KEY,
  STATE_PREFIX,
  TIMER_NAMES,
  timerStateKey,
} from '../../../lambda/adapters/contract.ts';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { S3VmRegistry } from '../../../lambda/adapters/s3-vm-registry.ts';
import { CLAIMED_IN_NODE } from '../../../lambda/handlers/common/tick-chain.ts';
import { VM_CONFIG_TTL_MS } from '../../../lambda/handlers/common/vm-directory.ts';
import type { FenceOwner } from '../../engine/effects.ts';
import type { ColoParams } from '../../engine/params.ts';
import type { StateStore } from '../../engine/ports.ts';
import type { SecondaryPhase } from '../../engine/secondary/state.ts';
import {
  checkApplyTimeoutCap,
  checkVmId,
  encodeVmConfig,
  parseVmConfig,
  type VmConfig,
  VmConfigError,
  validateVmConfig,
} from '../../parameters/vm-config.ts';
import { sameWorkload } from '../../parameters/workload.ts';
import { readChainClaim } from '../cloud/chain-claim.ts';
import { markFailedOver, markResumed, readControl, VM_REMOVED_REASON } from '../cloud/control.ts';
import { outboxBusy } from '../cloud/document.ts';
import { StateDocumentError } from '../cloud/errors.ts';
import { nodeStateKey, removedConfigKey } from '../cloud/keys.ts';
import { type MonitorVm, parseMonitor } from '../cloud/monitor-document.ts';
import { type PulseVm, parsePulse } from '../cloud/pulse-document.ts';
import { readPrimaryDocument, readSecondaryDocument } from '../cloud/status.ts';
import { truncateText } from '../cloud/text.ts';
import {
  AdminLeaseBusyError,
  AdminLeaseLostError,
  type HeldAdminLease,
  withAdminLease,
} from './admin-lease.ts';
import { BackendError, type Clients, emptyBucket } from './aws.ts';
import { deployedParams, paramsForConfig, type StackOutputs } from './stack.ts';

/** A `colo vm` request cannot be carried out; nothing was changed. */
export class VmAdminError extends BackendError {
  override readonly name = 'VmAdminError';
}

export { VM_REMOVED_REASON } from '../cloud/control.ts';

/** How long `remove` waits for a stopped VM's in-flight work to settle before unregistering it, ms. */
export const REMOVE_SETTLE_TIMEOUT_MS = 60_000;

/** Attempts of a registry write before it is reported as failed. */
export const REGISTRY_WRITE_ATTEMPTS = 4;

/** A deployed stack's registry and what `colo vm` needs of it. */
export interface FleetTarget {
  /** Clients of the endpoint. */
  clients: Clients;
  /** The stack's outputs. */
  outputs: StackOutputs;
  /** Sleep, ms (retries; the state-deletion wait). */
  sleep?: (ms: number) => Promise<void>;
  /** Told of what the user should know but that does not stop the command (a lease taken over). */
  warn?: (line: string) => void;
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function registryOf(t: FleetTarget): S3VmRegistry {
  return new S3VmRegistry({ bucket: t.outputs.bucketName, client: t.clients.s3 });
}

async function retried<T>(t: FleetTarget, what: string, op: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let attempt = 1; attempt <= REGISTRY_WRITE_ATTEMPTS; attempt++) {
    try {
      return await op();
    } catch (e) {
      last = e;
      if (attempt < REGISTRY_WRITE_ATTEMPTS) await (t.sleep ?? realSleep)(250 * 2 ** (attempt - 1));
    }
  }
  throw new VmAdminError(
    `${what} failed after ${REGISTRY_WRITE_ATTEMPTS} attempts: ${last instanceof Error ? last.message : String(last)}`,
  );
}

/**
 * The config a request describes: `base` (the VM's current config, or the stack's deploy profile) with
 * `values` over it, validated, with the VM id of the request and the stack's apply-timeout cap checked.
 *
 * @throws VmConfigError naming the first bad key.
 */
export function configOf(
  vmId: string,
  values: Readonly<Record<string, unknown>>,
  base: Readonly<Partial<VmConfig>> | undefined,
  applyTimeoutCapMs: number | undefined,
): VmConfig {
  checkVmId(vmId);
  if (values.vmId !== undefined && values.vmId !== vmId) {
    throw new VmConfigError(`the config names VM ${String(values.vmId)}, the command names ${vmId}`);
  }
  const config = validateVmConfig({ ...values, vmId }, base);
  if (applyTimeoutCapMs !== undefined) checkApplyTimeoutCap(config, applyTimeoutCapMs);
  return config;
}

/** What `add`/`set` did. */
export interface VmWritten {
  /** The config now registered. */
  config: VmConfig;
  /** True when the VM was registered before (a change). */
  replaced: boolean;
  /**
   * The keys whose value the write changed, as `key old → new` (a replacement by `add` resets every key it
   * was not given to the registry's default: an outside review's `checkpointDelayMs` went 5000 → 20000
   * unseen). Empty for a new VM or an identical config.
   */
  changes: string[];
  /** Per timer, what the watchdog did (`armed`, `healthy`, …), or why it could not be asked. */
  timers: Record<string, string> | { error: string };
  /**
   * Present when the VM had failed over (one side won its fence): replication has ended and a new config
   * does not restart it ({@link FAILED_OVER_HINT}).
   */
  failedOver?: { owner: FenceOwner; reason: string | null };
  /**
   * Present when the VM was stopped for good (no fence owner, not by a remove): why. A new config does not
   * restart it ({@link STOPPED_HINT}).
   */
  stopped?: string;
}

/**
 * The keys a VM's replication state is made of: its node documents hold a guest of `guestBytes` whose pages
 * `seed` and `workload` wrote. Changed under existing state, every step of the VM would fail on its own
 * documents (and the replicas would no longer be the same guest): refused.
 */
export const STATE_BOUND_KEYS = ['guestBytes', 'seed', 'workload'] as const;

/**
 * Refuses a config that changes a {@link STATE_BOUND_KEYS} key of a VM whose node documents exist.
 *
 * @throws VmAdminError naming the keys and how to start the VM afresh
 */
async function checkStateKeeps(state: S3StateStore, before: VmConfig, after: VmConfig): Promise<void> {
  // Workloads compare by what they run: "hotcold" and its spelled-out defaults are the same guest.
  const same = (k: (typeof STATE_BOUND_KEYS)[number]): boolean =>
    k === 'workload' ? sameWorkload(String(before.workload), String(after.workload)) : before[k] === after[k];
  const changed = STATE_BOUND_KEYS.filter((k) => !same(k));
  if (changed.length === 0) return;
  const held = await Promise.all(
    (['primary', 'secondary'] as const).map(
      async (node) => (await state.load(nodeStateKey(after.vmId, node))) !== undefined,
    ),
  );
  if (!held.some(Boolean)) return;
  const what = changed.map((k) => `${k} ${String(before[k])} → ${String(after[k])}`).join(', ');
  throw new VmAdminError(
    `${after.vmId} has replication state, which ${changed.join(' and ')} cannot change under (${what}): ` +
      `\`colo vm remove ${after.vmId} --delete-state\` first, then add it afresh`,
  );
}

/**
 * Refuses `config` when a node document of the VM does not decode under the parameters it gives (another
 * guest size than the one the documents hold): every step would fail on them.
 *
 * @throws VmAdminError naming the document's own complaint and how to start the VM afresh
 */
async function checkStateDecodes(t: FleetTarget, state: S3StateStore, config: VmConfig): Promise<void> {
  if (!(await hasNodeState(state, config.vmId))) return;
  const params = await paramsForConfig(t.clients, t.outputs, config);
  try {
    await readPrimaryDocument(state, params);
    await readSecondaryDocument(state, params);
  } catch (e) {
    if (!(e instanceof StateDocumentError)) throw e;
    throw new VmAdminError(
      `${config.vmId} has replication state that this config cannot run on (${truncateText(e.message, 300)}): ` +
        `\`colo vm remove ${config.vmId} --delete-state\` first, then add it afresh`,
    );
  }
}

/** Registers (or replaces) a VM's config, then asks the watchdog to start its timers at once. */
/**
 * Registers (or replaces) a VM's config, then asks the watchdog to start its timers at once. `base`: the
 * config a `set` derived `config` from; when the stored one is no longer it (another command changed or
 * removed the VM since it was read), nothing is written.
 *
 * @throws VmAdminError (one line, nothing written) for a change the state cannot take, another command
 *   holding the VM, or a stale `base`
 */
export function writeVm(t: FleetTarget, config: VmConfig, base?: VmConfig): Promise<VmWritten> {
  return leased(t, config.vmId, 'colo vm add/set', (lease) => writeVmLeased(t, lease, config, base));
}

/**
 * Runs `work` holding the VM's administration lease (admin-lease.ts): one `colo vm` command per VM at a
 * time. @throws VmAdminError when another command holds it (nothing done)
 */
async function leased<T>(
  t: FleetTarget,
  vmId: string,
  command: string,
  work: (lease: HeldAdminLease) => Promise<T>,
): Promise<T> {
  try {
    return await withAdminLease(
      t.clients.s3,
      t.outputs.bucketName,
      vmId,
      command,
      work,
      t.warn ? { onLost: t.warn } : {},
    );
  } catch (e) {
    if (e instanceof AdminLeaseBusyError || e instanceof AdminLeaseLostError)
      throw new VmAdminError(e.message);
    throw e;
  }
}

async function writeVmLeased(
  t: FleetTarget,
  lease: HeldAdminLease,
  config: VmConfig,
  base?: VmConfig,
): Promise<VmWritten> {
  const registry = registryOf(t);
  const before = await retried(t, `reading vms/${config.vmId}.json`, () =>
    registry.get(config.vmId).catch((e: unknown) => {
      // A malformed stored config is replaced, not fatal.
      if (e instanceof VmConfigError) return undefined;
      throw e;
    }),
  );
  if (base !== undefined && JSON.stringify(before) !== JSON.stringify(base)) {
    throw new VmAdminError(
      `${config.vmId} was ${before === undefined ? 'removed' : 'changed'} by another command since this one read it: nothing written — run it again`,
    );
  }
  const state = new S3StateStore({ bucket: t.outputs.bucketName, client: t.clients.s3 });
  const control = await readControl(state, config.vmId);
  if (before !== undefined && control.reason === VM_REMOVED_REASON) {
    // Still registered but stopped by `colo vm remove` (this command holds the lease, so no remove is
    // running): one died or gave up before it unregistered the VM. Finishing it is the way out.
    const since = control.at !== null ? ` at ${new Date(control.at).toISOString()}` : '';
    throw new VmAdminError(
      `${config.vmId} was stopped by a colo vm remove that did not finish${since}: run \`colo vm remove ${config.vmId}\` again, then add it`,
    );
  }
  if (before !== undefined) await checkStateKeeps(state, before, config);
  else {
    // Unregistered by a plain remove: the config it ran under was kept with its state.
    const kept = await keptConfig(state, config.vmId);
    if (kept !== undefined) await checkStateKeeps(state, kept, config);
  }
  // With no readable config to compare against (a plain remove kept the state, or the stored config is
  // malformed), the node documents themselves judge: they must decode under the new config's guest.
  await checkStateDecodes(t, state, config);
  await lease.check();
  // A VM that could not run (unregistered — stopped by a remove — or its config unreadable) starts again:
  // the stop flag of a remove cleared, and the secondary told when (the pause is not the primary's
  // silence: without it a re-add after a remove longer than the heartbeat timeout was failed over). Before
  // the config is written: an add that dies between the two leaves the VM unregistered, and the next add
  // does both again (the other way round it left a registered VM stopped, reported as a remove's).
  const paused =
    before === undefined &&
    control.owner === null &&
    (control.reason === VM_REMOVED_REASON || (await hasNodeState(state, config.vmId)));
  if (paused) {
    await retried(t, `starting ${config.vmId} again`, () => markResumed(state, config.vmId, Date.now()));
  }
  await retried(t, `writing vms/${config.vmId}.json`, () => registry.put(config));
  // Registered again: the kept config has served (best effort; a stale one only repeats this check).
  if (before === undefined) await state.delete?.(removedConfigKey(config.vmId)).catch(() => undefined);
  return {
    config,
    replaced: before !== undefined,
    changes: before === undefined ? [] : configChanges(before, config),
    timers: await armNow(t, config.vmId),
    ...(control.owner !== null ? { failedOver: { owner: control.owner, reason: control.reason } } : {}),
    ...(control.owner === null && control.failedOver && control.reason !== VM_REMOVED_REASON
      ? { stopped: control.reason ?? 'stopped' }
      : {}),
  };
}

/** The keys whose values differ between two configs of a VM, as `key old → new`, in config order. */
export function configChanges(before: VmConfig, after: VmConfig): string[] {
  const b = before as unknown as Record<string, unknown>;
  const a = after as unknown as Record<string, unknown>;
  return Object.keys(a)
    .filter((k) => JSON.stringify(b[k]) !== JSON.stringify(a[k]))
    .map((k) => `${k} ${JSON.stringify(b[k]) ?? 'unset'} → ${JSON.stringify(a[k])}`);
}

/** True when either node of the VM has a document (the VM has replication state). */
async function hasNodeState(state: S3StateStore, vmId: string): Promise<boolean> {
  const held = await Promise.all(
    (['primary', 'secondary'] as const).map(
      async (node) => (await state.load(nodeStateKey(vmId, node))) !== undefined,
    ),
  );
  return held.some(Boolean);
}

/** The config a plain remove kept with the VM's state, or undefined (none, or unreadable: not judged). */
async function keptConfig(state: S3StateStore, vmId: string): Promise<VmConfig | undefined> {
  const d = await state.load(removedConfigKey(vmId));
  if (d === undefined) return undefined;
  try {
    return parseVmConfig(Buffer.from(d.value).toString('utf8'), vmId);
  } catch {
    return undefined;
  }
}

/**
 * Invokes the watchdog for one VM (`{"source":"colo.watchdog","vmIds":[vmId]}`), so its chains start now
 * rather than at the next minute. A failure is reported, not thrown: the minute rule will arm them anyway.
 */
export async function armNow(
  t: FleetTarget,
  vmId: string,
): Promise<Record<string, string> | { error: string }> {
  try {
    const r = await t.clients.lambda.send(
      new InvokeCommand({
        FunctionName: t.outputs.tickArmFunction,
        Payload: Buffer.from(JSON.stringify({ source: 'colo.watchdog', vmIds: [vmId] })),
      }),
    );
    const text = r.Payload ? Buffer.from(r.Payload).toString('utf8') : '';
    if (r.FunctionError) return { error: `watchdog failed: ${text.slice(0, 300)}` };
    const byVm = (JSON.parse(text) as { byVm?: Record<string, Record<string, string>> }).byVm;
    return byVm?.[vmId] ?? { error: 'the watchdog did not see the VM (the minute rule will arm it)' };
  } catch (e) {
    return {
      error: `watchdog not invoked (${e instanceof Error ? e.message : String(e)}); the minute rule will arm the timers`,
    };
  }
}

/**
 * What to do about a VM that failed over: its fence has an owner for good, so no config restarts it;
 * protecting it again is a fresh pair (a full first sync).
 */
export const FAILED_OVER_HINT = (vmId: string): string =>
  `replication has ended and no config restarts it; to protect it again: colo vm remove ${vmId} --delete-state, then colo vm add ${vmId} … (a fresh pair: a full first sync)`;

/**
 * What to do about a VM stopped for good with its config registered (by `colo run --backend localstack` at
 * its end, or a fleet run): no config restarts it (only a `colo vm remove`'s stop is undone by an add).
 */
export const STOPPED_HINT = (vmId: string): string =>
  `no config restarts it; colo run --backend localstack runs it afresh, or to protect it again: colo vm remove ${vmId} --delete-state, then colo vm add ${vmId} … (a fresh pair: a full first sync)`;

/**
 * What to do about a VM whose stored config does not decode (a hand edit): it is stepped by nobody, its
 * channel records are held, until `colo vm add` replaces the config (`set` changes only one it can read).
 */
export const MALFORMED_CONFIG_HINT = (vmId: string): string =>
  `its stored config does not decode, so it is stepped by nobody until \`colo vm add ${vmId} …\` replaces it (set changes only a config it can read)`;

/**
 * The config of one registered VM. @throws VmAdminError when it is not registered; VmConfigError when its
 * stored config does not decode (with {@link MALFORMED_CONFIG_HINT}).
 */
export async function getVm(t: FleetTarget, vmId: string): Promise<VmConfig> {
  checkVmId(vmId);
  const config = await registryOf(t)
    .get(vmId)
    .catch((e: unknown) => {
      // Stepped by nobody until fixed; `set` changes a config it can read, so `add` is the way out.
      if (e instanceof VmConfigError)
        throw new VmConfigError(`${e.message} — ${MALFORMED_CONFIG_HINT(vmId)}`);
      throw e;
    });
  if (!config) throw new VmAdminError(`VM ${vmId} is not registered on stack ${t.outputs.stackName}`);
  return config;
}

/** A VM's config with its timers and control document, as stored (`colo vm show`). */
export interface VmStatus {
  /** Registered config. */
  config: VmConfig;
  /**
   * Timer documents, by timer (absent: the chain never started); for a chain that claims its ticks in a
   * node document (the primary's), that claim as `claimedInNode` (its progress is there, not in `seq`).
   */
  timers: Record<string, unknown>;
  /**
   * The VM's entries in the stack's two chain documents (absent: not stepped yet): the pulse's (its
   * primary's last step and liveness evidence) and the monitor's (its secondary's next wake).
   */
  stack: { pulse?: PulseVm; monitor?: MonitorVm };
  /** The control document (fence, failover), if any. */
  control: unknown;
}

/** {@link VmStatus} of a registered VM. */
export async function showVm(t: FleetTarget, vmId: string): Promise<VmStatus> {
  const config = await getVm(t, vmId);
  const state = new S3StateStore({ bucket: t.outputs.bucketName, client: t.clients.s3 });
  const read = async (key: string): Promise<unknown> => {
    const d = await state.load(key);
    return d ? JSON.parse(Buffer.from(d.value).toString('utf8')) : undefined;
  };
  const timers: Record<string, unknown> = {};
  for (const timer of TIMER_NAMES) {
    const v = await read(timerStateKey(vmId, timer));
    if (v === undefined) continue;
    const node = CLAIMED_IN_NODE[timer];
    const claim =
      node && (await readChainClaim(state, vmId, node, timer).catch((e) => ({ error: String(e) })));
    timers[timer] = claim ? { ...(v as object), claimedInNode: claim } : v;
  }
  const pulse = await state.load(PULSE_DOCUMENT_KEY);
  const monitor = await state.load(MONITOR_DOCUMENT_KEY);
  const inPulse = pulse && parsePulse(pulse.value, PULSE_DOCUMENT_KEY).vms[vmId];
  const inMonitor = monitor && parseMonitor(monitor.value, MONITOR_DOCUMENT_KEY).vms[vmId];
  return {
    config,
    timers,
    stack: { ...(inPulse ? { pulse: inPulse } : {}), ...(inMonitor ? { monitor: inMonitor } : {}) },
    control: (await read(controlStateKey(vmId))) ?? null,
  };
}

/** What `remove` did. */
export interface VmRemoved {
  /** VM id. */
  vmId: string;
  /** Objects of `state/<vmId>/` and `deltas/<vmId>/` deleted (0 unless asked). */
  deletedObjects: number;
}

/**
 * Removes a VM cleanly: stops it (control flag {@link VM_REMOVED_REASON}: its chains end within a period),
 * waits for its in-flight work to settle, then unregisters it (from then on its ticks are dropped and any
 * channel record is dropped as a removed VM's, once warm functions' config cache,
 * {@link VM_CONFIG_TTL_MS}, expires). With `deleteState`, waits that long and deletes `state/<vmId>/` and
 * `deltas/<vmId>/`.
 *
 * @throws VmAdminError when the VM is not registered (nothing changed).
 */
export function removeVm(
  t: FleetTarget,
  vmId: string,
  options: { deleteState?: boolean; progress?: (line: string) => void } = {},
): Promise<VmRemoved> {
  checkVmId(vmId);
  return leased(t, vmId, `colo vm remove${options.deleteState ? ' --delete-state' : ''}`, (lease) =>
    removeVmLeased(t, lease, vmId, options),
  );
}

async function removeVmLeased(
  t: FleetTarget,
  lease: HeldAdminLease,
  vmId: string,
  options: { deleteState?: boolean; progress?: (line: string) => void },
): Promise<VmRemoved> {
  const registry = registryOf(t);
  const config = await registry
    .get(vmId)
    .catch((e: unknown) => (e instanceof VmConfigError ? 'malformed' : Promise.reject(e)));
  if (config === undefined) return removeLeftState(t, lease, vmId, options);
  // Stop first (the control flag ends its chains, as a failover would), let in-flight work settle, then
  // unregister: records still arriving for it afterwards are dropped (its control says it was removed).
  const state = new S3StateStore({ bucket: t.outputs.bucketName, client: t.clients.s3 });
  await retried(t, `stopping ${vmId}`, () => markFailedOver(state, vmId, VM_REMOVED_REASON, Date.now()));
  options.progress?.(`stopped ${vmId}; waiting for its in-flight work to settle`);
  const params = await deployedParams(t.clients, t.outputs, vmId).catch(() => undefined);
  if (!(await settle(t, vmId, state, params))) {
    options.progress?.(
      `${vmId}'s in-flight work did not settle within ${REMOVE_SETTLE_TIMEOUT_MS / 1000} s; unregistering it anyway`,
    );
  }
  // A `colo vm add` or `set` meanwhile (the settle takes seconds) wins: its VM is not unregistered under it.
  const now = await registry
    .get(vmId)
    .catch((e: unknown) => (e instanceof VmConfigError ? 'malformed' : Promise.reject(e)));
  if (now === undefined) {
    throw new VmAdminError(
      `${vmId} was unregistered by something else while it was being removed (vms/${vmId}.json deleted): nothing more done`,
    );
  }
  if (JSON.stringify(now) !== JSON.stringify(config)) {
    throw new VmAdminError(
      `${vmId}'s config was changed while it was being removed (not by colo vm, which waits its turn): it stays registered, stopped, with its state — run the remove again, or colo vm add to run it again`,
    );
  }
  await lease.check();
  // The state stays bound to the config it was written under: kept beside it for the next add to check
  // (with --delete-state too: a removal stopped before it deleted the state leaves it judged the same).
  if (typeof config !== 'string') {
    await retried(t, `keeping ${vmId}'s config with its state`, async () => {
      const kept = await state.load(removedConfigKey(vmId));
      await state.save(removedConfigKey(vmId), Buffer.from(encodeVmConfig(config)), kept?.etag);
    });
  }
  await retried(t, `deleting vms/${vmId}.json`, () => registry.delete(vmId));
  if (!options.deleteState) return { vmId, deletedObjects: 0 };
  // Warm functions may serve the VM from their cache until it expires; delete its objects after that.
  const periodMs =
    typeof config === 'string' ? 0 : Math.min(config.pendingCheckIntervalMs, config.heartbeatIntervalMs);
  const waitMs = VM_CONFIG_TTL_MS + periodMs + 2000;
  options.progress?.(
    `waiting ${Math.ceil(waitMs / 1000)} s for warm functions to drop ${vmId}, then deleting its state`,
  );
  return deleteStateAfter(t, lease, vmId, waitMs);
}

/**
 * `remove` of a VM that is not registered: with `--delete-state`, deletes the state and deltas an earlier
 * removal left (a plain remove keeps them; a `--delete-state` that was stopped or died after unregistering
 * the VM leaves them), once warm functions have dropped whatever config they still cache.
 *
 * @throws VmAdminError when there is nothing to do (no state) or, without `--delete-state`, what to run
 */
async function removeLeftState(
  t: FleetTarget,
  lease: HeldAdminLease,
  vmId: string,
  options: { deleteState?: boolean; progress?: (line: string) => void },
): Promise<VmRemoved> {
  const notRegistered = `VM ${vmId} is not registered on stack ${t.outputs.stackName}`;
  const listed = await Promise.all(
    [`${STATE_PREFIX}${vmId}/`, `${DELTA_PREFIX}${vmId}/`].map((prefix) =>
      t.clients.s3.send(
        new ListObjectsV2Command({ Bucket: t.outputs.bucketName, Prefix: prefix, MaxKeys: 1 }),
      ),
    ),
  );
  if (!listed.some((l) => (l.KeyCount ?? 0) > 0)) throw new VmAdminError(notRegistered);
  if (!options.deleteState) {
    throw new VmAdminError(
      `${notRegistered}; its state is kept from an earlier removal: \`colo vm remove ${vmId} --delete-state\` deletes it`,
    );
  }
  const waitMs = VM_CONFIG_TTL_MS + 2000;
  options.progress?.(
    `${vmId} is not registered; deleting the state an earlier removal left, after ${Math.ceil(waitMs / 1000)} s for warm functions to drop it`,
  );
  return deleteStateAfter(t, lease, vmId, waitMs);
}

/**
 * Waits `waitMs` (warm functions drop the VM's cached config), then — the lease confirmed still this
 * command's — deletes the VM's `state/` and `deltas/` objects.
 */
async function deleteStateAfter(
  t: FleetTarget,
  lease: HeldAdminLease,
  vmId: string,
  waitMs: number,
): Promise<VmRemoved> {
  await (t.sleep ?? realSleep)(waitMs);
  await lease.check();
  let deleted = 0;
  for (const prefix of [`${STATE_PREFIX}${vmId}/`, `${DELTA_PREFIX}${vmId}/`]) {
    deleted += await emptyBucket(t.clients.s3, t.outputs.bucketName, prefix);
  }
  return { vmId, deletedObjects: deleted };
}

/**
 * Waits until neither node of the VM is inside a transaction or a background load or has work left in its
 * outbox ({@link inFlight}; judged from its documents when `params` could be read), and its node documents and logs have not
 * changed for 3 s — at most {@link REMOVE_SETTLE_TIMEOUT_MS}. The shared queues are not watched: other VMs
 * keep them busy. Unregistering a VM whose last transaction is still crossing would drop its last messages
 * (a secondary that committed an epoch its primary never recorded).
 *
 * @returns False when it timed out.
 */
async function settle(
  t: FleetTarget,
  vmId: string,
  state: S3StateStore,
  params: ColoParams | undefined,
): Promise<boolean> {
  const sleep = t.sleep ?? realSleep;
  const start = Date.now();
  let last = '';
  let since = Date.now();
  while (Date.now() - start < REMOVE_SETTLE_TIMEOUT_MS) {
    const listed = await t.clients.s3.send(
      new ListObjectsV2Command({ Bucket: t.outputs.bucketName, Prefix: `${STATE_PREFIX}${vmId}/` }),
    );
    const snapshot = (listed.Contents ?? [])
      .filter((o) => !o.Key?.includes('/timers/') && !o.Key?.endsWith('/control.json'))
      .map((o) => `${o.Key}@${o.ETag}`)
      .join(',');
    if (snapshot !== last || (params !== undefined && (await inFlight(state, params)))) {
      last = snapshot;
      since = Date.now();
    } else if (Date.now() - since >= 3000) return true;
    await sleep(500);
  }
  return false;
}

/** Secondary phases with nothing arriving from the primary (every other phase is a transfer under way). */
const SECONDARY_QUIET: ReadonlySet<SecondaryPhase> = new Set([
  'starting',
  'idle',
  'claiming',
  'failed-over',
  'fenced',
]);

/**
 * True when either node of the VM is inside a checkpoint or a background load, or has a send or a record
 * other than a routine one waiting for its batch left in its outbox (`outboxBusy`: what `colo vm remove`
 * waits out before unregistering the VM — a stopped primary keeps its batched pending-check records).
 *
 * @throws whatever the store throws (a document that does not decode counts as holding nothing).
 */
export async function inFlight(state: StateStore, params: ColoParams): Promise<boolean> {
  // A document that does not decode holds nothing in flight (no function can step it either): the
  // removal goes on, and `--delete-state` deletes it.
  const unreadable = (e: unknown) => {
    if (e instanceof StateDocumentError) return undefined;
    throw e;
  };
  const p = await readPrimaryDocument(state, params).catch(unreadable);
  const s = await readSecondaryDocument(state, params).catch(unreadable);
  return (
    (p !== undefined && (p.state.phase.startsWith('ckpt-') || outboxBusy(p.outbox))) ||
    (s !== undefined && (!SECONDARY_QUIET.has(s.state.phase) || outboxBusy(s.outbox)))
  );
}

/** Parses the stack's `VmConfigJson` output (the VM its deploy registers). @throws VmAdminError */
export function deployedVmConfig(outputs: StackOutputs): VmConfig {
  if (!outputs.vmConfigJson) {
    throw new VmAdminError(
      `stack ${outputs.stackName} has no VmConfigJson output: redeploy it from this repository`,
    );
  }
  return parseVmConfig(outputs.vmConfigJson);
}
