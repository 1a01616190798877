/**
 * What a handler needs, as one object: tests build it with in-memory ports and a virtual clock; the
 * exported Lambda `handler`s build it from the environment on their first invocation (and keep it warm).
 */
import type { ColoParams } from '../../../src/engine/params.ts';
import {
  type CloudPorts,
  type InvocationOptions,
  type Keyring,
  LEAN_INVOCATION,
  type Sleep,
  systemNow,
  type TimeSource,
} from '../../../src/runtime/cloud/index.ts';
import { ENV, TICK_QUEUE_ENV, TIMER_NAMES, type TimerName, VM_TIMER_NAMES } from '../../adapters/contract.ts';
import { type Env, sqsClientFromEnv } from '../../adapters/env.ts';
import { type DeadLetterSink, SqsDeadLetterQueue } from '../../adapters/sqs-dead-letters.ts';
import { type Redelivery, SqsRedelivery } from '../../adapters/sqs-redelivery.ts';
import { deltaTakeBackReporter, type Observability, powertools } from './observability.ts';
import { paramsFromEnv } from './params.ts';
import { keyringFromEnv, nodePortsFromEnv, stateStoreFromEnv, tickSchedulerFromEnv } from './ports.ts';
import {
  delayedDeltaStore,
  FETCH_DELAY_ENV,
  fetchDelayFromEnv,
  TEST_FAULTS_ENV,
  TestFaults,
  testFaultsFromEnv,
} from './test-hooks.ts';
import { chainPeriodMs, type TickScheduler } from './tick-chain.ts';
import { withUsageReport } from './usage-report.ts';

/**
 * What to do with a channel message the engine refused (its state unchanged): `ack` consumes it (it is
 * logged, counted and kept in the metrics log; the engine already copes with the gap, e.g. by abandoning a
 * background round), `retry` reports it as a batch item failure so SQS redelivers it and, after the
 * queue's `maxReceiveCount`, moves it to the DLQ — blocking its FIFO group meanwhile.
 */
export type RejectedDisposition = 'ack' | 'retry';

/** Optional variable choosing the {@link RejectedDisposition}; default `ack`. */
export const REJECTED_MESSAGES_ENV = 'REJECTED_MESSAGES';

/** Everything a node handler needs. */
export interface NodeHandlerDeps {
  /** Engine parameters. */
  params: ColoParams;
  /** The node's ports (its outbound channel included; both seal with `keys`). */
  ports: CloudPorts;
  /**
   * The VM's replication keys: a channel consumer opens every record with them before anything else
   * (lib/channel-consumer.ts); the ports seal what they send and store with the same keyring.
   */
  keys: Keyring;
  /** Time source, ms since the Unix epoch (or virtual). */
  now: TimeSource;
  /** Sleep (settling, backoff); default a real timer. */
  sleep?: Sleep;
  /** Invocation tuning. */
  options?: InvocationOptions;
  /** Logger and metrics. */
  obs: Observability;
  /** What to do with rejected channel messages. */
  rejected: RejectedDisposition;
  /**
   * Where a channel consumer forwards the messages it refused before acknowledging them (with
   * `rejected: 'ack'`); none: they are only logged, counted and kept in the metrics log.
   */
  deadLetters?: DeadLetterSink;
  /**
   * Which refused messages go to {@link deadLetters}: `all`, or all but the refusals a node makes as
   * replication ends (`unexpected`, both channel consumers: an answer after the primary's deadline, anything
   * after a node left COLO — the protocol produces them, nobody needs to inspect them). Default `all`.
   */
  deadLetterScope?: 'all' | 'unexpected';
  /** The function's service name (recorded on forwarded dead letters). */
  service?: string;
  /** Makes records the consumer failed visible again within a second (channel consumers). */
  redelivery?: Redelivery;
  /**
   * The default-off fault hook (test-hooks.ts), present only when the environment has
   * `COLO_TEST_FAULTS=allow`; its wrapped ports are already in `ports`.
   */
  faults?: TestFaults;
}

/** A tick consumer's needs: its node's, plus its own tick queue. */
export interface TickConsumerDeps extends NodeHandlerDeps {
  /** The queue the consumer re-enqueues its ticks on. */
  ticks: TickScheduler;
  /**
   * All three tick queues of the stack: with them the consumer's ticks repair the VM's other chains
   * within seconds (tick-chain.ts `repairSiblings`); without them only the minute watchdog repairs.
   */
  chains?: Readonly<Record<TimerName, TickScheduler>>;
  /**
   * The VM's chains that the sub-minute repair looks after; default all three. The deployed functions pass
   * `VM_TIMER_NAMES` (the checkpoint chain): the pending check and the monitor are the stack's chains.
   */
  siblings?: readonly TimerName[];
}

