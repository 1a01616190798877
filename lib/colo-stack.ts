/**
 * `ColoStack`: COLO replication of a fleet of VMs from shared serverless parts — two FIFO channels (message
 * group = VM id), a delta/state bucket with one config document per registered VM (`vms/<vmId>.json`),
 * three tick queues carrying every VM's sub-minute chains, one once-a-minute watchdog rule, and six
 * functions, each granted only what its role needs. The context's VM parameters describe the VM the deploy
 * registers first (single-VM deployment stays one command).
 */
import { type CfnElement, CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Construct } from 'constructs';
import {
  DELTA_PREFIX,
  ENV,
  STATE_PREFIX,
  TICK_QUEUE_ENV,
  type TimerName,
  VM_CONFIG_PREFIX,
} from '../lambda/adapters/contract.ts';
import { stackEnvironmentOf } from '../src/parameters/deployed.ts';
import { encodeVmConfig, vmConfigOf } from '../src/parameters/vm-config.ts';
import { ColoAlarms } from './constructs/colo-alarms.ts';
import { ColoChannel } from './constructs/colo-channel.ts';
import { ColoDashboard } from './constructs/colo-dashboard.ts';
import { ColoFunction } from './constructs/colo-function.ts';
import { DeltaStoreBucket } from './constructs/delta-store-bucket.ts';
import { addPollers, eventSourceVisibilityTimeout } from './constructs/event-source-limits.ts';
import { MinuteWatchdog } from './constructs/minute-watchdog.ts';
import { ReplicationKey } from './constructs/replication-key.ts';
import {
  deletablePatterns,
  grantStateAccess,
  type StateWrites,
  writablePatterns,
} from './constructs/state-key-access.ts';
import { TickChain } from './constructs/tick-chain.ts';
import { type ColoParameters, parametersFromContext } from './parameters.ts';

/** The six functions, by service name. */
export const FUNCTION_NAMES = [
  'checkpoint-timer',
  'pending-check-timer',
  'tick-arm',
  'primary',
  'secondary-apply',
  'heartbeat-monitor',
] as const;

/** A function's service name. */
export type ColoFunctionName = (typeof FUNCTION_NAMES)[number];

/** Handler module of each function, relative to the repository root; each exports `handler`. */
export const HANDLER_ENTRIES: Readonly<Record<ColoFunctionName, string>> = {
  'checkpoint-timer': 'lambda/handlers/checkpoint-timer.ts',
  'pending-check-timer': 'lambda/handlers/pending-check-timer.ts',
  'tick-arm': 'lambda/handlers/tick-arm.ts',
  primary: 'lambda/handlers/primary.ts',
  'secondary-apply': 'lambda/handlers/secondary-apply.ts',
  'heartbeat-monitor': 'lambda/handlers/heartbeat-monitor.ts',
};

/**
 * Test-only handler entries deployed instead of {@link HANDLER_ENTRIES} with context `virtualClock=allow`
 * (the conformance stack): the production handler, also answering the virtual-clock event.
 */
export const REPLAY_HANDLER_ENTRIES: Readonly<Partial<Record<ColoFunctionName, string>>> = {
  primary: 'lambda/handlers/test/primary-replay.ts',
  'secondary-apply': 'lambda/handlers/test/secondary-apply-replay.ts',
};

/**
 * The functions deployed with context `monitorMemoryMb` (default 256 MB) instead of `ColoFunction`'s 1 024:
 * their ticks wait on S3 and SQS and never build page payloads, so they take as long with less memory and
 * cost less. The primary's timers keep 1 024 MB: a tick may perform a checkpoint's sends (docs/cloud.md).
 */
export const MONITOR_FUNCTIONS: ReadonlySet<ColoFunctionName> = new Set<ColoFunctionName>([
  'heartbeat-monitor',
  'tick-arm',
]);

/** Timeout of each function except `secondary-apply` (see {@link secondaryApplyTimeout}), seconds. */
export const FUNCTION_TIMEOUT_SECONDS: Readonly<
  Record<Exclude<ColoFunctionName, 'secondary-apply'>, number>
> = {
  // Every function that may step a primary may perform a round's sends, so each outlives one hung call
  // under CALL_TIMEOUTS (3 attempts × (3 s connect + 10 s silence) plus backoff, ≈ 40 s) and records how it
  // failed. A store that stays hung longer (the driver tries a put up to 4 times) is cut by the timeout:
  // the send stays in the outbox for the next performer. tick-arm only arms ticks.
  'checkpoint-timer': 60,
  'pending-check-timer': 60,
  'tick-arm': 30,
  primary: 60,
  'heartbeat-monitor': 60,
};

