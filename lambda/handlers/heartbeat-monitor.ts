/**
 * `heartbeat-monitor`: the secondary's timer. Three kinds of event:
 * - the stack's **monitor** chain (SQS, `"vmId": "_fleet"`, every 2 s; the deployed entry point): steps the
 *   secondaries that have something due, each handed the pulse's evidence of its primary
 *   (common/monitor.ts, docs/cloud.md "The pulse and the monitor");
 * - a VM's own heartbeat tick chain (SQS; `createHeartbeatMonitorHandler`, which the handler tests and the
 *   simulator drive — a stack no longer arms it): claims each tick and enqueues the next one 2 s on, starts
 *   the secondary if it has not started (it sends `checkpoint-ready`), hands it the primary as the
 *   primary's document shows it (`readPrimarySeen`) and ticks it — its watchdog fails over after
 *   `HEARTBEAT_TIMEOUT_MS` without evidence of the primary, and deadlines and commits run — then sends an
 *   early copy of the next tick at the secondary's next wake when that falls sooner;
 * - a failover request, invoked directly (QEMU's `x-colo-lost-heartbeat`):
 *   `{ "source": "colo.failover", "vmId": "vm-0" }` → the secondary takes over (after a commit in progress).
 * Either way, a failover sets the control flag so that every timer chain ends.
 * Environment: stack-wide — `BUCKET_NAME`, the tick queue URLs, and `S2P_QUEUE_URL` (the secondary's
 * replies: `checkpoint-ready`, and a `vmstate-loaded` whose commit ends on this tick).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse } from 'aws-lambda';
import { z } from 'zod';
import type { StateStore, Versioned } from '../../src/engine/ports.ts';
import type { PrimarySeen } from '../../src/engine/secondary/heartbeat.ts';
import {
  FailoverWithoutStateError,
  readPrimarySeen,
  secondaryInvocation,
} from '../../src/runtime/cloud/index.ts';
import { nodeStateKey } from '../../src/runtime/cloud/keys.ts';
import { ENV } from '../adapters/contract.ts';
import type { ControlDocument } from './common/control.ts';
import { lazyHandler, type TickConsumerDeps, tickConsumerDepsFromEnv } from './common/deps.ts';
import { recordFailover } from './common/failover.ts';
import { createFleetEntry } from './common/fleet-entry.ts';
import { runMonitor } from './common/monitor.ts';
import { reportInvocation } from './common/observability.ts';
import { InvalidEventError, looksLikeSqsEvent, parseSqsEvent } from './common/sqs.ts';
import { stackChainFromEnv } from './common/stack-entry.ts';
import { consumeTicks } from './common/tick-consumer.ts';

/** A direct failover request. */
export interface FailoverRequest {
  /** Always `colo.failover`. */
  source: 'colo.failover';
  /** VM to fail over (must be this function's). */
  vmId: string;
}

/** The answer to a failover request. */
export interface FailoverResponse {
  /** VM id. */
  vmId: string;
  /** True when the secondary has taken over. */
  failedOver: boolean;
  /** The secondary's phase afterwards (`unreadable` when its state document cannot be read). */
  phase: string;
  /** Who holds the fence, when the document could not be read and the fence was claimed anyway. */
  fence?: 'primary' | 'secondary';
  /** Why the failover could not take over, when it could not. */
  error?: string;
}

const failoverSchema = z.strictObject({ source: z.literal('colo.failover'), vmId: z.string().min(1) });

/**
 * Validates a direct failover request for VM `vmId` (the decoder of the handler's non-SQS events).
 *
 * @throws InvalidEventError when `event` is not a failover request, or names another VM.
 */
export function parseFailoverRequest(event: unknown, vmId: string): FailoverRequest {
  const request = failoverSchema.safeParse(event);
  if (!request.success) {
    throw new InvalidEventError(
      'expected an SQS event of heartbeat ticks or {"source":"colo.failover","vmId":…}',
    );
  }
  if (request.data.vmId !== vmId) {
    throw new InvalidEventError(`failover requested for VM ${request.data.vmId}; this is VM ${vmId}`);
  }
  return request.data;
}

/** Metric: ticks that could not read the primary's document (the watchdog judges without it). */
export const PRIMARY_UNSEEN_METRIC = 'PrimaryDocumentUnread';

/**
 * The primary as its document shows it (the cloud runtime's heartbeat, primary-seen.ts), or undefined when
 * it shows nothing usable. A read that fails is logged and counted, never thrown: the tick goes on without
 * the evidence, so the watchdog judges by what it last stored (at most the slack behind the last evidence)
 * — a primary that cannot be read long enough is silent, as one whose heartbeats are lost.
 */
async function primarySeen(deps: TickConsumerDeps): Promise<PrimarySeen | undefined> {
  try {
    return await readPrimarySeen(deps.ports.state, deps.params.vmId);
  } catch (e) {
    deps.obs.metrics.addMetric(PRIMARY_UNSEEN_METRIC, MetricUnit.Count, 1);
    deps.obs.logger.warn("primary's document not read; the watchdog judges without it", {
      error: e instanceof Error ? e.message : String(e),
    });
    return undefined;
  }
}