/** The watchdog's needs. */
export interface WatchdogDeps {
  /** Engine parameters (VM id and timer periods). */
  params: ColoParams;
  /** State store holding the timer and control documents. */
  state: CloudPorts['state'];
  /** The three tick queues. */
  ticks: Readonly<Record<TimerName, TickScheduler>>;
  /** Time source, ms since the Unix epoch. */
  now: TimeSource;
  /** Logger and metrics. */
  obs: Observability;
}

/** Reads {@link REJECTED_MESSAGES_ENV}. @throws Error on a value other than `ack` or `retry`. */
export function rejectedFromEnv(env: Env = process.env): RejectedDisposition {
  const v = env[REJECTED_MESSAGES_ENV]?.trim() || 'ack';
  if (v !== 'ack' && v !== 'retry')
    throw new Error(`${REJECTED_MESSAGES_ENV} must be ack or retry, got ${v}`);
  return v;
}

function service(env: Env, fallback: string): string {
  return env[ENV.serviceName] || fallback;
}

/** Deps of one node's handler, from the environment: that node's ports, plus the shared parts. */
function nodeDepsFromEnv(node: 'primary' | 'secondary', fallbackService: string, env: Env): NodeHandlerDeps {
  const params = paramsFromEnv(env);
  const name = service(env, fallbackService);
  const keys = keyringFromEnv(params.vmId, env);
  const obs = powertools(name, params.vmId);
  const onTakeBack = deltaTakeBackReporter(obs);
  return withTestFaults(
    {
      params,
      ports: nodePortsFromEnv(node, keys, env, onTakeBack),
      keys,
      now: systemNow,
      obs,
      rejected: rejectedFromEnv(env),
      redelivery: new SqsRedelivery(sqsClientFromEnv()),
      // Routine log records in batches, no save after a heartbeat-only send (docs/cloud.md "Levers").
      options: { ...LEAN_INVOCATION },
    },
    node,
    name,
    env,
  );
}

/** Deps of a primary-side handler, from the environment. */
export function primaryDepsFromEnv(fallbackService: string, env: Env = process.env): NodeHandlerDeps {
  return nodeDepsFromEnv('primary', fallbackService, env);
}

/** Deps of a secondary-side handler, from the environment. */
export function secondaryDepsFromEnv(fallbackService: string, env: Env = process.env): NodeHandlerDeps {
  return nodeDepsFromEnv('secondary', fallbackService, env);
}

/**
 * Adds the fault hook to a node function's deps when `COLO_TEST_FAULTS=allow` (test-hooks.ts): its ports
 * are wrapped and the hook is kept in `faults`. Without the variable the deps are returned unchanged.
 *
 * @throws Error when the variable has another value.
 */
export function withTestFaults(
  deps: NodeHandlerDeps,
  node: 'primary' | 'secondary',
  serviceName: string,
  env: Env = process.env,
): NodeHandlerDeps {
  if (!testFaultsFromEnv(env)) return deps;
  const faults = new TestFaults({
    node,
    service: serviceName,
    vmId: deps.params.vmId,
    state: deps.ports.state,
    now: deps.now,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    logger: deps.obs.logger,
  });
  deps.obs.logger.warn('test hook active: faults armed in the state store are injected', {
    [TEST_FAULTS_ENV]: env[TEST_FAULTS_ENV],
  });
  return { ...deps, ports: faults.wrap(deps.ports), faults };
}

/**
 * A dead-letter sink on the FIFO queue named by `variable`, created at the first forward, or undefined when
 * the variable is not set.
 */
export function deadLettersFromEnv(variable: string, env: Env = process.env): DeadLetterSink | undefined {
  const queueUrl = env[variable]?.trim();
  if (!queueUrl) return undefined;
  let queue: SqsDeadLetterQueue | undefined;
  return {
    forward(letters) {
      queue ??= new SqsDeadLetterQueue({ queueUrl, client: sqsClientFromEnv() });
      return queue.forward(letters);
    },
  };
}

/**
 * Deps of `secondary-apply`, from the environment: the secondary's, plus the primary → secondary DLQ
 * (`P2S_DLQ_URL`) for refused messages, plus the test hook {@link FETCH_DELAY_ENV} when it is set.
 */
