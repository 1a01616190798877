import { installCodec } from '../../engine/codec.ts';
import type { Effect, FenceOwner, TraceEffect } from '../../engine/effects.ts';
import { ColoError } from '../../engine/errors.ts';
import { memoryDigest } from '../../engine/memory/digest.ts';
import type { CheckpointRecord, PendingCheckRecord, RoundRecord } from '../../engine/metrics/records.ts';
import type { ColoParams } from '../../engine/params.ts';
import { type PrimaryInput, primaryStep } from '../../engine/primary/primary.ts';
import { createPrimary, type PrimaryState } from '../../engine/primary/state.ts';
import type { PageDelta } from '../../engine/protocol/delta.ts';
import type { ColoMessage, Skip } from '../../engine/protocol/messages.ts';
import { type SecondaryInput, secondaryStep } from '../../engine/secondary/secondary.ts';
import { createSecondary, type SecondaryState } from '../../engine/secondary/state.ts';
import { WIRE_CODEC } from '../../wire/engine-codec.ts';
import { type KeySet, seedKeySet } from '../../wire/replication-key.ts';
import { openMessage, sealMessageBody } from '../../wire/sealed-message.ts';
import { objectContextOfKey, openObject, sealObject } from '../../wire/sealed-object.ts';
import { EventQueue } from './event-queue.ts';
import { type FaultModel, type FaultStats, fateOf, noFaults, outageEnd } from './faults.ts';
import { Link, type LinkParams } from './link.ts';

installCodec(WIRE_CODEC);

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
  /** Extra delay before a primary send reaches the wire, ms (e.g. a stalled upload). */
  stallMs?: (message: ColoMessage) => number;
  /** Fails a primary send (its `send-complete` carries this error). */
  failSend?: (message: ColoMessage) => string | undefined;
  /** The primary dies at this time, ms: it sends and receives nothing more. */
  primaryDiesAt?: number;
  /** An operator requests failover on the secondary at this time, ms. */
  failoverAt?: number;
  /** Seeded faults as SQS, S3 and Lambda produce them (faults.ts). */
  model?: FaultModel;
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
  /**
   * The replication keys messages and objects are sealed and opened with; default the seed's
   * (`seedKeySet(params.seed, params.vmId)`), so every run exercises the cloud's authentication code.
   */
  keys?: KeySet;
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
  /** The fence: the side that won the VM, when and why (null while replicating). */
  fence: { owner: FenceOwner; at: number; reason: string } | null;
  /** Faults injected by the fault model. */
  faultStats: FaultStats;
}

type Event =
  | { kind: 'input'; node: 'primary'; input: PrimaryInput }
  | { kind: 'input'; node: 'secondary'; input: SecondaryInput }
  | { kind: 'deliver'; node: Node; delivery: Delivery }
  | { kind: 'wake'; node: Node; generation: number }
  | { kind: 'claim'; node: Node; reason: string };

/**
 * The embedded runtime: primary and secondary in one process on a virtual clock, with a modelled link in
 * each direction and an in-memory delta store (an object lives as long as a queued delivery names it). Page bytes (materialised mode) really cross: they are
 * encoded, stored, fetched and verified by the secondary. A run is a pure function of its options.
 */