/**
 * `store` with the first successful load of `key` kept for the caller's lifetime (one event): the tick's
 * sibling check and its evidence both read the primary's document, and one GET serves both. Only loads
 * of `key` are kept, and only this handler's loads; it never writes that key. A failed load is not kept.
 */
function readingOnce(store: StateStore, key: string): StateStore {
  let kept: Versioned<Uint8Array> | undefined;
  let loaded = false;
  return {
    load: async (k) => {
      if (k !== key) return store.load(k);
      if (!loaded) {
        kept = await store.load(k);
        loaded = true;
      }
      return kept ? { value: kept.value.slice(), etag: kept.etag } : undefined;
    },
    save: (k, value, etag) => store.save(k, value, etag),
    ...(store.list ? { list: store.list.bind(store) } : {}),
    ...(store.delete ? { delete: store.delete.bind(store) } : {}),
  };
}

/** The handler over explicit dependencies. */
export function createHeartbeatMonitorHandler(
  deps: TickConsumerDeps,
): (event: unknown) => Promise<SQSBatchResponse | FailoverResponse> {
  const invoke = (inputs: Parameters<typeof secondaryInvocation>[3], control?: ControlDocument) =>
    secondaryInvocation(deps.ports, deps.params, deps.now, inputs, {
      ...deps.options,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      ...(control ? { control } : {}),
    });
  return async (event) => {
    if (looksLikeSqsEvent(event)) {
      // The sibling check and the evidence read the primary's document once between them (this event only).
      const state = readingOnce(deps.ports.state, nodeStateKey(deps.params.vmId, 'primary'));
      const tickDeps: TickConsumerDeps = { ...deps, ports: { ...deps.ports, state } };
      // The chain follows the secondary's wake (the heartbeat watchdog, a wait deadline): a quiet
      // secondary is ticked every 2 s, and a silent primary is seen when its timeout falls due.
      return consumeTicks(
        tickDeps,
        'heartbeat',
        parseSqsEvent(event),
        async (control) => {
          const seen = await primarySeen(tickDeps);
          // The evidence first: a `start` stepped at a due wake runs the watchdog too.
          const result = await invoke(
            [
              ...(seen ? [{ type: 'primary-seen' as const, ...seen }] : []),
              { type: 'start' },
              { type: 'tick' },
            ],
            control,
          );
          reportInvocation(deps.obs, result);
          await recordFailover(deps, result.document);
          return { wakeAt: result.document.wakeAt };
        },
        { followWake: true },
      );
    }
    const request = parseFailoverRequest(event, deps.params.vmId);
    deps.obs.logger.warn('failover requested', { vmId: request.vmId });
    let result: Awaited<ReturnType<typeof invoke>>;
    try {
      result = await invoke([{ type: 'failover' }]);
    } catch (e) {
      if (!(e instanceof FailoverWithoutStateError)) throw e;
      // No committed image to take over from; the fence was claimed all the same (docs/cloud-runtime.md).
      deps.obs.logger.error('failover without a readable state document', {
        fence: e.owner,
        error: e.message,
      });
      deps.obs.metrics.publishStoredMetrics();
      return {
        vmId: deps.params.vmId,
        failedOver: false,
        phase: 'unreadable',
        fence: e.owner,
        error: e.message,
      };
    }
    reportInvocation(deps.obs, result);
    const failedOver = await recordFailover(deps, result.document);
    deps.obs.metrics.publishStoredMetrics();
    return { vmId: deps.params.vmId, failedOver, phase: result.document.state.phase };
  };
}

/**
 * Lambda entry point: the stack's **monitor** on the heartbeat tick queue (common/monitor.ts: the monitor
 * chain's ticks, every 2 s for the whole stack, step the secondaries that have something due), and a direct
 * failover request for one VM (`{"source":"colo.failover","vmId":…}`), routed to that VM's handler.
 */
export const handler = lazyHandler<unknown, SQSBatchResponse | FailoverResponse>(() => {
  const env = process.env;
  const service = env[ENV.serviceName] || 'heartbeat-monitor';
  const {
    handle: monitor,
    registry,
    obs,
  } = stackChainFromEnv(
    env,
    'monitor',
    service,
    (vmEnv) => tickConsumerDepsFromEnv('secondary', 'heartbeat', 'heartbeat-monitor', vmEnv),
    runMonitor,
  );
  const failover = createFleetEntry(
    service,
    { kind: 'tick' },
    registry,
    (vmEnv) =>
      createHeartbeatMonitorHandler(
        tickConsumerDepsFromEnv('secondary', 'heartbeat', 'heartbeat-monitor', vmEnv),
      ),
    env,
    obs,
  );
  return async (event) =>
    (looksLikeSqsEvent(event) ? monitor(parseSqsEvent(event)) : failover(event)) as Promise<
      SQSBatchResponse | FailoverResponse
    >;
});