/**
 * Timeout of `secondary-apply`: the apply deadline rounded up to whole seconds plus 25 s for loading state,
 * replying and saving, so the function always outlives its own apply timeout (30 s at the default 5 000 ms).
 *
 * @param applyTimeoutMs - Secondary apply deadline, ms.
 */
export function secondaryApplyTimeout(applyTimeoutMs: number): Duration {
  return Duration.seconds(Math.ceil(applyTimeoutMs / 1000) + 25);
}

/**
 * What each function may write under `state/` (all read it): a side writes only its own node's documents,
 * a timer consumer only its own timer, the watchdog only the timers and its fleet cursor
 * (lib/constructs/state-key-access.ts).
 */
export const STATE_WRITES: Readonly<Record<ColoFunctionName, StateWrites>> = {
  // A tick consumer claims its own chain's ticks and replaces a sibling chain that went quiet.
  'checkpoint-timer': {
    node: 'primary',
    timers: ['checkpoint', 'pending-check', 'heartbeat'],
    control: true,
  },
  // The pulse: claims its stack chain's ticks, repairs the monitor's, writes the pulse document.
  'pending-check-timer': {
    node: 'primary',
    timers: ['checkpoint', 'pending-check', 'heartbeat', 'pulse', 'monitor'],
    control: true,
    stackDocuments: ['pulse'],
  },
  // The watchdog also sweeps both nodes' unreferenced lean-state objects (common/state-sweep.ts).
  'tick-arm': {
    timers: ['checkpoint', 'pending-check', 'heartbeat', 'pulse', 'monitor'],
    control: false,
    fleetCursor: true,
    sweeps: ['primary', 'secondary'],
  },
  primary: { node: 'primary', timers: [], control: true },
  'secondary-apply': { node: 'secondary', timers: [], control: true },
  // The monitor: claims its stack chain's ticks, repairs the pulse's, writes the monitor document.
  'heartbeat-monitor': {
    node: 'secondary',
    timers: ['checkpoint', 'pending-check', 'heartbeat', 'pulse', 'monitor'],
    control: true,
    stackDocuments: ['monitor'],
  },
};

/** The function consuming each timer's tick queue. */
const CHAIN_CONSUMER: Readonly<Record<TimerName, ColoFunctionName>> = {
  checkpoint: 'checkpoint-timer',
  'pending-check': 'pending-check-timer',
  heartbeat: 'heartbeat-monitor',
};

/**
 * Access of each function to `deltas/`: `write` puts (and reads back), `consume` reads and deletes what it
 * has consumed (the secondary's channel consumer: delta-retire.ts).
 */
export const DELTA_ACCESS: Readonly<Record<ColoFunctionName, 'none' | 'consume' | 'write'>> = {
  // A primary tick runs every timer that is due, so the checkpoint tick may start a background round.
  'checkpoint-timer': 'write',
  'pending-check-timer': 'write',
  'tick-arm': 'none',
  primary: 'write',
  'secondary-apply': 'consume',
  'heartbeat-monitor': 'none',
};

/** Channels each function sends on (`p2s` = primary → secondary, `s2p` = secondary → primary). */
export const CHANNEL_SENDS: Readonly<Record<ColoFunctionName, readonly ('p2s' | 's2p')[]>> = {
  'checkpoint-timer': ['p2s'],
  'pending-check-timer': ['p2s'],
  'tick-arm': [],
  primary: ['p2s'],
  'secondary-apply': ['s2p'],
  // It ticks the secondary, which sends checkpoint-ready at start and vmstate-loaded after a commit.
  'heartbeat-monitor': ['s2p'],
};

/**
 * Which functions seal or open COLO messages and delta objects, and so may read the replication key
 * (`secretsmanager:GetSecretValue`, and `REPLICATION_KEY_SECRET_ARN` in their environment). `tick-arm`
 * sends only tick messages, which carry no page data and are not sealed.
 */
export const KEY_ACCESS: Readonly<Record<ColoFunctionName, boolean>> = {
  'checkpoint-timer': true,
  'pending-check-timer': true,
  'tick-arm': false,
  primary: true,
  'secondary-apply': true,
  'heartbeat-monitor': true,
};

