/**
 * The six handlers on in-memory ports and a virtual clock, with SQS events built the way Lambda's event
 * source mappings build them: what the stack does between invocations, done by hand.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import {
  TIMER_NAMES,
  type TickMessage,
  type TimerName,
  tickDelaySeconds,
} from '../../../lambda/adapters/contract.ts';
import type { DeadLetter } from '../../../lambda/adapters/sqs-dead-letters.ts';
import { createCheckpointTimerHandler } from '../../../lambda/handlers/checkpoint-timer.ts';
import {
  type NodeHandlerDeps,
  type RejectedDisposition,
  type TickConsumerDeps,
  withTestFaults,
} from '../../../lambda/handlers/common/deps.ts';
import { deltaTakeBackReporter, type Observability } from '../../../lambda/handlers/common/observability.ts';
import type { TickChainDeps, TickScheduler } from '../../../lambda/handlers/common/tick-chain.ts';
import { createHeartbeatMonitorHandler } from '../../../lambda/handlers/heartbeat-monitor.ts';
import { createPendingCheckTimerHandler } from '../../../lambda/handlers/pending-check-timer.ts';
import { createPrimaryHandler } from '../../../lambda/handlers/primary.ts';
import { createSecondaryApplyHandler } from '../../../lambda/handlers/secondary-apply.ts';
import { createTickArmHandler } from '../../../lambda/handlers/tick-arm.ts';
import type { ColoParams } from '../../../src/engine/params.ts';
import {
  type ChannelRecord,
  Keyring,
  LEAN_INVOCATION,
  MemoryChannel,
  MemoryDeltaStore,
  MemoryStateStore,
  readLog,
  readPrimaryDocument,
  readSecondaryDocument,
  SealedDeltaStore,
  sealingSerializer,
  VirtualClock,
} from '../../../src/runtime/cloud/index.ts';
import { seedKeySet } from '../../../src/wire/replication-key.ts';
import { openMessage, readSealedHeader } from '../../../src/wire/sealed-message.ts';
import { testParams } from '../../helpers/engine.ts';

/** Parameters for handler tests: a 1 MiB guest, periods of whole seconds (SQS delays have 1 s granularity). */
export function handlerParams(over: Partial<ColoParams> = {}): ColoParams {
  return testParams({
    checkpointDelayMs: 3000,
    pendingCheckIntervalMs: 1000,
    heartbeatIntervalMs: 1000,
    heartbeatTimeoutMs: 3500,
    applyTimeoutMs: 2000,
    checkpointTimeoutMs: 10_000,
    ...over,
  });
}

/** A standard tick queue in memory: delayed messages become visible at their delay. */
export class MemoryTickQueue implements TickScheduler {
  readonly messages: { id: string; body: string; visibleAt: number; receives: number }[] = [];
  /** Throws from `schedule` while set (a failed enqueue). */
  failing = false;
  /** While it returns true, `schedule` never returns and sends nothing (the sending process was killed). */
  dead: () => boolean = () => false;
  sent = 0;

  /** Extra time before a sent tick becomes visible, ms (a tick waiting behind a long invocation). */
  lateBy: (tick: TickMessage) => number = () => 0;

  async schedule(tick: TickMessage, now: number, minDelaySeconds = 0): Promise<number> {
    if (this.dead()) return new Promise<number>(() => {});
    if (this.failing) throw new Error('tick queue unavailable');
    const delay = Math.max(tickDelaySeconds(tick.dueAt, now), minDelaySeconds);
    this.messages.push({
      id: randomUUID(),
      body: JSON.stringify(tick),
      visibleAt: now + delay * 1000 + this.lateBy(tick),
      receives: 0,
    });
    this.sent++;
    return delay;
  }

  /** Removes and returns the messages visible at `now` (at most 10). */
  takeDue(now: number): { id: string; body: string; receives: number }[] {
    const due = this.messages.filter((m) => m.visibleAt <= now).slice(0, 10);
    for (const m of due) this.messages.splice(this.messages.indexOf(m), 1);
    return due.map((m) => ({ ...m, receives: m.receives + 1 }));
  }

  /** Puts a message back (a failed record: visible again at `at`). */
  putBack(m: { id: string; body: string; receives: number }, at: number): void {
    this.messages.push({ ...m, visibleAt: at });
  }
}

