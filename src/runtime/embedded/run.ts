import type { Effect, TraceEffect } from '../../engine/effects.ts';
import type { ColoError } from '../../engine/errors.ts';
import { memoryDigest } from '../../engine/memory/digest.ts';
import type { CheckpointRecord, PendingCheckRecord, RoundRecord } from '../../engine/metrics/records.ts';
import type { ColoParams } from '../../engine/params.ts';
import { type PrimaryInput, primaryStep } from '../../engine/primary/primary.ts';
import { createPrimary, type PrimaryState } from '../../engine/primary/state.ts';
import type { PageDelta } from '../../engine/protocol/delta.ts';
import type { ColoMessage } from '../../engine/protocol/messages.ts';
import { type SecondaryInput, secondaryStep } from '../../engine/secondary/secondary.ts';
import { createSecondary, type SecondaryState } from '../../engine/secondary/state.ts';
import { EventQueue } from './event-queue.ts';
import { Link, type LinkParams } from './link.ts';

/** Which node an event is for. */
export type Node = 'primary' | 'secondary';

/** A message as it arrives: the JSON body and the stored object its claim names. */
export interface Delivery {
  /** The message body, as sent (JSON text). */
  body: string;
  /** The object from the delta store, if the message is a `delta`. */
  payload?: Uint8Array | PageDelta;
}

/** Fault injection for tests and experiments. */
export interface Faults {
  /** Rewrites or drops (returns null) a delivery to the secondary before it is handed over. */
  toSecondary?: (d: Delivery, message: ColoMessage) => Delivery | null;
  /** Extra delay before a primary send reaches the wire, ms (e.g. a stalled upload). */
  stallMs?: (message: ColoMessage) => number;
  /** Fails a primary send (its `send-complete` carries this error). */
  failSend?: (message: ColoMessage) => string | undefined;
  /** The primary dies at this time, ms: it sends and receives nothing more. */
  primaryDiesAt?: number;
  /** An operator requests failover on the secondary at this time, ms. */
  failoverAt?: number;
}

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
  /** Called as simulated time passes, with the fraction done (0..1). */
  onProgress?: (fraction: number) => void;
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
  /** Background rounds. */
  rounds: RoundRecord[];
  /** Pending-RAM checks. */
  pendingChecks: PendingCheckRecord[];
  /** Secondary commits (epoch, digest). */
  commits: { epoch: number; digest: string; at: number }[];
  /** Rejected inputs, by node. */
  rejections: { node: Node; at: number; error: ColoError }[];
  /** COLO exits. */
  exits: { node: Node; at: number; reason: string; detail: string }[];
  /** Protocol messages in send order. */
  messages: SentMessage[];
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
}

type Event =
  | { kind: 'input'; node: 'primary'; input: PrimaryInput }
  | { kind: 'input'; node: 'secondary'; input: SecondaryInput }
  | { kind: 'deliver'; node: Node; delivery: Delivery }
  | { kind: 'wake'; node: Node; generation: number };

/**
 * The embedded runtime: primary and secondary in one process on a virtual clock, with a modelled link in
 * each direction and an in-memory delta store. Page bytes (materialised mode) really cross: they are
 * encoded, stored, fetched and verified by the secondary. A run is a pure function of its options.
 */