/** Batch size of every event-source mapping (the FIFO maximum). */
export const EVENT_SOURCE_BATCH_SIZE = 10;

/** Props of {@link ColoStack}. */
export interface ColoStackProps extends StackProps {
  /** Parameter values used where the context gives none (context wins); defaults fill the rest. */
  readonly parameters?: Partial<ColoParameters>;
  /**
   * Context scoped to this stack: it wins over the app's context (`cdk.json`, `-c key=value`) for the keys
   * it names — how one app holds several VMs with different parameters (a stack set, see `bin/app.ts`).
   */
  readonly context?: Readonly<Record<string, unknown>>;
}

function pascal(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, _dash: string, c: string) => c.toUpperCase());
}

/** The COLO stack: one deployment, any number of registered VMs. */
export class ColoStack extends Stack {
  /** Validated parameters. */
  readonly parameters: ColoParameters;
  /** Delta and state bucket. */
  readonly store: DeltaStoreBucket;
  /** Primary → secondary channel (checkpoint requests, vmstate, claim checks, heartbeats). */
  readonly p2s: ColoChannel;
  /** Secondary → primary channel (ready, replies, received, loaded, heartbeats). */
  readonly s2p: ColoChannel;
  /** The functions, by service name. */
  readonly functions: Readonly<Record<ColoFunctionName, ColoFunction>>;
  /** The tick chains, by timer. */
  readonly tickChains: Readonly<Record<TimerName, TickChain>>;
  /** The once-a-minute rule invoking `tick-arm`. */
  readonly watchdog: MinuteWatchdog;
  /** The replication key every message and delta object is sealed with. */
  readonly replicationKey: ReplicationKey;
  /** CloudWatch alarms (and the SNS topic they notify, with context `alarmTopic=create`). */
  readonly alarms: ColoAlarms;
  /** The CloudWatch dashboard. */
  readonly dashboard: ColoDashboard;

  /**
   * Builds the stack.
   *
   * @throws ContextValidationError when a context value is malformed.
   */
  constructor(scope: Construct, id: string, props: ColoStackProps = {}) {
    super(scope, id, props);
    for (const [key, value] of Object.entries(props.context ?? {})) this.node.setContext(key, value);
    const p = parametersFromContext(this.node, props.parameters);
    this.parameters = p;

    this.store = new DeltaStoreBucket(this, 'DeltaStore', { deltaExpiryDays: p.deltaExpiryDays });
    const bucket = this.store.bucket;
    this.replicationKey = new ReplicationKey(this, 'ReplicationKey', {
      description: `COLO replication key of the stack's VMs: seals every message and delta object (rotate with PutSecretValue, docs/reliability.md)`,
    });

    const timeouts: Record<ColoFunctionName, Duration> = {
      'checkpoint-timer': Duration.seconds(FUNCTION_TIMEOUT_SECONDS['checkpoint-timer']),
      'pending-check-timer': Duration.seconds(FUNCTION_TIMEOUT_SECONDS['pending-check-timer']),
      'tick-arm': Duration.seconds(FUNCTION_TIMEOUT_SECONDS['tick-arm']),
      primary: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.primary),
      'secondary-apply': secondaryApplyTimeout(p.applyTimeoutMs),
      'heartbeat-monitor': Duration.seconds(FUNCTION_TIMEOUT_SECONDS['heartbeat-monitor']),
    };
    // A channel hides a received batch for 6 × its consumer's timeout (AWS's guidance for event sources);
    // a failed record comes back at once anyway: the consumer shortens its visibility (sqs-redelivery.ts).
    this.p2s = new ColoChannel(this, 'PrimaryToSecondary', {
      visibilityTimeout: eventSourceVisibilityTimeout(timeouts['secondary-apply']),
    });
    this.s2p = new ColoChannel(this, 'SecondaryToPrimary', {
      visibilityTimeout: eventSourceVisibilityTimeout(timeouts.primary),
    });

