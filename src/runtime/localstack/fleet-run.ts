/**
 * A fleet on one deployed stack, on the wall clock: VMs added with `colo vm add`'s code, left to run on the
 * stack's own timers (the shared tick queues, armed by the watchdog), then stopped and checked one by one
 * with the same replica checks as `colo run --backend localstack` (every commit equals the PVM at that
 * checkpoint's stop, nothing refused, retired or dead-lettered). Used by the fleet integration test and by
 * `npm run fleet:localstack`.
 */
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { markFailedOver } from '../../../lambda/handlers/common/control.ts';
import { memoryDigest } from '../../engine/memory/digest.ts';
import type { CheckpointRecord } from '../../engine/metrics/records.ts';
import { type ColoParams, pageCount } from '../../engine/params.ts';
import type { VmConfig } from '../../parameters/vm-config.ts';
import { readLog } from '../cloud/metrics-log.ts';
import { readPrimaryDocument, readSecondaryDocument } from '../cloud/status.ts';
import type { Verification } from '../verify.ts';
import type { Clients } from './aws.ts';
import { verifyLogs } from './backend.ts';
import { deployedParams, type StackOutputs } from './stack.ts';
import { type FleetTarget, writeVm } from './vm-admin.ts';

/** Reason written to a VM's control document when a fleet run stops it. */
export const FLEET_STOP_REASON = 'stopped by the fleet run';

/** Adds `configs` to the stack, `concurrency` at a time; returns the VMs whose timers could not be armed at once. */
export async function addFleet(
  t: FleetTarget,
  configs: readonly VmConfig[],
  concurrency = 8,
): Promise<string[]> {
  const late: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < configs.length) {
      const c = configs[next++] as VmConfig;
      const r = await writeVm(t, c);
      if ('error' in r.timers) late.push(c.vmId);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, configs.length) }, worker));
  return late;
}

/** Commits the secondary of `vmId` has logged so far. */
export async function commitsOf(clients: Clients, outputs: StackOutputs, vmId: string): Promise<number> {
  const state = new S3StateStore({ bucket: outputs.bucketName, client: clients.s3 });
  return (await readLog(state, vmId, 'secondary')).records.filter((r) => r.type === 'commit').length;
}

/** A VM's checks after its run. */
export interface FleetVmResult {
  /** VM id. */
  vmId: string;
  /** Replica checks (every commit = the PVM at that stop, nothing lost, refused or dead-lettered). */
  verification: Verification;
  /** Commits verified. */
  commits: number;
  /** Per checkpoint: request → commit acknowledged, ms (the primary's `messageMs + downtimeMs`). */
  latenciesMs: number[];
  /** Background rounds the primary sent whole (its `round` records with `ok`). */
  rounds: number;
  /** Messages the two nodes sent. */
  messages: number;
}

/** Stops a VM's replication (its control flag: the chains end, as in `colo run --backend localstack`). */
export async function stopVm(clients: Clients, outputs: StackOutputs, vmId: string): Promise<void> {
  const state = new S3StateStore({ bucket: outputs.bucketName, client: clients.s3 });
  await markFailedOver(state, vmId, FLEET_STOP_REASON, Date.now());
}

/**
 * Checks one VM of the fleet (stop it and let in-flight work finish first). `dlq` is the depth of the
 * shared channel DLQs: any message there fails every VM's check (isolation: none may be refused). `known`:
 * the VM's parameters when it is no longer registered.
 */
export async function verifyFleetVm(
  clients: Clients,
  outputs: StackOutputs,
  vmId: string,
  facts: { quiet: boolean; dlq: number },
  known?: ColoParams,
): Promise<FleetVmResult> {
  // A removed VM has no config left to read: the caller passes what it ran with.
  const params = known ?? (await deployedParams(clients, outputs, vmId));
  const state = new S3StateStore({ bucket: outputs.bucketName, client: clients.s3 });
  const primaryLog = (await readLog(state, vmId, 'primary')).records;
  const secondaryLog = (await readLog(state, vmId, 'secondary')).records;
  const checkpoints: CheckpointRecord[] = primaryLog.flatMap((r) =>
    r.type === 'checkpoint' ? [r.data] : [],
  );
  const primary = await readPrimaryDocument(state, params);
  const secondary = await readSecondaryDocument(state, params);
  const empty = new Uint32Array(pageCount(params));
  const final = {
    committedDigest: memoryDigest(params.seed, secondary?.state.committed ?? empty),
    committedEpoch: secondary?.state.committedEpoch ?? 0,
  };
  const verification = verifyLogs(params, checkpoints, primaryLog, secondaryLog, final, {
    quiet: facts.quiet,
    dlq: facts.dlq,
    started: primary !== undefined && secondary !== undefined,
  });
  return {
    vmId,
    verification,
    commits: secondaryLog.filter((r) => r.type === 'commit').length,
    latenciesMs: checkpoints.map((c) => c.messageMs + c.downtimeMs),
    rounds: primaryLog.filter((r) => r.type === 'round' && r.data.ok).length,
    messages: (primary?.state.outSeq ?? 0) + (secondary?.state.outSeq ?? 0),
  };
}

/** The `p`-th percentile (0–100) of `values` (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}
