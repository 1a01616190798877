/**
 * Lambda entry points of a fleet stack: the stack gives each function only stack-wide settings (bucket,
 * queue URLs, key secret, switches); a VM's parameters come from its registered config
 * (`vms/<vmId>.json`), laid over that environment, so the per-VM deps are built by the same
 * `*DepsFromEnv` factories a one-VM function used.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { vmConfigEnvironment } from '../../../src/parameters/vm-config.ts';
import { readControl, VM_REMOVED_REASON } from '../../../src/runtime/cloud/control.ts';
import { ENV, STACK_CHAIN_ID } from '../../adapters/contract.ts';
import { type Env, requireEnv, s3ClientFromEnv } from '../../adapters/env.ts';
import { S3VmRegistry, type VmConfigSource } from '../../adapters/s3-vm-registry.ts';
import type { DeadLetterSink } from '../../adapters/sqs-dead-letters.ts';
import { deadLettersFromEnv, lazyHandler } from './deps.ts';
import {
  createFleetHandler,
  type RefusedRecords,
  type VmHandler,
  vmOfChannelRecord,
  vmOfTickRecord,
} from './fleet-dispatch.ts';
import { type Observability, powertools } from './observability.ts';
import { stateStoreFromEnv } from './ports.ts';
import { VmDirectory } from './vm-directory.ts';

/** How a function's records name their VM. */
export type Routing =
  /** FIFO channel: the message group; refused records are dead-lettered on `dlqVariable`'s queue. */
  | { kind: 'channel'; dlqVariable: string }
  /** Tick queue: the tick's `vmId`; ticks of an unregistered VM are dropped (the chain ends). */
  | { kind: 'tick' };

/** The environment of one VM: the stack-wide environment with the VM's config variables over it. */
export function vmEnvironment(stackEnv: Env, config: Parameters<typeof vmConfigEnvironment>[0]): Env {
  return { ...stackEnv, ...vmConfigEnvironment(config) };
}

/** What to do with refused records, per routing. */
export function refusalPolicy(
  routing: Routing,
  service: string,
  obs: Observability,
  env: Env,
  now: () => number = Date.now,
  deadLetters: DeadLetterSink | undefined = routing.kind === 'channel'
    ? deadLettersFromEnv(routing.dlqVariable, env)
    : undefined,
  wasRemoved: (vmId: string) => Promise<boolean> = removedFromEnv(env),
): (refused: RefusedRecords) => Promise<'ack' | 'retry'> {
  if (routing.kind === 'tick') {
    // An unreadable tick goes the old way (failed → the tick queue's DLQ after 3 receives); a tick of a VM
    // that is gone is dropped, which ends its chain.
    return async (refused) => (refused.reason === 'no-vm' ? 'retry' : 'ack');
  }
  const sink = deadLetters;
  return async (refused) => {
    // A malformed VM config is an operator's slip (a hand edit, a half-written object), not the record's
    // fault: the record stays in its group (redelivered after the visibility timeout; the channel's
    // redrive dead-letters it after its receives run out) instead of being lost to a config fixed minutes
    // later (outside review: one message dead-lettered in 46 s of a bad config, then a false failover).
    if (refused.reason === 'invalid-vm-config') {
      obs.logger.error('VM config malformed: the records stay on the channel until it is fixed', {
        vmId: refused.vmId,
        detail: refused.detail,
        messageIds: refused.records.map((r) => r.messageId),
      });
      obs.metrics.addMetric('RecordsHeldInvalidConfig', MetricUnit.Count, refused.records.length);
      return 'retry';
    }
    // A VM removed with `colo vm remove` may still have records on the channel (a backlog longer than
    // remove's settling wait): they belong to no live VM and are expected, so they are dropped, not
    // dead-lettered as a fault. Never applied either way.
    if (
      refused.reason === 'unregistered-vm' &&
      refused.vmId !== undefined &&
      (await wasRemoved(refused.vmId))
    ) {
      obs.logger.info('records of a removed VM dropped', {
        vmId: refused.vmId,
        messageIds: refused.records.map((r) => r.messageId),
      });
      obs.metrics.addMetric('RecordsDroppedRemovedVm', MetricUnit.Count, refused.records.length);
      return 'ack';
    }
    if (!sink) return 'ack';
    const failed = await sink.forward(
      refused.records.map((r) => ({
        body: r.body,
        groupId: refused.vmId ?? 'no-vm',
        messageId: r.messageId,
        code: refused.reason,
        detail: refused.detail,
        rejectedBy: service,
        at: now(),
      })),
    );
    for (const f of failed) {
      obs.logger.error('refused record could not be dead-lettered; it is kept here', {
        error: f.error,
        letter: f.letter,
      });
    }
    return 'ack';
  };
}

/**
 * Whether a VM's control document says `colo vm remove` stopped it, from the function's bucket. A read
 * that fails answers false (the record is then dead-lettered as before: evidence is kept, never lost).
 */
function removedFromEnv(env: Env): (vmId: string) => Promise<boolean> {
  return async (vmId) => {
    try {
      return (await readControl(stateStoreFromEnv(env), vmId)).reason === VM_REMOVED_REASON;
    } catch {
      return false;
    }
  };
}

/**
 * A fleet function's handler over explicit parts (tests pass an in-memory registry).
 *
 * @param build - Builds one VM's handler from that VM's environment.
 */
export function createFleetEntry(
  service: string,
  routing: Routing,
  source: VmConfigSource,
  build: (vmEnv: Env) => VmHandler,
  env: Env = process.env,
  obs: Observability = powertools(service, STACK_CHAIN_ID),
): (event: unknown) => Promise<unknown> {
  const directory = new VmDirectory<VmHandler>({
    source,
    build: (config) => build(vmEnvironment(env, config)),
  });
  return createFleetHandler({
    directory,
    vmOfRecord: routing.kind === 'channel' ? vmOfChannelRecord : vmOfTickRecord,
    refuse: refusalPolicy(routing, service, obs, env),
    obs,
  });
}

/** The registry on the stack's bucket (`BUCKET_NAME`). */
export function registryFromEnv(env: Env = process.env): S3VmRegistry {
  return new S3VmRegistry({ bucket: requireEnv(ENV.bucketName, env), client: s3ClientFromEnv(env) });
}

/**
 * A Lambda entry point serving every registered VM: built on the first call, kept while warm, each
 * invocation's AWS usage recorded (`lazyHandler`, usage-report.ts).
 *
 * @param build - Builds one VM's handler from that VM's environment.
 */
export function fleetHandler<R>(
  service: string,
  routing: Routing,
  build: (vmEnv: Env) => VmHandler,
): (event: unknown) => Promise<R> {
  return lazyHandler<unknown, R>(() => {
    const h = createFleetEntry(process.env[ENV.serviceName] || service, routing, registryFromEnv(), build);
    return async (event) => (await h(event)) as R;
  });
}