    const common: Record<string, string> = {
      // Stack-wide settings only (path style; the fault hook COLO_TEST_FAULTS only with context
      // testFaults=allow, never by default): a VM's parameters are its registered config, vms/<vmId>.json.
      ...stackEnvironmentOf(p),
      [ENV.bucketName]: bucket.bucketName,
    };
    const tickConsumers = new Set<ColoFunctionName>([
      'checkpoint-timer',
      'pending-check-timer',
      'heartbeat-monitor',
    ]);
    const channelUrls = (name: ColoFunctionName): Record<string, string> =>
      Object.fromEntries(
        CHANNEL_SENDS[name].map((c) =>
          c === 'p2s'
            ? [ENV.p2sQueueUrl, this.p2s.queue.queueUrl]
            : [ENV.s2pQueueUrl, this.s2p.queue.queueUrl],
        ),
      );
    const make = (name: ColoFunctionName): ColoFunction =>
      new ColoFunction(this, pascal(name), {
        entry:
          (p.virtualClock === 'allow' ? REPLAY_HANDLER_ENTRIES[name] : undefined) ?? HANDLER_ENTRIES[name],
        serviceName: name,
        description: `COLO ${name} (every VM registered on the stack)`,
        timeout: timeouts[name],
        ...(MONITOR_FUNCTIONS.has(name) ? { memorySize: p.monitorMemoryMb } : {}),
        logRetentionDays: p.logRetentionDays,
        // Tick consumers enqueue their own next tick (SQS → Lambda → same queue): see TickChain.
        recursiveLoop: tickConsumers.has(name) ? lambda.RecursiveLoop.ALLOW : lambda.RecursiveLoop.TERMINATE,
        environment: {
          ...common,
          ...channelUrls(name),
          // The secret's ARN, never its value: the function reads the key with GetSecretValue.
          ...(KEY_ACCESS[name]
            ? { [ENV.replicationKeySecretArn]: this.replicationKey.secret.secretArn }
            : {}),
        },
      });

    const fns = Object.fromEntries(FUNCTION_NAMES.map((name) => [name, make(name)])) as Record<
      ColoFunctionName,
      ColoFunction
    >;
    this.functions = fns;

