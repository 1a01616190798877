/** Structured logs and metrics (Powertools Logger and Metrics, EMF) for what an invocation did. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { type DeltaRetirement, type InvocationResult, NOT_DUE } from '../../../src/runtime/cloud/index.ts';
import { COLO_METRICS, METRIC_NAMESPACE } from '../../adapters/metrics-contract.ts';

export { METRIC_NAMESPACE };

/** The logger methods the handlers use (Powertools `Logger` has them). */
export interface LoggerLike {
  debug(message: string, extra: Record<string, unknown>): void;
  info(message: string, extra: Record<string, unknown>): void;
  warn(message: string, extra: Record<string, unknown>): void;
  error(message: string, extra: Record<string, unknown>): void;
}

/** The metrics methods the handlers use (Powertools `Metrics` has them). */
export interface MetricsLike {
  addMetric(name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number): void;
  publishStoredMetrics(): void;
}

/** Logger and metrics of one function. */
export interface Observability {
  /** Structured logger. */
  logger: LoggerLike;
  /** Metrics, flushed once per invocation. */
  metrics: MetricsLike;
}

/**
 * Powertools logger and metrics for `service` (a function name). Every metric has the one dimension
 * `service` (the function), never the VM id: a fleet of N VMs keeps a fixed set of metric series (the
 * stack's alarms and dashboard read exactly these), and each log line carries `vmId` to find the VM.
 */
export function powertools(service: string, vmId: string): Observability {
  return {
    logger: new Logger({ serviceName: service, persistentKeys: { vmId } }),
    metrics: new Metrics({ namespace: METRIC_NAMESPACE, serviceName: service }),
  };
}

/**
 * Logs (warning) and counts (`DeltaObjectsTakenBack`) each delta key the sealed store took back from a
 * foreign object: only someone with write access to the bucket and without the VM's key can have put it
 * there, which an operator wants to hear of even though replication goes on.
 */
export function deltaTakeBackReporter(obs: Observability): (key: string, why: string) => void {
  return (key, why) => {
    obs.logger.warn('delta key taken back from a foreign object', { key, found: why });
    obs.metrics.addMetric(COLO_METRICS.deltaObjectsTakenBack, MetricUnit.Count, 1);
  };
}

