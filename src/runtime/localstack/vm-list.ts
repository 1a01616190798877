/**
 * `colo vm list`: every registered VM with what it is doing — replicating (and its primary's epoch at the
 * pulse's last step), stopped (by whom), or failed over (which side won the fence) — from one read of the
 * stack's pulse document and one control-document read per VM. An operator sees at a glance the VM an
 * interrupted `colo vm remove` left stopped, or the one that failed over, without a `show` per VM.
 */
import { PULSE_DOCUMENT_KEY } from '../../../lambda/adapters/contract.ts';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { listAllVms, S3VmRegistry } from '../../../lambda/adapters/s3-vm-registry.ts';
import type { FenceOwner } from '../../engine/effects.ts';
import type { StateStore } from '../../engine/ports.ts';
import { VmConfigError } from '../../parameters/vm-config.ts';
import { type ControlDocument, readControl, VM_REMOVED_REASON } from '../cloud/control.ts';
import { pool } from '../cloud/pool.ts';
import { type PulseVm, parsePulse } from '../cloud/pulse-document.ts';
import { FAILED_OVER_HINT, type FleetTarget, MALFORMED_CONFIG_HINT, STOPPED_HINT } from './vm-admin.ts';

/** Control documents read at once. */
export const LIST_CONCURRENCY = 16;

/**
 * What a registered VM is doing: `replicating` (no side has stopped it), `stopped` (an operator stopped it:
 * an interrupted or running `colo vm remove`), `failed-over` (one side won the fence; replication ended),
 * `unknown` (its control document could not be read).
 */
export type VmListState = 'replicating' | 'stopped' | 'failed-over' | 'unknown';

/** One line of `colo vm list`. */
export interface VmListEntry {
  /** VM id. */
  vmId: string;
  /** What it is doing. */
  state: VmListState;
  /** The side that won the fence (`failed-over` only). */
  owner?: FenceOwner;
  /** Why it stopped or failed over (as its control document says), or why its state is unknown. */
  reason?: string;
  /** What the operator can do about it (an unfinished `colo vm remove`, a failover, a config that does not decode). */
  hint?: string;
  /** When it stopped or failed over, ms since the Unix epoch. */
  at?: number;
  /** Its primary's epoch (checkpoints since it started) when the pulse last saw it replicating. */
  epoch?: number;
  /** When the pulse last stepped its primary, ms since the Unix epoch (absent: never stepped). */
  steppedAt?: number;
  /** Pulse steps of it that failed in a row (absent or 0: the last one succeeded). */
  failures?: number;
  /** True while its primary waits for its secondary's first `checkpoint-ready` (a new or reset VM). */
  waiting?: true;
}

/** What an operator does about a VM that an unfinished `colo vm remove` left stopped. */
export const REMOVE_UNFINISHED_HINT =
  'not yet unregistered: that remove is still running or was interrupted (run it again to finish it; then colo vm add resumes the VM)';

/**
 * The list entry of one VM from its control document (or the error reading it), its pulse entry, and the
 * error reading its stored config if that failed (`configError`: a VmConfigError when it does not
 * decode). Pure.
 */
export function vmListEntry(
  vmId: string,
  control: ControlDocument | Error,
  pulse?: PulseVm,
  configError?: Error,
): VmListEntry {
  const seen: Partial<VmListEntry> = {
    ...(pulse ? { steppedAt: pulse.steppedAt } : {}),
    ...(pulse?.seen ? { epoch: pulse.seen.epoch } : {}),
    ...(pulse && pulse.failures > 0 ? { failures: pulse.failures } : {}),
  };
  if (configError !== undefined) {
    // A config that does not decode has a way out; a read that failed is only reported.
    const hint = configError instanceof VmConfigError ? { hint: MALFORMED_CONFIG_HINT(vmId) } : {};
    return { vmId, state: 'unknown', reason: configError.message, ...hint, ...seen };
  }
  if (control instanceof Error) return { vmId, state: 'unknown', reason: control.message, ...seen };
  const when = control.at === null ? {} : { at: control.at };
  if (control.owner !== null) {
    return {
      vmId,
      state: 'failed-over',
      owner: control.owner,
      hint: FAILED_OVER_HINT(vmId),
      ...(control.reason === null ? {} : { reason: control.reason }),
      ...when,
      ...seen,
    };
  }
  if (control.failedOver) {
    const hint = { hint: control.reason === VM_REMOVED_REASON ? REMOVE_UNFINISHED_HINT : STOPPED_HINT(vmId) };
    return { vmId, state: 'stopped', reason: control.reason ?? 'stopped', ...hint, ...when, ...seen };
  }
  return { vmId, state: 'replicating', ...seen, ...(pulse?.waiting ? { waiting: true as const } : {}) };
}

/**
 * What each of `ids` is doing, in their order, from `store` (the stack's state store): the pulse document
 * read once, a control document per VM, {@link LIST_CONCURRENCY} at a time. A control document that cannot
 * be read makes that VM `unknown` (the others are still listed); a pulse document that cannot be read
 * leaves out the pulse's figures.
 */
export async function vmStates(
  store: StateStore,
  ids: readonly string[],
  configError: (vmId: string) => Promise<Error | undefined> = async () => undefined,
): Promise<VmListEntry[]> {
  const pulse = await store
    .load(PULSE_DOCUMENT_KEY)
    .then((d) => (d ? parsePulse(d.value, PULSE_DOCUMENT_KEY).vms : {}))
    .catch(() => ({}) as Record<string, PulseVm>);
  const entries = new Map<string, VmListEntry>();
  await pool(ids, LIST_CONCURRENCY, async (vmId) => {
    const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
    const [control, badConfig] = await Promise.all([
      readControl(store, vmId).catch(asError),
      configError(vmId).catch(asError),
    ]);
    entries.set(vmId, vmListEntry(vmId, control, pulse[vmId], badConfig));
  });
  return ids.map((vmId) => entries.get(vmId) as VmListEntry);
}

/**
 * Every registered VM of the stack, in key order, with what it is doing ({@link vmStates}); a VM whose
 * stored config does not decode is `unknown`, with what to do about it.
 */
export async function listVmStates(t: FleetTarget): Promise<VmListEntry[]> {
  const registry = new S3VmRegistry({ bucket: t.outputs.bucketName, client: t.clients.s3 });
  const ids = await listAllVms(registry);
  return vmStates(new S3StateStore({ bucket: t.outputs.bucketName, client: t.clients.s3 }), ids, (vmId) =>
    registry.get(vmId).then(
      () => undefined,
      (e: unknown) => (e instanceof VmConfigError ? e : Promise.reject(e)),
    ),
  );
}