    // Timers: three tick chains, started and repaired by tick-arm once a minute.
    this.tickChains = {
      checkpoint: new TickChain(this, 'CheckpointTicks', {
        timer: 'checkpoint',
        consumer: fns['checkpoint-timer'],
        periodMs: p.checkpointDelayMs,
        maxConcurrency: p.eventSourceMaxConcurrency,
        pollers: p.tickPollers,
      }),
      'pending-check': new TickChain(this, 'PendingCheckTicks', {
        timer: 'pending-check',
        consumer: fns['pending-check-timer'],
        periodMs: p.pendingCheckIntervalMs,
        maxConcurrency: p.eventSourceMaxConcurrency,
        pollers: p.tickPollers,
      }),
      heartbeat: new TickChain(this, 'HeartbeatTicks', {
        timer: 'heartbeat',
        consumer: fns['heartbeat-monitor'],
        periodMs: p.heartbeatIntervalMs,
        maxConcurrency: p.eventSourceMaxConcurrency,
        pollers: p.tickPollers,
      }),
    };
    // tick-arm starts and repairs every chain once a minute; each tick consumer repairs its VM's other
    // chains within seconds (the sub-minute repair), so it may send on their queues too.
    for (const chain of Object.values(this.tickChains)) {
      for (const name of ['tick-arm', ...tickConsumers] as ColoFunctionName[]) {
        if (name === CHAIN_CONSUMER[chain.timer]) continue; // TickChain grants its own consumer
        chain.queue.grantSendMessages(fns[name]);
        fns[name].addEnvironment(TICK_QUEUE_ENV[chain.timer], chain.queue.queueUrl);
      }
    }
    this.watchdog = new MinuteWatchdog(this, 'Watchdog', { target: fns['tick-arm'] });
    fns['tick-arm'].configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });

    // Channels: each consumer reads its inbound FIFO queue in batches of ≤ 10 with partial failures.
    const channelSource = (channel: ColoChannel): SqsEventSource =>
      new SqsEventSource(channel.queue, {
        batchSize: EVENT_SOURCE_BATCH_SIZE,
        reportBatchItemFailures: true,
        maxConcurrency: p.eventSourceMaxConcurrency,
      });
    // LocalStack's SQS event source invokes a batch's message groups (VMs) one after another, then waits
    // 1 s: with `channelPollers` > 1, further mappings (each on an alias: one mapping per function ARN) poll
    // beside the first. SQS gives a message group to one receiver at a time, so a VM's order holds.
    const consume = (fn: ColoFunction, channel: ColoChannel): void =>
      addPollers(fn, fn, p.channelPollers, () => channelSource(channel));
    consume(fns['secondary-apply'], this.p2s);
    consume(fns.primary, this.s2p);
    // A message the secondary refuses is acknowledged (redelivering it cannot succeed and would block the
    // FIFO group), after secondary-apply has forwarded it, with the reason, to the channel's DLQ itself.
    this.p2s.deadLetterQueue.grantSendMessages(fns['secondary-apply']);
    fns['secondary-apply'].addEnvironment(ENV.p2sDlqUrl, this.p2s.deadLetterQueue.queueUrl);
    // A message on S → P that fails authentication is forwarded, with the reason, to that channel's DLQ.
    this.s2p.deadLetterQueue.grantSendMessages(fns.primary);
    fns.primary.addEnvironment(ENV.s2pDlqUrl, this.s2p.deadLetterQueue.queueUrl);

    // Least privilege: exact actions, one prefix each, driven by the tables above.
    for (const name of FUNCTION_NAMES) {
      const fn = fns[name];
      grantStateAccess(this.store, fn, STATE_WRITES[name], p.testFaults === 'allow');
      this.store.grantVmConfigRead(fn);
      if (DELTA_ACCESS[name] === 'consume') this.store.grantDeltaConsume(fn);
      if (DELTA_ACCESS[name] === 'write') this.store.grantDeltaWrite(fn);
      for (const channel of CHANNEL_SENDS[name])
        (channel === 'p2s' ? this.p2s : this.s2p).queue.grantSendMessages(fn);
      if (KEY_ACCESS[name]) this.replicationKey.grantRead(fn);
    }

    const nodeServices = FUNCTION_NAMES.filter((n) => STATE_WRITES[n].node !== undefined);
    this.alarms = new ColoAlarms(this, 'Alarms', {
      functions: fns,
      nodeServices,
      watchdogService: 'tick-arm',
      repairServices: ['tick-arm', 'checkpoint-timer', 'pending-check-timer', 'heartbeat-monitor'],
      channels: { p2s: this.p2s.queue, s2p: this.s2p.queue },
      deadLetterQueues: {
        p2s: this.p2s.deadLetterQueue,
        s2p: this.s2p.deadLetterQueue,
        ...Object.fromEntries(Object.values(this.tickChains).map((c) => [c.timer, c.deadLetterQueue])),
      },
      topic: p.alarmTopic,
    });
    this.dashboard = new ColoDashboard(this, 'Dashboard', {
      functions: fns,
      nodeServices,
      watchdogService: 'tick-arm',
      queues: {
        p2s: this.p2s.queue,
        s2p: this.s2p.queue,
        ...Object.fromEntries(Object.values(this.tickChains).map((c) => [`${c.timer} ticks`, c.queue])),
        'p2s DLQ': this.p2s.deadLetterQueue,
        's2p DLQ': this.s2p.deadLetterQueue,
      },
      alarms: Object.values(this.alarms.alarms),
    });

    this.#outputs();
    this.#suppressions();
  }

  #outputs(): void {
    const out = (id: string, value: string, description: string): void => {
      new CfnOutput(this, id, { value, description });
    };
    out('VmId', this.parameters.vmId, 'The VM the deploy registers (more: colo vm add)');
    out('ParametersJson', JSON.stringify(this.parameters), 'Stack parameters after defaults, as JSON');
    out(
      'VmConfigJson',
      encodeVmConfig(vmConfigOf(this.parameters)),
      'Config of the VM the deploy registers at vms/<vmId>.json (scripts/deploy-local.sh, colo vm add --from-stack)',
    );
    out(
      'ApplyTimeoutCapMs',
      String(this.parameters.applyTimeoutMs),
      'Largest applyTimeoutMs a VM on this stack may have (secondary-apply timeout is sized for it), ms',
    );
    out('BucketName', this.store.bucket.bucketName, 'Delta and state bucket');
    out(
      'ReplicationKeySecretArn',
      this.replicationKey.secret.secretArn,
      'Secrets Manager secret holding the replication key (its ARN; the value is readable only by the functions that seal or open)',
    );
    out('PrimaryToSecondaryQueueUrl', this.p2s.queue.queueUrl, 'FIFO channel primary → secondary');
    out('PrimaryToSecondaryQueueArn', this.p2s.queue.queueArn, 'FIFO channel primary → secondary (ARN)');
    out(
      'PrimaryToSecondaryDlqUrl',
      this.p2s.deadLetterQueue.queueUrl,
      'Dead-letter queue of primary → secondary',
    );
    out('SecondaryToPrimaryQueueUrl', this.s2p.queue.queueUrl, 'FIFO channel secondary → primary');
    out('SecondaryToPrimaryQueueArn', this.s2p.queue.queueArn, 'FIFO channel secondary → primary (ARN)');
    out(
      'SecondaryToPrimaryDlqUrl',
      this.s2p.deadLetterQueue.queueUrl,
      'Dead-letter queue of secondary → primary',
    );
    for (const chain of Object.values(this.tickChains)) {
      const name = pascal(chain.timer);
      out(`${name}TickQueueUrl`, chain.queue.queueUrl, `Tick queue of the ${chain.timer} timer`);
      out(
        `${name}TickDlqUrl`,
        chain.deadLetterQueue.queueUrl,
        `Dead-letter queue of the ${chain.timer} ticks`,
      );
    }
    for (const [name, fn] of Object.entries(this.functions)) {
      out(`${pascal(name)}FunctionName`, fn.functionName, `Function ${name}`);
    }
    out('WatchdogRuleName', this.watchdog.rule.ruleName, 'Once-a-minute rule invoking tick-arm');
    out('DashboardName', this.dashboard.dashboard.dashboardName, 'CloudWatch dashboard of the stack');
    if (this.alarms.topic) {
      out('AlarmTopicArn', this.alarms.topic.topicArn, 'SNS topic every alarm notifies (subscribe to it)');
    }
  }

  /**
   * cdk-nag (v3, a policy-validation plugin) acknowledgements, each with its reason. Findings are
   * acknowledged one by one (`RuleId[Finding]`), so a new wildcard would still be reported.
   */
  #suppressions(): void {
    Validations.of(this.replicationKey.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotation is an operator step (PutSecretValue of a new key; the previous version stays accepted while in-flight traffic drains, docs/reliability.md): an automatic rotation Lambda would be a second code path holding the key, and LocalStack, where the stack is tested, cannot run rotation schedules.',
    });
    Validations.of(this.store.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "Objects are transient page deltas and CAS-updated state written only by this stack's own roles; access logging would need a second bucket per VM and is left to account-level CloudTrail data events.",
    });
    const bucketArn = `<${this.getLogicalId(this.store.bucket.node.defaultChild as CfnElement)}.Arn>`;
    for (const name of FUNCTION_NAMES) {
      const fn = this.functions[name];
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-L1',
        reason:
          'nodejs22.x is pinned on purpose: Lambda supports it and so does the LocalStack release the integration tests run on; moving to a newer runtime is a deliberate, tested upgrade.',
      });
      const prefixes = DELTA_ACCESS[name] === 'none' ? [STATE_PREFIX] : [STATE_PREFIX, DELTA_PREFIX];
      for (const prefix of [...prefixes, VM_CONFIG_PREFIX]) {
        Validations.of(fn.executionRole).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${bucketArn}/${prefix}*]`,
          reason: `Object keys are created at run time (per VM, epoch and sequence number; one config per registered VM), so object actions are granted on the one key prefix ${prefix} of this stack's bucket, never the whole bucket; the actions are listed exactly.`,
        });
      }
      const writable = writablePatterns(STATE_WRITES[name], this.parameters.testFaults === 'allow');
      for (const pattern of deletablePatterns(STATE_WRITES[name])) {
        Validations.of(fn.executionRole).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${bucketArn}/${STATE_PREFIX}${pattern}]`,
          reason: `Deletes are scoped to the immutable lean-state objects (${pattern} under ${STATE_PREFIX}) that this function retires or sweeps; the wildcards stand for the VM id and the object's revision and hash, known only at run time. Node documents, logs and timers are never deletable (deltas only by secondary-apply, which deletes what it consumed).`,
        });
      }
      for (const pattern of writable.filter((w) => w.includes('*'))) {
        Validations.of(fn.executionRole).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${bucketArn}/${STATE_PREFIX}${pattern}]`,
          reason: `State writes are scoped to the keys this function owns (${pattern} under ${STATE_PREFIX}); the wildcard stands for the VM id, which is known only at run time (one stack serves many VMs).`,
        });
      }
    }
  }
}