export function runEmbedded(options: EmbeddedOptions): EmbeddedResult {
  const { params, durationMs, faults = {} } = options;
  const primary = createPrimary(params);
  const secondary = createSecondary(params);
  const queue = new EventQueue<Event>();
  const links = { primary: new Link(options.link), secondary: new Link(options.link) };
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
    fence: null,
    faultStats: noFaults(),
  };
  let primaryDead = false;
  const keys = options.keys ?? seedKeySet(params.seed, params.vmId);
  const model = faults.model;
  const stats = out.faultStats;
  // Per direction: messages sent so far (fault draws) and when the channel can next deliver (FIFO order).
  const sentCount = { primary: 0, secondary: 0 };
  const channelFree = { primary: 0, secondary: 0 };
  // Whether each node has been handed the fence decision.
  const informed = { primary: false, secondary: false };

  const perform = (node: Node, at: number, effects: Effect[]): void => {
    for (const e of effects) {
      switch (e.type) {
        case 'send': {
          const fate =
            model && at >= (model.from ?? 0) && at < (model.until ?? Number.POSITIVE_INFINITY)
              ? fateOf(model, params.seed, node === 'primary' ? 0 : 1, sentCount[node]++, !!e.payload)
              : undefined;
          let message: ColoMessage = e.message;
          let sendError: string | undefined;
          // The delta store holds an object only while a delivery of its message is queued: the delivery
          // carries the object itself, so it is freed once the last copy has been handed over.
          let stored: Uint8Array | PageDelta | undefined;
          if (fate?.retired && e.payload) {
            // The object could not be stored: the runtime retires its sequence number (see faults.ts).
            stats.retired++;
            sendError = 'delta object could not be stored';
            const skip: Skip = {
              v: message.v,
              vmId: message.vmId,
              epoch: message.epoch,
              seq: message.seq,
              type: 'skip',
              retired: 'delta',
              reason: sendError,
            };
            message = skip;
          } else if (e.payload) {
            stored = e.payload.bytes ? seal(e.payload.key, e.payload.bytes) : (e.payload.delta as PageDelta);
          }
          if (fate && fate.stallMs > 0) stats.stalled++;
          const readyAt =
            at +
            e.afterMs +
            (fate?.stallMs ?? 0) +
            (node === 'primary' ? (faults.stallMs?.(e.message) ?? 0) : 0);
          const wireBytes = message === e.message ? e.wireBytes : 64;
          const { start, done, arrives } = links[node].transmit(readyAt, wireBytes);
          if (node === 'primary') {
            // A long transfer shows progress to the receiver every half apply timeout while bytes flow.
            const every = params.applyTimeoutMs / 2;
            for (let t = start + links.primary.latencyMs; t < arrives - every / 2; t += every) {
              queue.push(t, { kind: 'input', node: 'secondary', input: { type: 'progress' } });
            }
          }
          out.messages.push({
            from: node,
            type: message.type,
            epoch: message.epoch,
            seq: message.seq,
            at,
          });
          const to: Node = node === 'primary' ? 'secondary' : 'primary';
          const body = sealMessageBody(keys.signing, message, JSON.stringify(message));
          const payload = message.type === 'delta' ? stored : undefined;
          const delivery: Delivery = payload ? { body, payload } : { body };
          let deliverAt = arrives;
          if (fate) {
            if (fate.crashed) stats.crashed++;
            else if (fate.delayMs > 0) stats.delayed++;
            // One message group per direction: nothing overtakes an earlier message, even one redelivered.
            deliverAt = Math.max(arrives + fate.delayMs, channelFree[node]);
            stats.lost += fate.failedAttempts;
            deliverAt += fate.failedAttempts * (model?.redeliveryMs ?? 1000);
            channelFree[node] = deliverAt;
            if (fate.deadLettered) stats.deadLettered++;
            else if (fate.duplicateAfterMs !== null) {
              stats.duplicated++;
              queue.push(deliverAt + fate.duplicateAfterMs, { kind: 'deliver', node: to, delivery });
            }
          }
          if (!fate?.deadLettered) queue.push(deliverAt, { kind: 'deliver', node: to, delivery });
          if (node === 'primary' && e.sendId > 0) {
            const error = sendError ?? faults.failSend?.(e.message);
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
        case 'claim':
          // The control document's compare-and-swap takes a round trip to the state store.
          queue.push(at + (model?.claimMs ?? 10), { kind: 'claim', node, reason: e.reason });
          break;
      }
    }
  };

  /** Seals an object as the cloud's delta store does (src/runtime/cloud/sealed-delta-store.ts). */
  const seal = (key: string, bytes: Uint8Array): Uint8Array => {
    const ctx = objectContextOfKey(key);
    if (!ctx) throw new RangeError(`not a delta key: ${key}`);
    return sealObject(keys.signing, ctx, bytes);
  };

  /**
   * Opens a sealed delivery as the cloud's consumer and delta store do: the message first (a failure is
   * an `unauthenticated` rejection: the node is not stepped, undefined is returned), then its object (a
   * failure is returned as `refusal`, which becomes the engine's `unauthenticated` rejection of the message).
   */
  const open = (
    node: Node,
    at: number,
    d: Delivery,
  ): { delivery: Delivery; refusal?: ColoError } | undefined => {
    const opened = openMessage(keys, d.body);
    if (!opened.ok) {
      const error = new ColoError(
        'unauthenticated',
        `message refused before parsing: ${opened.failure}: ${opened.reason}`,
      );
      out.rejections.push({ node, at, error });
      if (options.trace) {
        out.trace.push({ type: 'trace', name: 'colo_reject', at, fields: { code: error.code }, node });
      }
      return undefined;
    }
    const body = opened.body;
    if (!(d.payload instanceof Uint8Array))
      return { delivery: d.payload ? { body, payload: d.payload } : { body } };
    let key = '';
    try {
      key = String((JSON.parse(body) as { claim?: { key?: unknown } }).claim?.key ?? '');
    } catch {
      // Not JSON: the engine refuses the message itself.
    }
    const ctx = objectContextOfKey(key);
    const inner = ctx ? openObject(keys, d.payload, ctx) : undefined;
    if (inner?.ok) return { delivery: { body, payload: inner.inner } };
    const why = inner && !inner.ok ? `${inner.failure}: ${inner.reason}` : 'the claim names no delta key';
    return {
      delivery: { body, payload: d.payload },
      refusal: new ColoError('unauthenticated', `delta object refused before decoding: ${why}`),
    };
  };

  /** The fence's compare-and-swap: the first claim wins; every claim is answered with the owner. */
  const resolveClaim = (node: Node, at: number, reason: string): void => {
    if (out.fence === null) {
      out.fence = { owner: node, at, reason };
      // The other side learns it the next time it runs; in the cloud that is its next invocation.
      const other: Node = node === 'primary' ? 'secondary' : 'primary';
      queue.push(at + (model?.claimMs ?? 10), { kind: 'wake', node: other, generation: -1 });
    }
    informed[node] = true;
    step(node, at, { type: 'fence', owner: out.fence.owner });
  };

  const step = (node: Node, at: number, input: PrimaryInput | SecondaryInput): void => {
    if (node === 'primary' && primaryDead) return;
    if (out.fence !== null && !informed[node] && input.type !== 'fence') {
      // A decided fence reaches a node before anything else it is given (the cloud reads it first).
      informed[node] = true;
      step(node, at, { type: 'fence', owner: out.fence.owner });
    }
    options.onStep?.(at, node, input);
    const effects =
      node === 'primary'
        ? primaryStep(primary, params, at, input as PrimaryInput)
        : secondaryStep(secondary, params, at, input as SecondaryInput);
    perform(node, at, effects);
    options.observe?.(at, primary, secondary, effects);
  };

  /** Hands a delivery from the wire to `node`: opened first, then (secondary) the faulty-primary hook. */
  const deliver = (node: Node, at: number, wire: Delivery): void => {
    const received = open(node, at, wire);
    if (!received) return;
    const opened = received.delivery;
    let delivery: Delivery | null = opened;
    const message = JSON.parse(delivery.body) as unknown;
    if (node === 'secondary' && faults.toSecondary) {
      delivery = faults.toSecondary(delivery, message as ColoMessage);
      if (!delivery) return;
    }
    const raw = delivery === opened ? message : (JSON.parse(delivery.body) as unknown);
    if (node === 'primary') {
      step('primary', at, { type: 'message', message: raw });
      return;
    }
    const payload = received.refusal && delivery === opened ? received.refusal : delivery.payload;
    step(
      'secondary',
      at,
      payload ? { type: 'message', message: raw, payload } : { type: 'message', message: raw },
    );
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
    // A node in an outage runs nothing: whatever is for it waits until it is back, in order.
    const back =
      item.kind === 'input' || item.kind === 'deliver' || item.kind === 'wake' || item.kind === 'claim'
        ? outageEnd(model, item.node, at)
        : undefined;
    if (back !== undefined) {
      stats.deferred++;
      queue.push(back, item);
      continue;
    }
    if (options.onProgress && at >= nextProgress) {
      options.onProgress(Math.min(1, at / durationMs));
      nextProgress = at + progressEvery;
    }
    switch (item.kind) {
      case 'wake':
        // generation -1: a nudge to learn a fence decided by the other side (see resolveClaim).
        if (item.generation === wakeGen[item.node] || item.generation === -1)
          step(item.node, at, { type: 'tick' });
        break;
      case 'claim':
        resolveClaim(item.node, at, item.reason);
        break;
      case 'input':
        step(item.node, at, item.input);
        break;
      case 'deliver': {
        if (item.node === 'primary' && primaryDead) break;
        const wire =
          item.node === 'secondary' && faults.onWireToSecondary
            ? faults.onWireToSecondary(item.delivery)
            : item.delivery;
        for (const d of wire === null ? [] : Array.isArray(wire) ? wire : [wire as Delivery])
          deliver(item.node, at, d);
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
