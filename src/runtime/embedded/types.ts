/** The embedded runtime's options and results (src/runtime/embedded/run.ts, fleet.ts). */
import type { Effect, FenceOwner, TraceEffect } from '../../engine/effects.ts';
import type { ColoError } from '../../engine/errors.ts';
import type {
  CheckpointRecord,
  PendingCheckRecord,
  RoundRecord,
  RoundTotals,
} from '../../engine/metrics/records.ts';
import type { ColoParams } from '../../engine/params.ts';
import type { PrimaryInput } from '../../engine/primary/primary.ts';
import type { PrimaryState } from '../../engine/primary/state.ts';
import type { PageDelta } from '../../engine/protocol/delta.ts';
import type { ColoMessage } from '../../engine/protocol/messages.ts';
import type { SecondaryInput } from '../../engine/secondary/secondary.ts';
import type { SecondaryState } from '../../engine/secondary/state.ts';
import type { KeySet } from '../../wire/replication-key.ts';
import type { FaultModel, FaultStats } from './faults.ts';
import type { LinkParams } from './link.ts';

/** Which node an event is for. */
export type Node = 'primary' | 'secondary';

/**
 * A message as it arrives: the body and the stored object its claim names — sealed as they travel
 * (a sealed message, a sealed object), opened as the node gets them.
 */
export interface Delivery {
  /** The message body: sealed text on the wire, JSON text once opened. */
  body: string;
  /** The object from the delta store, if the message is a `delta` (modelled payloads are never sealed). */
  payload?: Uint8Array | PageDelta;
  /**
   * When the channel accepted the message, ms (what SQS calls `SentTimestamp`): the same for every delivery
   * of it, duplicates and redeliveries included. A heartbeat is judged by it.
   */
  sentAt?: number;
}

/** Fault injection for tests and experiments. */
export interface Faults {
  /**
   * Rewrites or drops (returns null) a delivery to the secondary after it was authenticated: what a faulty
   * primary *holding the key* would send (the rewritten body and object are handed over as they are).
   */
  toSecondary?: (d: Delivery, message: ColoMessage) => Delivery | null;
  /**
   * Rewrites, drops (null) or adds to (a list, handed over in order) a delivery to the secondary on the
   * wire, before it is authenticated: what someone with access to the channel and the store but *without
   * the key* can do. `d` is sealed.
   */
  onWireToSecondary?: (d: Delivery) => Delivery | null | readonly Delivery[];
  /** Extra delay before a primary send reaches the wire, ms (e.g. a stalled upload); `at`: when the send
   * leaves the node (before this delay), ms. */
  stallMs?: (message: ColoMessage, at: number) => number;
  /** Extra delay before a secondary send reaches the wire, ms (e.g. its host stalled); `at` as above, ms. */
  secondaryStallMs?: (message: ColoMessage, at: number) => number;
  /** Fails a primary send (its `send-complete` carries this error). */
  failSend?: (message: ColoMessage) => string | undefined;
  /** The primary dies at this time, ms: it sends and receives nothing more. */
  primaryDiesAt?: number;
  /** An operator requests failover on the secondary at this time, ms. */
  failoverAt?: number;
  /** Seeded faults as SQS, S3 and Lambda produce them (faults.ts). */
  model?: FaultModel;
}

/**
 * Which of a run's per-event record lists it keeps ({@link EmbeddedOptions.keep}); a field left out keeps
 * its list (unless the run is `lean`). These are the lists that grow with simulated time — a round, a
 * pending check, a message every few hundred ms — while checkpoints, commits and rejections are few.
 */
export interface RecordKeep {
  /** Keep every {@link RoundRecord} ({@link EmbeddedResult.rounds}); counted in `roundTotals` either way. */
  rounds?: boolean;
  /** Keep every {@link PendingCheckRecord} ({@link EmbeddedResult.pendingChecks}). */
  pendingChecks?: boolean;
  /** Keep the message log ({@link EmbeddedResult.messages}); counted in `messagesSent` either way. */
  messages?: boolean;
}

/**
 * Keep none of the per-event lists, only their running totals: all a `colo run` report reads of them
 * (its summary and message count), so a long modelled run holds memory flat in simulated time.
 */
