/**
 * Lambda entry points of the stack's two chains (stack-chain.ts): `pending-check-timer` runs the pulse,
 * `heartbeat-monitor` the monitor. A batch's stack ticks go to the chain; a tick of a VM's own
 * `pending-check` or `heartbeat` chain (a stack deployed before the pulse, or a chain armed by hand) is
 * dropped with a log line, which ends that chain: the stack's chain does its work now. A record that
 * names no VM at all (not a tick) fails, with the parser's reason in the log.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { VmConfig } from '../../../src/parameters/vm-config.ts';
import { STACK_CHAIN_ID, type StackTimerName } from '../../adapters/contract.ts';
import type { Env } from '../../adapters/env.ts';
import { listAllVms, type VmRegistry } from '../../adapters/s3-vm-registry.ts';
import type { NodeHandlerDeps } from './deps.ts';
import { vmOfTickRecord } from './fleet-dispatch.ts';
import { registryFromEnv, vmEnvironment } from './fleet-entry.ts';
import { type Observability, powertools } from './observability.ts';
import { stateStoreFromEnv, tickSchedulerFromEnv } from './ports.ts';
import { parseSqsEvent } from './sqs.ts';
import { consumeStackTicks, type StackChainDeps } from './stack-chain.ts';
import type { StackStepDeps } from './stack-steps.ts';
import { measurePart, VM_PART } from './usage-report.ts';
import { VmDirectory } from './vm-directory.ts';

/** How long a listing of the registered VMs is reused, ms (one LIST per stack per period, not per tick). */
export const VM_LIST_TTL_MS = 10_000;

/**
 * The registered VMs, listed at most once per `ttlMs` (a VM added is stepped within that; `colo vm add`
 * waits for its first checkpoint anyway). A failed listing is not kept.
 */
export function cachedVmList(
  registry: VmRegistry,
  now: () => number = Date.now,
  ttlMs = VM_LIST_TTL_MS,
): () => Promise<readonly string[]> {
  let kept: { at: number; vms: readonly string[] } | undefined;
  return async () => {
    const t = now();
    if (kept && t - kept.at < ttlMs) return kept.vms;
    const vms = await listAllVms(registry);
    kept = { at: t, vms };
    return vms;
  };
}

/** A directory of per-VM deps built from each VM's config laid over the stack's environment. */
export function vmDepsDirectory(
  registry: VmRegistry,
  env: Env,
  build: (vmEnv: Env) => NodeHandlerDeps,
): (vmId: string) => Promise<NodeHandlerDeps | undefined> {
  const directory = new VmDirectory<NodeHandlerDeps>({
    source: registry,
    build: (config: VmConfig) => build(vmEnvironment(env, config)),
  });
  return async (vmId) => {
    const r = await directory.resolve(vmId);
    return r.ok ? r.built : undefined;
  };
}

/**
 * A stack chain's SQS handler: the stack's ticks of `timer` to the chain (its work once per batch), a VM's
 * ticks dropped.
 */
export function createStackTickHandler(
  timer: StackTimerName,
  chain: StackChainDeps,
  work: () => Promise<unknown>,
  obs: Observability,
): (event: SQSEvent) => Promise<SQSBatchResponse> {
  return async (event) => {
    const sqs = parseSqsEvent(event);
    // A record that names no VM is the chain's to refuse: parseTick says what is wrong with it, and the
    // record fails (redelivered, then dead-lettered), as a VM chain's unreadable tick does.
    const isMine = (r: SQSEvent['Records'][number]) => {
      const vm = vmOfTickRecord(r);
      return vm === undefined || vm === STACK_CHAIN_ID;
    };
    const mine = sqs.Records.filter(isMine);
    const others = sqs.Records.filter((r) => !isMine(r));
    if (others.length > 0) {
      obs.logger.warn("ticks of a VM's own chain dropped: the stack's chain serves it", {
        timer,
        messageIds: others.map((r) => r.messageId),
        vmIds: [...new Set(others.map((r) => vmOfTickRecord(r) ?? null))],
      });
      obs.metrics.addMetric('TicksDroppedVmChain', MetricUnit.Count, others.length);
      if (mine.length === 0) obs.metrics.publishStoredMetrics();
    }
    if (mine.length === 0) return { batchItemFailures: [] };
    return consumeStackTicks(chain, timer, { Records: mine }, work);
  };
}

/** A stack chain's entry point as {@link stackChainFromEnv} builds it. */
export interface StackChainEntry {
  /** The stack chain's SQS handler ({@link createStackTickHandler}). */
  handle: (event: SQSEvent) => Promise<SQSBatchResponse>;
  /** The stack's VM registry. */
  registry: VmRegistry;
  /** Logger and metrics of the function. */
  obs: Observability;
}

/**
 * Builds a stack chain's entry point from the stack's environment: its registry, state store and both
 * chains' tick queues, the per-VM deps `vmDeps` builds from each VM's environment, and `run` — the chain's
 * steps (the pulse's or the monitor's), their per-VM part measured apart for the cost model.
 */
export function stackChainFromEnv(
  env: Env,
  timer: StackTimerName,
  service: string,
  vmDeps: (vmEnv: Env) => NodeHandlerDeps,
  run: (deps: StackStepDeps) => Promise<unknown>,
): StackChainEntry {
  const registry = registryFromEnv(env);
  const state = stateStoreFromEnv(env);
  // The stack's own lines name no VM: `_fleet` is no VM id (review D: a VM named `fleet` mixed with them).
  const obs = powertools(service, STACK_CHAIN_ID);
  const steps: StackStepDeps = {
    state,
    vms: cachedVmList(registry),
    vmDeps: vmDepsDirectory(registry, env, vmDeps),
    now: Date.now,
    obs,
    measureSteps: (work) => measurePart(VM_PART, work),
  };
  const chain: StackChainDeps = {
    state,
    ticks: {
      pulse: tickSchedulerFromEnv('pending-check', env),
      monitor: tickSchedulerFromEnv('heartbeat', env),
    },
    now: Date.now,
    obs,
  };
  return { handle: createStackTickHandler(timer, chain, () => run(steps), obs), registry, obs };
}
