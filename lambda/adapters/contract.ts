/**
 * The contract between the CDK stack (`lib/`) and the Lambda handlers: environment variable names, S3 key
 * layout and the tick message of the sub-minute timers. Pure: no AWS SDK imports, so the CDK app can
 * import it at synth time without pulling in the clients.
 */
import type { DeltaKind } from '../../src/engine/protocol/messages.ts';
import { controlKey } from '../../src/runtime/cloud/keys.ts';

/** Key prefix (inside the bucket, after the store's own prefix) of every page-delta object. */
export const DELTA_PREFIX = 'deltas/';

/** Key prefix (inside the bucket, after the store's own prefix) of every state document. */
export const STATE_PREFIX = 'state/';

/** Digits of the zero-padded epoch in a delta key (epochs below 10^10). */
export const EPOCH_DIGITS = 10;

/** Digits of the zero-padded sequence number in a delta key (sequence numbers below 10^12). */
export const SEQ_DIGITS = 12;

/** Delta kinds a key may name. */
export const DELTA_KINDS: readonly DeltaKind[] = ['background-ram', 'checkpoint-ram', 'device-state'];

/**
 * What a VM id may look like: it is a key segment, a FIFO message group, part of resource names and a
 * field of every message, so the wire format's rule is the one rule.
 */
import { VM_ID_PATTERN } from '../../src/wire/limits.ts';

export { VM_ID_PATTERN };

function checkCounter(name: string, value: number, digits: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 10 ** digits) {
    throw new RangeError(`${name} must be an integer in [0, 10^${digits}), got ${value}`);
  }
}

/**
 * Store-relative key of a page-delta object: `<vmId>/<epoch padded to 10>/<seq padded to 12>-<kind>`
 * (the form the {@link DeltaStore} port and a claim check name). `S3DeltaStore` stores it at
 * `<prefix>deltas/<key>`, so the full S3 key is `<prefix>deltas/<vmId>/<epoch>/<seq>-<kind>`; zero padding
 * makes a listing come back in (epoch, seq) order.
 *
 * @param vmId - VM id, matching {@link VM_ID_PATTERN}.
 * @param epoch - Epoch number, integer in [0, 10^10).
 * @param seq - Sequence number of the announcing `delta` message, integer in [0, 10^12).
 * @param kind - What the object holds.
 * @throws RangeError on a malformed argument.
 */
export function deltaKey(vmId: string, epoch: number, seq: number, kind: DeltaKind): string {
  if (!VM_ID_PATTERN.test(vmId)) throw new RangeError(`vmId must match ${VM_ID_PATTERN}, got ${vmId}`);
  checkCounter('epoch', epoch, EPOCH_DIGITS);
  checkCounter('seq', seq, SEQ_DIGITS);
  if (!DELTA_KINDS.includes(kind)) throw new RangeError(`unknown delta kind ${kind}`);
  return `${vmId}/${String(epoch).padStart(EPOCH_DIGITS, '0')}/${String(seq).padStart(SEQ_DIGITS, '0')}-${kind}`;
}

/** The three sub-minute timers, each driven by its own chain of delayed SQS tick messages. */
export type TimerName = 'checkpoint' | 'pending-check' | 'heartbeat';

/** All timer names. */
export const TIMER_NAMES: readonly TimerName[] = ['checkpoint', 'pending-check', 'heartbeat'];

/**
 * The timers a VM's own chain drives on a deployed stack: the checkpoint timer. The pending check and the
 * secondary's monitor run for the whole stack on its two stack chains ({@link STACK_TIMER_NAMES}); the
 * per-VM `pending-check` and `heartbeat` chains remain for a stack without them (tests, older stacks).
 */
export const VM_TIMER_NAMES: readonly TimerName[] = ['checkpoint'];

/**
 * The stack's two chains (docs/cloud.md "The pulse and the monitor"): `pulse` steps the primary of every
 * registered VM whose pending check is due, once a second for the whole stack; `monitor` steps, every 2 s,
 * the secondaries that have something due. Their ticks name the stack, {@link STACK_CHAIN_ID}, not a VM.
 */
export type StackTimerName = 'pulse' | 'monitor';

/** All stack timer names. */
export const STACK_TIMER_NAMES: readonly StackTimerName[] = ['pulse', 'monitor'];

/** Any chain's timer: a VM's or the stack's. */
export type ChainName = TimerName | StackTimerName;

/**
 * The `vmId` of a stack chain's ticks and the prefix of the stack's own state documents: `_` starts no VM
 * id (`VM_ID_PATTERN`), so no VM's tick, message or key can name it.
 */