export function runEmbedded(options: EmbeddedOptions): EmbeddedResult {
  const { params, durationMs, faults = {} } = options;
  const primary = createPrimary(params);
  const secondary = createSecondary(params);
  const queue = new EventQueue<Event>();
  const links = { primary: new Link(options.link), secondary: new Link(options.link) };
  const store = new Map<string, Uint8Array | PageDelta>();
  const wakeGen = { primary: 0, secondary: 0 };
  const out: EmbeddedResult = {
    checkpoints: [],
    rounds: [],
    pendingChecks: [],
    commits: [],
    rejections: [],
    exits: [],
    messages: [],
    trace: [],
    linkBytes: { toSecondary: 0, toPrimary: 0 },
    primary,
    secondary,
    final: { primaryDigest: '', committedDigest: '', runningDigest: '', committedEpoch: 0 },
    events: 0,
  };
  let primaryDead = false;

  const perform = (node: Node, at: number, effects: Effect[]): void => {
    for (const e of effects) {
      switch (e.type) {
        case 'send': {
          const readyAt = at + e.afterMs + (node === 'primary' ? (faults.stallMs?.(e.message) ?? 0) : 0);
          if (e.payload) store.set(e.payload.key, e.payload.bytes ?? (e.payload.delta as PageDelta));
          const { start, done, arrives } = links[node].transmit(readyAt, e.wireBytes);
          if (node === 'primary') {
            // A long transfer shows progress to the receiver every half apply timeout while bytes flow.
            const every = params.applyTimeoutMs / 2;
            for (let t = start + links.primary.latencyMs; t < arrives - every / 2; t += every) {
              queue.push(t, { kind: 'input', node: 'secondary', input: { type: 'progress' } });
            }
          }
          out.messages.push({
            from: node,
            type: e.message.type,
            epoch: e.message.epoch,
            seq: e.message.seq,
            at,
          });
          const to: Node = node === 'primary' ? 'secondary' : 'primary';
          const body = JSON.stringify(e.message);
          const payload = e.message.type === 'delta' ? store.get(e.message.claim.key) : undefined;
          queue.push(arrives, {
            kind: 'deliver',
            node: to,
            delivery: payload ? { body, payload } : { body },
          });
          if (node === 'primary' && e.sendId > 0) {
            const error = faults.failSend?.(e.message);
            const input: PrimaryInput = error
              ? { type: 'send-complete', sendId: e.sendId, error }
              : { type: 'send-complete', sendId: e.sendId };
            queue.push(done, { kind: 'input', node: 'primary', input });
          }
          break;
        }
        case 'wake':
          if (Number.isFinite(e.at))
            queue.push(Math.max(e.at, at), { kind: 'wake', node, generation: ++wakeGen[node] });
          break;
        case 'trace':
          if (options.trace) out.trace.push({ ...e, node });
          break;
        case 'rejected':
          out.rejections.push({ node, at, error: e.error });
          break;
        case 'checkpoint':
          out.checkpoints.push(e.record);
          break;
        case 'round':
          out.rounds.push(e.record);
          break;
        case 'pending-check':
          out.pendingChecks.push(e.record);
          break;
        case 'commit':
          out.commits.push({ epoch: e.epoch, digest: e.digest, at });
          break;
        case 'colo-exit':
          out.exits.push({ node, at, reason: e.reason, detail: e.detail });
          break;
      }
    }
  };

  const step = (node: Node, at: number, input: PrimaryInput | SecondaryInput): void => {
    if (node === 'primary' && primaryDead) return;
    options.onStep?.(at, node, input);
    const effects =
      node === 'primary'
        ? primaryStep(primary, params, at, input as PrimaryInput)
        : secondaryStep(secondary, params, at, input as SecondaryInput);
    perform(node, at, effects);
    options.observe?.(at, primary, secondary, effects);
  };

  queue.push(0, { kind: 'input', node: 'secondary', input: { type: 'start' } });
  if (faults.failoverAt !== undefined) {
    queue.push(faults.failoverAt, { kind: 'input', node: 'secondary', input: { type: 'failover' } });
  }
  // A guard against a node that keeps asking to be woken at the same instant.
  const maxEvents = options.maxEvents ?? 20_000_000;
  const progressEvery = durationMs / 20;
  let nextProgress = progressEvery;
  while (queue.size > 0 && queue.peekTime() <= durationMs) {
    const ev = queue.pop();
    if (!ev) break;
    const { at, item } = ev;
    out.events++;
    if (out.events > maxEvents) {
      throw new Error(`embedded run made no progress: ${maxEvents} events by ${at} ms of ${durationMs} ms`);
    }
    if (!primaryDead && faults.primaryDiesAt !== undefined && at >= faults.primaryDiesAt) primaryDead = true;
    if (options.onProgress && at >= nextProgress) {
      options.onProgress(Math.min(1, at / durationMs));
      nextProgress = at + progressEvery;
    }
    switch (item.kind) {
      case 'wake':
        if (item.generation === wakeGen[item.node]) step(item.node, at, { type: 'tick' });
        break;
      case 'input':
        step(item.node, at, item.input);
        break;
      case 'deliver': {
        if (item.node === 'primary' && primaryDead) break;
        let delivery: Delivery | null = item.delivery;
        const message = JSON.parse(delivery.body) as unknown;
        if (item.node === 'secondary' && faults.toSecondary) {
          delivery = faults.toSecondary(delivery, message as ColoMessage);
          if (!delivery) break;
        }
        const raw = delivery === item.delivery ? message : (JSON.parse(delivery.body) as unknown);
        if (item.node === 'primary') step('primary', at, { type: 'message', message: raw });
        else {
          step(
            'secondary',
            at,
            delivery.payload
              ? { type: 'message', message: raw, payload: delivery.payload }
              : { type: 'message', message: raw },
          );
        }
        break;
      }
    }
  }
  options.onProgress?.(1);
  out.linkBytes = { toSecondary: links.primary.bytes, toPrimary: links.secondary.bytes };
  out.final = {
    primaryDigest: memoryDigest(params.seed, primary.versions),
    committedDigest: memoryDigest(params.seed, secondary.committed),
    runningDigest: memoryDigest(params.seed, secondary.running),
    committedEpoch: secondary.committedEpoch,
  };
  return out;
}