export const TOTALS_ONLY: Readonly<RecordKeep> = Object.freeze({
  rounds: false,
  pendingChecks: false,
  messages: false,
});

/** What to run. */
export interface EmbeddedOptions {
  /** Engine parameters. */
  params: ColoParams;
  /** Modelled link. */
  link: LinkParams;
  /** Simulated time to run, ms. */
  durationMs: number;
  /** Keep trace events (they can be many). */
  trace?: boolean;
  /** Fault injection. */
  faults?: Faults;
  /**
   * The replication keys messages and objects are sealed and opened with; default the seed's
   * (`seedKeySet(params.seed, params.vmId)`), so every run exercises the cloud's authentication code.
   */
  keys?: KeySet;
  /** Called as simulated time passes, with the fraction done (0..1). */
  onProgress?: (fraction: number) => void;
  /**
   * Keep only what a fleet needs per VM: no message log (only {@link EmbeddedResult.messagesSent}), no
   * pending-check records, no trace. Checkpoints, rounds and commits are kept (summaries and verification).
   */
  lean?: boolean;
  /**
   * Which per-event record lists to keep, over the default (every one; a `lean` run: rounds only). A list
   * not kept stays empty; its totals ({@link EmbeddedResult.roundTotals}, `messagesSent`) are kept anyway.
   * {@link TOTALS_ONLY} keeps what a report reads and no more.
   */
  keep?: RecordKeep;
  /** Stop with an error after this many events (a guard against a runaway run); default 20 million. */
  maxEvents?: number;
  /**
   * Called just before every engine step with the virtual time (ms), the node and the exact input it is
   * about to get — the run's schedule. A conformance driver records it and replays it on another runtime
   * (`src/runtime/localstack/`). Inputs are the engine's own objects: copy what you keep, mutate nothing.
   */
  onStep?: (at: number, node: Node, input: PrimaryInput | SecondaryInput) => void;
  /** Called after every event with both states (tests use it to check invariants at every instant). */
  observe?: (
    at: number,
    primary: PrimaryState,
    secondary: SecondaryState,
    effects: readonly Effect[],
  ) => void;
}

/** One protocol message as it was sent. */
export interface SentMessage {
  /** Direction. */
  from: Node;
  /** Message type. */
  type: ColoMessage['type'];
  /** Epoch and sequence. */
  epoch: number;
  seq: number;
  /** When it was handed to the link, ms. */
  at: number;
}

/** Everything a run produced. */
export interface EmbeddedResult {
  /** Completed checkpoints. */
  checkpoints: CheckpointRecord[];
  /** Background rounds (empty when not kept: {@link EmbeddedOptions.keep}). */
  rounds: RoundRecord[];
  /** Running totals of the background rounds, whether or not their records are kept. */
  roundTotals: RoundTotals;
  /** Pending-RAM checks (empty in a lean run, or when not kept). */
  pendingChecks: PendingCheckRecord[];
  /** Secondary commits (epoch, digest). */
  commits: { epoch: number; digest: string; at: number }[];
  /** Rejected inputs, by node. */
  rejections: { node: Node; at: number; error: ColoError }[];
  /** COLO exits. */
  exits: { node: Node; at: number; reason: string; detail: string }[];
  /** Protocol messages in send order (empty in a lean run, or when not kept). */
  messages: SentMessage[];
  /** Protocol messages sent, both directions (counted in a lean run too). */
  messagesSent: number;
  /** Trace events (when asked for). */
  trace: (TraceEffect & { node: Node })[];
  /** Bytes carried by each link direction (modelled), bytes. */
  linkBytes: { toSecondary: number; toPrimary: number };
  /** Final states. */
  primary: PrimaryState;
  secondary: SecondaryState;
  /** Digests at the end: the PVM's memory, the SVM's committed image and its running memory. */
  final: { primaryDigest: string; committedDigest: string; runningDigest: string; committedEpoch: number };
  /** Events processed. */
  events: number;
  /** The fence: the side that won the VM, when and why (null while replicating). */
  fence: { owner: FenceOwner; at: number; reason: string } | null;
  /** Faults injected by the fault model. */
  faultStats: FaultStats;
}