export const STACK_CHAIN_ID = '_fleet';

/** The tick queue a stack chain shares with a VM timer: the pulse rides the pending-check queue, the monitor the heartbeat queue. */
export const STACK_CHAIN_QUEUE: Readonly<Record<StackTimerName, TimerName>> = {
  pulse: 'pending-check',
  monitor: 'heartbeat',
};

/** True for a stack chain's timer name. */
export function isStackTimer(timer: string): timer is StackTimerName {
  return (STACK_TIMER_NAMES as readonly string[]).includes(timer);
}

/** State-store key of the pulse document (which VMs' primaries stepped when: pulse-document.ts). */
export const PULSE_DOCUMENT_KEY = `${STACK_CHAIN_ID}/pulse.json`;

/** State-store key of the monitor document (each secondary's next wake as the monitor last saw it). */
export const MONITOR_DOCUMENT_KEY = `${STACK_CHAIN_ID}/monitor.json`;

/**
 * Body of one tick message (JSON) on a tick queue. A chain is identified by `generation`; `seq` counts its
 * ticks from 1. A consumer accepts a tick only if it names the current generation and the next seq of the
 * timer's state document (compare-and-swap), so duplicate deliveries and ticks of a replaced chain are
 * dropped. See docs/cloud.md.
 */
export interface TickMessage {
  /** Body version, always 1. */
  v: 1;
  /** VM the timer belongs to ({@link STACK_CHAIN_ID} for a stack chain). */
  vmId: string;
  /** Which timer. */
  timer: ChainName;
  /** Chain generation; the watchdog starts a new generation when it repairs a lost chain. */
  generation: number;
  /** Tick number within the generation, from 1. */
  seq: number;
  /** When the tick was meant to fire, ms since the Unix epoch. */
  dueAt: number;
}

/**
 * State-store key of a timer's chain document (`{ generation, seq, dueAt, lastTickAt, claimedBy }`), which
 * consumers update by compare-and-swap to accept exactly one tick per seq.
 */
export function timerStateKey(vmId: string, timer: ChainName): string {
  return `${vmId}/timers/${timer}.json`;
}

/**
 * State-store key of a VM's control document (`{ failedOver, reason, at, owner }`): `owner` is the fence
 * (src/runtime/cloud/control.ts); once `failedOver` is set, tick consumers drop their ticks (the chains end)
 * and the watchdog no longer re-arms them.
 */
export function controlStateKey(vmId: string): string {
  return controlKey(vmId);
}

/** S3 key prefix of the VM registry: one config document per VM (src/parameters/vm-config.ts). */
export const VM_CONFIG_PREFIX = 'vms/';

/**
 * S3 key of VM `vmId`'s config document, `vms/<vmId>.json`: present = the VM is registered on the stack.
 * Listing the prefix lists the fleet (VM ids never contain `/` or `.`, so the key maps back to one id).
 */
export function vmConfigKey(vmId: string): string {
  return `${VM_CONFIG_PREFIX}${vmId}.json`;
}

/** The VM id of a registry key, or undefined for a key that is not `vms/<vm id>.json`. */
export function vmIdOfConfigKey(key: string): string | undefined {
  if (!key.startsWith(VM_CONFIG_PREFIX) || !key.endsWith('.json')) return undefined;
  const id = key.slice(VM_CONFIG_PREFIX.length, -'.json'.length);
  return VM_ID_PATTERN.test(id) ? id : undefined;
}

/**
 * State-store-relative key of the fleet watchdog's cursor (where its next run starts): the one state
 * document that belongs to no VM (`_` starts no VM id, so no VM's keys can reach it).
 */
export const FLEET_WATCHDOG_CURSOR_KEY = '_fleet/watchdog.json';

/** The JSON field of the replication secret (`{"key":"<text>"}`) that holds the key text. */
export const SECRET_KEY_FIELD = 'key';

/** Largest per-message SQS delay, seconds. */
export const MAX_DELAY_SECONDS = 900;

/**
 * SQS `DelaySeconds` for a tick due at `dueAt`: the remaining time rounded up to whole seconds, clamped to
 * [0, 900]. A tick further than 900 s away is delivered early and the consumer re-enqueues the rest.
 *
 * @param dueAt - When the tick should fire, ms since the Unix epoch.
 * @param now - Current time, ms since the Unix epoch.
 * @returns Delay in whole seconds.
 */
export function tickDelaySeconds(dueAt: number, now: number): number {
  const seconds = Math.ceil((dueAt - now) / 1000);
  return Math.min(MAX_DELAY_SECONDS, Math.max(0, seconds));
}