/** Logs and counts what one invocation of a node did. */
export function reportInvocation(
  obs: Observability,
  result: InvocationResult<unknown> & { consumedDeltas?: DeltaRetirement },
  messageIds?: readonly string[],
): void {
  const { logger, metrics } = obs;
  const count = (name: string, value: number): void => {
    if (value > 0) metrics.addMetric(name, MetricUnit.Count, value);
  };
  const statuses = { applied: 0, duplicate: 0, rejected: 0, failed: 0 };
  // A tick before the node's next wake is acknowledged unstepped: routine, not a duplicate message.
  for (const o of result.outcomes) if (o.code !== NOT_DUE) statuses[o.status]++;
  count('InputsApplied', statuses.applied);
  count('InputsDuplicate', statuses.duplicate);
  count('InputsRejected', statuses.rejected);
  count('InputsFailed', statuses.failed);
  // A delta whose object failed authentication (its message was authentic): counted with the messages that
  // failed it (lib/authenticate-records.ts), and logged at error level.
  count(
    'InputsUnauthenticated',
    result.outcomes.filter((o) => o.status === 'rejected' && o.code === 'unauthenticated').length,
  );
  count(COLO_METRICS.casConflicts, result.casConflicts);
  count('MessagesSent', result.sent.length);
  count('OutboxReplayedSends', result.replayed);
  count('OutboxRebuiltPayloads', result.rebuilt);
  count('SendsDroppedAfterExit', result.droppedAfterExit);
  // Saves left out after a heartbeat-only send (the next invocation sends those heartbeats again first).
  count('SavesDeferred', result.deferredSaves);
  // The secondary deletes the objects it consumed; one it could not delete waits for the lifecycle rule.
  const consumed = result.consumedDeltas;
  if (consumed) {
    count('DeltasDeleted', consumed.deleted);
    count('DeltaDeletesFailed', consumed.failed);
    if (consumed.failed > 0) {
      logger.warn('consumed delta objects not deleted', {
        failed: consumed.failed,
        error: consumed.firstError,
        detail: "they stay until the bucket's lifecycle rule expires them; nothing else changes",
      });
    }
  }
  if (result.logDeferred) {
    count('LogAppendsDeferred', 1);
    logger.warn('metrics log append failed', {
      detail: 'its records stay in the node document for the next invocation',
    });
  }
  for (const o of result.outcomes) {
    // Which message: its SQS message id (when the caller knows it), type and sequence number.
    const which = {
      index: o.index,
      ...(messageIds?.[o.index] !== undefined ? { messageId: messageIds[o.index] } : {}),
      ...(o.message ? { type: o.message.type, seq: o.message.seq } : {}),
    };
    if (o.status === 'rejected') {
      const fields = { ...which, code: o.code, detail: o.detail };
      if (o.code === 'unauthenticated') logger.error('input rejected', fields);
      else logger.warn('input rejected', fields);
    }
    if (o.status === 'failed') logger.warn('input failed', { ...which, code: o.code, detail: o.detail });
    if (o.status === 'duplicate' && o.code !== NOT_DUE) {
      logger.info('duplicate input acknowledged', { ...which, detail: o.detail });
    }
  }
  for (const r of result.records) {
    switch (r.type) {
      case 'checkpoint':
        count(COLO_METRICS.checkpoints, 1);
        metrics.addMetric(COLO_METRICS.checkpointDowntime, MetricUnit.Milliseconds, r.data.downtimeMs);
        metrics.addMetric('CheckpointPages', MetricUnit.Count, r.data.pages);
        logger.info('checkpoint', { ...r.data });
        break;
      case 'round':
        count(COLO_METRICS.backgroundRounds, 1);
        metrics.addMetric('BackgroundPages', MetricUnit.Count, r.data.pages);
        logger.info('background round', { ...r.data });
        break;
      case 'pending-check':
        count('PendingChecks', 1);
        logger.debug('pending check', { ...r.data });
        break;
      case 'commit':
        count(COLO_METRICS.commits, 1);
        logger.info('commit', { ...r.data });
        break;
      case 'colo-exit':
        // Failover and fenced are the fence working; an error exit (the primary runs alone) is the alarm.
        count(
          r.data.reason === 'failover'
            ? COLO_METRICS.failovers
            : r.data.reason === 'fenced'
              ? 'Fenced'
              : 'ColoExits',
          1,
        );
        (r.data.reason === 'error' ? logger.error : logger.warn).call(logger, 'colo exit', { ...r.data });
        break;
      case 'send-retired':
        count(COLO_METRICS.sendsRetired, 1);
        logger.error('send retired: its object could not be stored; a skip went in its place', { ...r.data });
        break;
      case 'log-dropped':
        count('LogRecordsDropped', r.data.dropped);
        logger.error('log records dropped: the metrics log could not be appended', { ...r.data });
        break;
    }
  }
  const traces = result.effects.filter((e) => e.type === 'trace');
  // A background round the secondary gave up (its deadline passed): the round's pages are sent again.
  count(
    COLO_METRICS.roundsAbandoned,
    traces.filter((e) => e.name === 'colo_background_round_abandoned').length,
  );
  if (traces.length > 0) logger.debug('trace', { events: traces });
  // A routine invocation (a tick that sent at most heartbeats and logged at most pending checks) logs its
  // summary at debug level: at one a second per chain it would be most of the log bill (docs/cloud.md).
  const routine =
    statuses.rejected + statuses.failed === 0 &&
    result.casConflicts === 0 &&
    result.droppedAfterExit === 0 &&
    result.sent.every((m) => m.type === 'heartbeat') &&
    result.records.every((r) => r.type === 'pending-check');
  (routine ? logger.debug : logger.info).call(logger, 'invocation', {
    phase: (result.document.state as { phase?: string }).phase,
    revision: result.document.revision,
    wakeAt: Number.isFinite(result.document.wakeAt) ? result.document.wakeAt : null,
    outcomes: statuses,
    sent: result.sent.length,
    // What left, in order (a checkpoint's start shows as a checkpoint-request): at most the first 32.
    messages: result.sent.slice(0, 32).map((m) => ({
      type: m.type === 'delta' ? `delta(${m.kind})` : m.type,
      epoch: m.epoch,
      seq: m.seq,
    })),
    casConflicts: result.casConflicts,
    // Stopped after a conflict: the writer that saved performs the sends left (driver.ts).
    ...(result.leftToConcurrent ? { leftToConcurrent: true } : {}),
    // Replication had ended for this node: its leftover sends were dropped, not performed (driver.ts).
    ...(result.droppedAfterExit > 0 ? { droppedAfterExit: result.droppedAfterExit } : {}),
  });
}