export function secondaryApplyDepsFromEnv(env: Env = process.env): NodeHandlerDeps {
  const base = secondaryDepsFromEnv('secondary-apply', env);
  const deadLetters = deadLettersFromEnv(ENV.p2sDlqUrl, env);
  const deps: NodeHandlerDeps = {
    ...base,
    service: service(env, 'secondary-apply'),
    ...(deadLetters ? { deadLetters, deadLetterScope: 'unexpected' as const } : {}),
  };
  const delayMs = fetchDelayFromEnv(env);
  if (delayMs > 0) {
    deps.obs.logger.warn('test hook active: every delta fetch is delayed', {
      [FETCH_DELAY_ENV]: delayMs,
    });
    deps.ports = { ...deps.ports, deltas: delayedDeltaStore(deps.ports.deltas, delayMs) };
  }
  return deps;
}

/**
 * Deps of the `primary` function (the S → P consumer), from the environment: the primary's, plus the
 * S → P dead-letter queue (`S2P_DLQ_URL`) for the messages that fail authentication. (Other refusals stay
 * as they are: logged, counted, kept in the metrics log.)
 */
export function primaryConsumerDepsFromEnv(env: Env = process.env): NodeHandlerDeps {
  const base = primaryDepsFromEnv('primary', env);
  const deadLetters = deadLettersFromEnv(ENV.s2pDlqUrl, env);
  return {
    ...base,
    service: service(env, 'primary'),
    ...(deadLetters ? { deadLetters, deadLetterScope: 'unexpected' as const } : {}),
  };
}

/** Deps of a tick consumer, from the environment. */
export function tickConsumerDepsFromEnv(
  node: 'primary' | 'secondary',
  timer: TimerName,
  fallbackService: string,
  env: Env = process.env,
): TickConsumerDeps {
  const base =
    node === 'primary'
      ? primaryDepsFromEnv(fallbackService, env)
      : secondaryDepsFromEnv(fallbackService, env);
  // A function deployed without the sibling queues' URLs leaves repairs to the minute watchdog.
  const all = TIMER_NAMES.every((t) => (env[TICK_QUEUE_ENV[t]] ?? '') !== '');
  return {
    ...base,
    ticks: tickSchedulerFromEnv(timer, env),
    siblings: VM_TIMER_NAMES,
    ...(all
      ? {
          chains: {
            checkpoint: tickSchedulerFromEnv('checkpoint', env),
            'pending-check': tickSchedulerFromEnv('pending-check', env),
            heartbeat: tickSchedulerFromEnv('heartbeat', env),
          },
        }
      : {}),
  };
}

/** Deps of the watchdog, from the environment. */
export function watchdogDepsFromEnv(fallbackService: string, env: Env = process.env): WatchdogDeps {
  const params = paramsFromEnv(env);
  return {
    params,
    state: stateStoreFromEnv(env),
    ticks: {
      checkpoint: tickSchedulerFromEnv('checkpoint', env),
      'pending-check': tickSchedulerFromEnv('pending-check', env),
      heartbeat: tickSchedulerFromEnv('heartbeat', env),
    },
    now: systemNow,
    obs: powertools(service(env, fallbackService), params.vmId),
  };
}

/** The timer's parameter, ms: `checkpointDelayMs`, `pendingCheckIntervalMs` or `heartbeatIntervalMs`. */
export function configuredPeriodOf(params: ColoParams, timer: TimerName): number {
  switch (timer) {
    case 'checkpoint':
      return params.checkpointDelayMs;
    case 'pending-check':
      return params.pendingCheckIntervalMs;
    case 'heartbeat':
      return params.heartbeatIntervalMs;
  }
}

/** Tick period of a timer's chain, ms (the heartbeat chain's longest gap: tick-chain.ts `chainPeriodMs`). */
export function periodOf(params: ColoParams, timer: TimerName): number {
  return chainPeriodMs(timer, configuredPeriodOf(params, timer));
}

/**
 * A Lambda entry point that builds its handler on the first call and reuses it while warm; every
 * invocation's AWS usage is recorded (usage-report.ts).
 */
export function lazyHandler<E, R>(build: () => (event: E) => Promise<R>): (event: E) => Promise<R> {
  let h: ((event: E) => Promise<R>) | undefined;
  return withUsageReport((event) => {
    h ??= build();
    return h(event);
  });
}