/**
 * When the tick after one due at `prevDueAt` is due: one period later, so the chain does not drift by the
 * delivery latency; if the chain has fallen more than one period behind `now`, it realigns to `now + period`
 * instead of firing a burst of catch-up ticks.
 *
 * @param prevDueAt - Due time of the tick just handled, ms since the Unix epoch.
 * @param periodMs - Timer period, ms.
 * @param now - Current time, ms since the Unix epoch.
 * @returns Due time of the next tick, ms since the Unix epoch.
 */
export function nextDueAt(prevDueAt: number, periodMs: number, now: number): number {
  const next = prevDueAt + periodMs;
  // Whole ms: a tick's dueAt must be an integer (a virtual clock's sleeps leave fractions in `now`).
  return next < now - periodMs ? Math.floor(now) + periodMs : next;
}

/**
 * Environment variables the stack gives the functions. Every function gets the parameters
 * (`VM_ID` … `HEARTBEAT_TIMEOUT_MS`, `BUCKET_NAME`, `POWERTOOLS_SERVICE_NAME`); queue URLs only where the
 * function holds a grant on that queue.
 */
export const ENV = {
  /** VM id. */
  vmId: 'VM_ID',
  /** Workload and page-content seed (integer). */
  seed: 'SEED',
  /** Guest RAM, bytes. */
  guestBytes: 'GUEST_BYTES',
  /** Workload kind name. */
  workload: 'WORKLOAD',
  /** Background policy name (`none` | `fixed` | `adaptive`). */
  policy: 'POLICY',
  /** Checkpoint timer period (`x-checkpoint-delay`), ms. */
  checkpointDelayMs: 'CHECKPOINT_DELAY_MS',
  /** Pending-RAM check period, ms. */
  pendingCheckIntervalMs: 'PENDING_CHECK_INTERVAL_MS',
  /** Pending dirty RAM that triggers a background round, bytes. */
  thresholdBytes: 'THRESHOLD_BYTES',
  /** Secondary apply deadline, ms. */
  applyTimeoutMs: 'APPLY_TIMEOUT_MS',
  /** Primary heartbeat period and heartbeat-monitor check period, ms. */
  heartbeatIntervalMs: 'HEARTBEAT_INTERVAL_MS',
  /** Silence after which the primary is declared lost, ms. */
  heartbeatTimeoutMs: 'HEARTBEAT_TIMEOUT_MS',
  /** Bucket holding deltas and state. */
  bucketName: 'BUCKET_NAME',
  /** FIFO queue primary → secondary. */
  p2sQueueUrl: 'P2S_QUEUE_URL',
  /** FIFO queue secondary → primary. */
  s2pQueueUrl: 'S2P_QUEUE_URL',
  /**
   * FIFO dead-letter queue of the primary → secondary channel: `secondary-apply` forwards every message the
   * engine refused to it (body + error attributes) before acknowledging it.
   */
  p2sDlqUrl: 'P2S_DLQ_URL',
  /** Dead-letter queue of the S → P channel (the `primary` forwards messages that fail authentication). */
  s2pDlqUrl: 'S2P_DLQ_URL',
  /**
   * ARN of the Secrets Manager secret holding the deployment's replication key (its ARN only: the key
   * is read with `GetSecretValue` by the functions that seal or open, never put in the environment).
   */
  replicationKeySecretArn: 'REPLICATION_KEY_SECRET_ARN',
  /** Tick queue of the checkpoint timer. */
  checkpointTickQueueUrl: 'CHECKPOINT_TICK_QUEUE_URL',
  /** Tick queue of the pending-check timer. */
  pendingCheckTickQueueUrl: 'PENDING_CHECK_TICK_QUEUE_URL',
  /** Tick queue of the heartbeat monitor. */
  heartbeatTickQueueUrl: 'HEARTBEAT_TICK_QUEUE_URL',
  /** `1` to address S3 path-style (set by the stack when context `s3ForcePathStyle` is true). */
  s3ForcePathStyle: 'AWS_S3_FORCE_PATH_STYLE',
  /** Powertools service name (the function's role, e.g. `secondary-apply`). */
  serviceName: 'POWERTOOLS_SERVICE_NAME',
} as const;

/** Environment variable of the tick queue that drives each timer. */
export const TICK_QUEUE_ENV: Readonly<Record<TimerName, string>> = {
  checkpoint: ENV.checkpointTickQueueUrl,
  'pending-check': ENV.pendingCheckTickQueueUrl,
  heartbeat: ENV.heartbeatTickQueueUrl,
};