/** One VM's 1 s pending-check chain on a memory store and tick queue (for tick-chain tests). */
export function chainSetup(): { deps: TickChainDeps; queue: MemoryTickQueue; state: MemoryStateStore } {
  const state = new MemoryStateStore();
  const queue = new MemoryTickQueue();
  return {
    state,
    queue,
    deps: { state, ticks: queue, vmId: 'vm-0', timer: 'pending-check', periodMs: 1000 },
  };
}

/** Logger and metrics that remember what they were given. */
export function recordingObservability(): Observability & {
  logs: { level: string; message: string; extra: Record<string, unknown> }[];
  metricValues: Map<string, number[]>;
  publishes: number;
} {
  const logs: { level: string; message: string; extra: Record<string, unknown> }[] = [];
  const metricValues = new Map<string, number[]>();
  const log = (level: string) => (message: string, extra: Record<string, unknown>) => {
    logs.push({ level, message, extra });
  };
  const obs = {
    logs,
    metricValues,
    publishes: 0,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    metrics: {
      addMetric(name: string, _unit: string, value: number) {
        metricValues.set(name, [...(metricValues.get(name) ?? []), value]);
      },
      publishStoredMetrics() {
        obs.publishes++;
      },
    },
  };
  return obs;
}

let sequence = 18_850_000_000_000_000_000;

