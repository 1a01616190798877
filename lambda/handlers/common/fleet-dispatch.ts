/**
 * One shared function, many VMs: an SQS batch is split by the VM each record names (a channel record by
 * its FIFO message group, a tick by its `vmId`), each VM's records go, in order, to the handler built for
 * that VM from its registered config, and the partial-batch answers are merged. A direct invocation
 * (failover request, virtual-clock step) goes to the VM its `vmId` names. Records of a VM that is not
 * registered never reach a VM's handler: they are refused (dead-lettered with the reason, or dropped).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Observability } from './observability.ts';
import { InvalidEventError, looksLikeSqsEvent, parseSqsEvent } from './sqs.ts';
import type { Resolved, VmDirectory } from './vm-directory.ts';

/** Per-invocation metrics of the dispatcher: records in the batch, and the distinct VMs they name. */
export const FLEET_BATCH_METRICS = { records: 'BatchRecords', vms: 'BatchVms' } as const;

/** A handler built for one VM. */
export type VmHandler = (event: unknown) => Promise<unknown>;

/** Records of VMs that were refused, and why. */
export interface RefusedRecords {
  /** The records. */
  records: SQSRecord[];
  /** The VM they name (undefined: none could be read). */
  vmId: string | undefined;
  /** `unregistered-vm`, `invalid-vm-config` or `no-vm`. */
  reason: string;
  /** One line for the log and the dead letter. */
  detail: string;
}

/** Options of {@link createFleetHandler}. */
export interface FleetHandlerOptions {
  /** Registered VMs and their handlers. */
  directory: VmDirectory<VmHandler>;
  /** The VM a record belongs to, or undefined when the record names none (it is refused as `no-vm`). */
  vmOfRecord: (record: SQSRecord) => string | undefined;
  /**
   * What becomes of refused records: `ack` after dead-lettering them (channels: redelivering cannot
   * succeed and would block a FIFO group) or dropping them with a log line (ticks of a VM that is gone: the
   * chain ends); `retry` reports them as failed, so the queue's redrive moves them to its dead-letter queue.
   */
  refuse: (refused: RefusedRecords) => Promise<'ack' | 'retry'>;
  /** Logger and metrics of the dispatcher. */
  obs: Observability;
}

/** The merged answer of several VMs' partial batches, in the batch's record order. */
function merge(event: SQSEvent, failed: Set<string>): SQSBatchResponse {
  return {
    batchItemFailures: event.Records.filter((r) => failed.has(r.messageId)).map((r) => ({
      itemIdentifier: r.messageId,
    })),
  };
}

/**
 * Splits a batch by VM (record order kept within each VM), in first-appearance order of the VMs.
 */
export function splitByVm(
  records: readonly SQSRecord[],
  vmOf: (r: SQSRecord) => string | undefined,
): { byVm: Map<string, SQSRecord[]>; unnamed: SQSRecord[] } {
  const byVm = new Map<string, SQSRecord[]>();
  const unnamed: SQSRecord[] = [];
  for (const r of records) {
    const vm = vmOf(r);
    if (vm === undefined) {
      unnamed.push(r);
      continue;
    }
    const list = byVm.get(vm);
    if (list) list.push(r);
    else byVm.set(vm, [r]);
  }
  return { byVm, unnamed };
}

/**
 * The fleet handler: SQS batches split by VM, direct invocations routed by their `vmId`.
 *
 * @throws InvalidEventError for a direct invocation naming no VM or a VM that is not registered.
 */
export function createFleetHandler(options: FleetHandlerOptions): (event: unknown) => Promise<unknown> {
  const { directory, obs } = options;
  return async (event) => {
    if (!looksLikeSqsEvent(event)) {
      const vmId = (event as { vmId?: unknown } | null)?.vmId;
      if (typeof vmId !== 'string' || vmId === '') {
        throw new InvalidEventError('the event names no VM (expected an SQS event or {"vmId": …, …})');
      }
      const r = await directory.resolve(vmId);
      if (!r.ok) throw new InvalidEventError(`${r.reason}: ${r.detail}`);
      return r.built(event);
    }
    const sqs = parseSqsEvent(event);
    const { byVm, unnamed } = splitByVm(sqs.Records, options.vmOfRecord);
    // Batch composition (scripts/fleet-invocations.ts reads them back): how many VMs share an invocation.
    obs.metrics.addMetric(FLEET_BATCH_METRICS.records, MetricUnit.Count, sqs.Records.length);
    obs.metrics.addMetric(FLEET_BATCH_METRICS.vms, MetricUnit.Count, byVm.size);
    const failed = new Set<string>();
    const refusals: RefusedRecords[] = [];
    if (unnamed.length > 0) {
      refusals.push({
        records: unnamed,
        vmId: undefined,
        reason: 'no-vm',
        detail: 'the record names no VM (no message group / unreadable tick)',
      });
    }
    // VMs are independent (each its own FIFO group, state and keys), so their records run side by side.
    await Promise.all(
      [...byVm].map(async ([vmId, records]) => {
        let resolved: Resolved<VmHandler>;
        try {
          resolved = await directory.resolve(vmId);
        } catch (e) {
          obs.logger.error('VM registry unreadable; the records will be delivered again', {
            vmId,
            error: e instanceof Error ? e.message : String(e),
          });
          for (const r of records) failed.add(r.messageId);
          return;
        }
        if (!resolved.ok) {
          refusals.push({ records, vmId, reason: resolved.reason, detail: resolved.detail });
          return;
        }
        try {
          const answer = (await resolved.built({ Records: records })) as SQSBatchResponse | undefined;
          for (const f of answer?.batchItemFailures ?? []) failed.add(f.itemIdentifier);
        } catch (e) {
          obs.logger.error('VM handler failed; its records will be delivered again', {
            vmId,
            error: e instanceof Error ? e.message : String(e),
          });
          for (const r of records) failed.add(r.messageId);
        }
      }),
    );
    for (const refused of refusals) {
      obs.logger.warn('records refused: VM not served by this stack', {
        vmId: refused.vmId ?? null,
        reason: refused.reason,
        detail: refused.detail,
        messageIds: refused.records.map((r) => r.messageId),
      });
      obs.metrics.addMetric('RecordsRefusedUnregistered', MetricUnit.Count, refused.records.length);
      if ((await options.refuse(refused)) === 'retry')
        for (const r of refused.records) failed.add(r.messageId);
    }
    obs.metrics.publishStoredMetrics();
    return merge(sqs, failed);
  };
}

/** The VM of a FIFO channel record: its message group (the sender sets it to the VM id). */
export function vmOfChannelRecord(record: SQSRecord): string | undefined {
  const group = record.attributes?.MessageGroupId;
  return typeof group === 'string' && group !== '' ? group : undefined;
}

/** The VM of a tick record: the `vmId` field of its JSON body (the tick itself is validated by the VM's consumer). */
export function vmOfTickRecord(record: SQSRecord): string | undefined {
  try {
    const vmId = (JSON.parse(record.body) as { vmId?: unknown } | null)?.vmId;
    return typeof vmId === 'string' && vmId !== '' ? vmId : undefined;
  } catch {
    return undefined;
  }
}