/** An SQS record as a Lambda event source mapping delivers it. */
export function sqsRecord(
  body: string,
  options: {
    messageId?: string;
    fifo?: { group: string; dedup: string };
    queue?: string;
    receives?: number;
    /** `SentTimestamp` (and first receive), ms; default the wall clock. */
    sentAt?: number;
    /** `ApproximateFirstReceiveTimestamp`, ms, when later than the send; default `sentAt`. */
    receivedAt?: number;
  } = {},
): SQSRecord {
  const now = String(options.sentAt ?? Date.now());
  const received = String(options.receivedAt ?? options.sentAt ?? Date.now());
  return {
    messageId: options.messageId ?? randomUUID(),
    receiptHandle: `AQEB${createHash('sha256').update(body).digest('base64').slice(0, 40)}`,
    body,
    attributes: {
      ApproximateReceiveCount: String(options.receives ?? 1),
      SentTimestamp: now,
      SenderId: 'AROAEXAMPLEROLEID:colo',
      ApproximateFirstReceiveTimestamp: received,
      ...(options.fifo
        ? {
            MessageGroupId: options.fifo.group,
            MessageDeduplicationId: options.fifo.dedup,
            SequenceNumber: String(sequence++),
          }
        : {}),
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${options.queue ?? 'queue'}`,
    awsRegion: 'us-east-1',
  };
}

/** An SQS event of the given records. */
export function sqsEvent(records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** The type a sealed channel body's header states (undefined for a body without a sealed header). */
export function typeOfBody(body: string): string | undefined {
  return readSealedHeader(body)?.type;
}

/** The virtual clock's start, ms since the Unix epoch (2026-01-01). */
export const SIM_EPOCH_MS = 1_767_225_600_000;

/** One in-memory tick queue per timer. */
export function memoryTickQueues(): Record<TimerName, MemoryTickQueue> {
  return Object.fromEntries(TIMER_NAMES.map((t) => [t, new MemoryTickQueue()])) as Record<
    TimerName,
    MemoryTickQueue
  >;
}

/** What the VMs of one fleet stack share: the clock, the bucket (state and objects) and the tick queues. */
export interface SharedStack {
  clock: VirtualClock;
  state: MemoryStateStore;
  deltas: MemoryDeltaStore;
  ticks: Record<TimerName, MemoryTickQueue>;
}

/** Every handler of one VM on shared in-memory ports. */
export class HandlerSim {
  readonly clock: VirtualClock;
  readonly state: MemoryStateStore;
  /** The objects as stored (sealed); the handlers' ports seal into and open from it. */
  readonly deltas: MemoryDeltaStore;
  /** The VM's replication keys (the seed's): channels seal with them, consumers open with them. */
  readonly keys: Keyring;
  readonly p2s: MemoryChannel;
  readonly s2p: MemoryChannel;
  readonly ticks: Record<TimerName, MemoryTickQueue>;
  readonly obs = recordingObservability();
  readonly primaryDeps: NodeHandlerDeps;
  readonly secondaryDeps: NodeHandlerDeps;
  readonly primary: (event: unknown) => Promise<SQSBatchResponse>;
  readonly secondaryApply: (event: unknown) => Promise<SQSBatchResponse>;
  readonly checkpointTimer: (event: unknown) => Promise<SQSBatchResponse>;
  readonly pendingCheckTimer: (event: unknown) => Promise<SQSBatchResponse>;
  readonly heartbeatMonitor: ReturnType<typeof createHeartbeatMonitorHandler>;
  readonly tickArm: ReturnType<typeof createTickArmHandler>;
  /** Channel records a secondary-apply answer asked to be delivered again, by message id. */
  readonly redeliverP2S: SQSRecord[] = [];
  /** What secondary-apply forwarded to the P → S dead-letter queue. */
  readonly deadLetters: DeadLetter[] = [];
  /** What primary forwarded to the S → P dead-letter queue (messages that failed authentication). */
  readonly deadLettersS2P: DeadLetter[] = [];
  /** Makes every dead-letter forward throw while set. */
  deadLettersFailing = false;
  /** Forward requests made to the P → S dead-letter queue (one per batch of refused records). */
  deadLetterRequests = 0;

  constructor(
    readonly params: ColoParams,
    rejected: RejectedDisposition = 'ack',
    /**
     * `faults`: every node function gets the fault hook (as with `COLO_TEST_FAULTS=allow`); `keys`: the
     * keyring of every function (default the seed's keys, fixed); `siblingRepair`: the tick consumers get
     * all three tick queues, so their ticks repair the VM's other chains (as deployed); `lean`: the
     * deployed functions' invocation options (LEAN_INVOCATION: log batches, no heartbeat-only save);
     * `shared`: the clock, stores and tick queues of a fleet stack, shared with other VMs' sims.
     */
    options: {
      faults?: boolean;
      keys?: Keyring;
      siblingRepair?: boolean;
      lean?: boolean;
      shared?: SharedStack;
    } = {},
  ) {
    this.clock = options.shared?.clock ?? new VirtualClock(SIM_EPOCH_MS);
    this.state = options.shared?.state ?? new MemoryStateStore();
    this.deltas = options.shared?.deltas ?? new MemoryDeltaStore();
    this.ticks = options.shared?.ticks ?? memoryTickQueues();
    this.keys = options.keys ?? Keyring.fixed(seedKeySet(params.seed, params.vmId));
    // The channels stamp each record with the sim's clock: its `SentTimestamp`, what a heartbeat counts with.
    this.p2s = new MemoryChannel({ serialize: sealingSerializer(this.keys), now: this.clock.now });
    this.s2p = new MemoryChannel({ serialize: sealingSerializer(this.keys), now: this.clock.now });
    // Reported as the deployed functions report it (lambda/handlers/common/deps.ts).
    const deltas = new SealedDeltaStore(this.deltas, this.keys, undefined, deltaTakeBackReporter(this.obs));
    const common = {
      params,
      now: this.clock.now,
      sleep: this.clock.sleep,
      obs: this.obs,
      rejected,
      keys: this.keys,
      ...(options.lean ? { options: { ...LEAN_INVOCATION } } : {}),
    };
    const hook = (deps: NodeHandlerDeps, node: 'primary' | 'secondary'): NodeHandlerDeps =>
      options.faults ? withTestFaults(deps, node, node, { COLO_TEST_FAULTS: 'allow' }) : deps;
    this.primaryDeps = hook(
      { ...common, ports: { state: this.state, deltas, channel: this.p2s } },
      'primary',
    );
    this.secondaryDeps = hook(
      { ...common, ports: { state: this.state, deltas, channel: this.s2p } },
      'secondary',
    );
    const applyDeps: NodeHandlerDeps = {
      ...this.secondaryDeps,
      service: 'secondary-apply',
      deadLetterScope: 'unexpected',
      deadLetters: {
        forward: async (letters) => {
          this.deadLetterRequests++;
          if (this.deadLettersFailing) return letters.map((letter) => ({ letter, error: 'DLQ unavailable' }));
          this.deadLetters.push(...letters);
          return [];
        },
      },
    };
    const tickDeps = (base: NodeHandlerDeps, timer: TimerName): TickConsumerDeps => ({
      ...base,
      ticks: this.ticks[timer],
      ...(options.siblingRepair ? { chains: this.ticks } : {}),
    });
    this.primary = createPrimaryHandler({
      ...this.primaryDeps,
      service: 'primary',
      deadLetterScope: 'unexpected',
      deadLetters: {
        forward: async (letters) => {
          this.deadLettersS2P.push(...letters);
          return [];
        },
      },
    });
    this.secondaryApply = createSecondaryApplyHandler(applyDeps);
    this.checkpointTimer = createCheckpointTimerHandler(tickDeps(this.primaryDeps, 'checkpoint'));
    this.pendingCheckTimer = createPendingCheckTimerHandler(tickDeps(this.primaryDeps, 'pending-check'));
    this.heartbeatMonitor = createHeartbeatMonitorHandler(tickDeps(this.secondaryDeps, 'heartbeat'));
    this.tickArm = createTickArmHandler({
      params,
      state: this.state,
      ticks: this.ticks,
      now: this.clock.now,
      obs: this.obs,
    });
  }

  /** FIFO records for channel messages. */
  fifoRecords(batch: ChannelRecord[], queue: string): SQSRecord[] {
    return batch.map((r) =>
      sqsRecord(r.body, {
        messageId: randomUUID(),
        fifo: { group: this.params.vmId, dedup: r.dedupId },
        queue,
        sentAt: r.sentAt ?? this.clock.now(),
        receivedAt: this.clock.now(),
      }),
    );
  }

  /** Every P → S message the channel delivered (after deduplication), in order. */
  readonly deliveredP2S: string[] = [];

  /** Delivers up to 10 P → S messages to `secondary-apply`. */
  async deliverToSecondary(): Promise<{ event: SQSEvent; response: SQSBatchResponse } | undefined> {
    const records = [
      ...this.redeliverP2S.splice(0),
      ...this.fifoRecords(
        this.p2s.take(10).map((r) => {
          this.deliveredP2S.push(r.dedupId);
          return r;
        }),
        'p2s.fifo',
      ),
    ].slice(0, 10);
    if (records.length === 0) return undefined;
    const event = sqsEvent(records);
    const response = await this.secondaryApply(event);
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    this.redeliverP2S.push(...records.filter((r) => failed.has(r.messageId)));
    return { event, response };
  }

  /** Delivers up to 10 S → P messages to `primary`. */
  async deliverToPrimary(): Promise<SQSBatchResponse | undefined> {
    const batch = this.s2p.take(10);
    if (batch.length === 0) return undefined;
    return this.primary(sqsEvent(this.fifoRecords(batch, 's2p.fifo')));
  }

  /** Delivers the due ticks of one chain to its consumer. */
  async deliverTicks(timer: TimerName): Promise<unknown> {
    const due = this.ticks[timer].takeDue(this.clock.now());
    if (due.length === 0) return undefined;
    const event = sqsEvent(
      due.map((m) => sqsRecord(m.body, { messageId: m.id, queue: `${timer}-ticks`, receives: m.receives })),
    );
    const handler =
      timer === 'checkpoint'
        ? this.checkpointTimer
        : timer === 'pending-check'
          ? this.pendingCheckTimer
          : this.heartbeatMonitor;
    const response = (await handler(event)) as SQSBatchResponse;
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    for (const m of due) if (failed.has(m.id)) this.ticks[timer].putBack(m, this.clock.now() + 1000);
    return response;
  }

  /** Runs for `ms` in steps of `stepMs`: due ticks, then both channels until quiet. */
  async run(ms: number, stepMs = 100, chains: readonly TimerName[] = TIMER_NAMES): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.clock.advance(stepMs);
      for (const t of chains) await this.deliverTicks(t);
      for (
        let i = 0;
        i < 20 && (this.p2s.size > 0 || this.s2p.size > 0 || this.redeliverP2S.length > 0);
        i++
      ) {
        await this.deliverToSecondary();
        await this.deliverToPrimary();
      }
    }
  }

  primaryDoc() {
    return readPrimaryDocument(this.state, this.params);
  }

  secondaryDoc() {
    return readSecondaryDocument(this.state, this.params);
  }

  async log(node: 'primary' | 'secondary') {
    return (await readLog(this.state, this.params.vmId, node)).records;
  }

  /** The message a sealed body carries, opened with the VM's keys. @throws Error when it does not open. */
  async message(body: string): Promise<Record<string, unknown>> {
    const opened = openMessage(await this.keys.keys(), body);
    if (!opened.ok) throw new Error(`does not open: ${opened.reason}`);
    return JSON.parse(opened.body) as Record<string, unknown>;
  }

  metric(name: string): number {
    return (this.obs.metricValues.get(name) ?? []).reduce((a, b) => a + b, 0);
  }
}
