/** One replicated VM of the embedded runtime, in a world it may share with others (fleet.ts). */
import { installCodec } from '../../engine/codec.ts';
import type { Effect } from '../../engine/effects.ts';
import { ColoError } from '../../engine/errors.ts';
import { memoryDigest } from '../../engine/memory/digest.ts';
import { trackDigest } from '../../engine/memory/digest-tracker.ts';
import { addRound, emptyRoundTotals } from '../../engine/metrics/summary.ts';
import { type PrimaryInput, primaryStep } from '../../engine/primary/primary.ts';
import { createPrimary } from '../../engine/primary/state.ts';
import type { PageDelta } from '../../engine/protocol/delta.ts';
import type { ColoMessage, Skip } from '../../engine/protocol/messages.ts';
import { type SecondaryInput, secondaryStep } from '../../engine/secondary/secondary.ts';
import { createSecondary } from '../../engine/secondary/state.ts';
import { WIRE_CODEC } from '../../wire/engine-codec.ts';
import { recycleFrame } from '../../wire/frame-room.ts';
import { seedKeySet } from '../../wire/replication-key.ts';
import { openMessage, sealMessageBody } from '../../wire/sealed-message.ts';
import { objectContextOfKey, openObject, sealObject } from '../../wire/sealed-object.ts';
import { EventQueue } from './event-queue.ts';
import { fateOf, noFaults, outageEnd } from './faults.ts';
import { Link, type LinkParams } from './link.ts';
import type { Delivery, EmbeddedOptions, EmbeddedResult, Node } from './types.ts';

installCodec(WIRE_CODEC);

/** One queued event of a VM (`vm` indexes the world's VMs). */
export type VmEvent =
  | { vm: number; kind: 'input'; node: 'primary'; input: PrimaryInput }
  | { vm: number; kind: 'input'; node: 'secondary'; input: SecondaryInput }
  | { vm: number; kind: 'deliver'; node: Node; delivery: Delivery; storedBytes: number; kept?: boolean }
  | { vm: number; kind: 'wake'; node: Node; generation: number }
  | { vm: number; kind: 'claim'; node: Node; reason: string };

/**
 * What the VMs of one simulation share: the event queue (one virtual clock), the modelled link (one
 * direction primary → secondary, one back: every VM's sends queue behind each other's) and the delta store.
 */
export interface World {
  /** Every VM's events, in time order. */
  queue: EventQueue<VmEvent>;
  /** The link: `primary` carries primary → secondary sends, `secondary` the way back. */
  links: { primary: Link; secondary: Link };
  /** The delta store's occupancy. */
  store: StoreAccount;
}

/**
 * The in-memory delta store's occupancy: an object is held while a delivery naming it is queued (modelled
 * bytes as on the wire), then deleted — as the secondary deletes each object it consumed — unless the delete
 * fails (`delete-fail`): then it is left over, as for the bucket's lifecycle rule.
 */
export class StoreAccount {
  /** Objects held now and at most. */
  objects = 0;
  peakObjects = 0;
  /** Bytes held now and at most, bytes. */
  bytes = 0;
  peakBytes = 0;

  /** An object of `bytes` is stored (or a copy of its delivery queued). */
  hold(bytes: number): void {
    this.objects++;
    this.bytes += bytes;
    if (this.objects > this.peakObjects) this.peakObjects = this.objects;
    if (this.bytes > this.peakBytes) this.peakBytes = this.bytes;
  }

  /** Objects left over (their delete failed) and their bytes. */
  leftoverObjects = 0;
  leftoverBytes = 0;

  /** A delivery holding `bytes` was handed over (or dropped): its object is deleted. */
  release(bytes: number): void {
    this.objects--;
    this.bytes -= bytes;
  }

  /** A delivery holding `bytes` was handed over, but its object could not be deleted: it is left over. */
  leave(bytes: number): void {
    this.release(bytes);
    this.leftoverObjects++;
    this.leftoverBytes += bytes;
  }
}

/** A new world with its own queue, a link of `link` each way and an empty store. */
export function newWorld(link: LinkParams): World {
  return {
    queue: new EventQueue<VmEvent>(),
    links: { primary: new Link(link), secondary: new Link(link) },
    store: new StoreAccount(),
  };
}

/** One replicated VM (its primary and secondary) in a world. */
export interface VmSimulation {
  /** What it produced so far (`final` and `linkBytes` are filled by {@link VmSimulation.finish}). */
  result: EmbeddedResult;
  /** Handles one of its events at `at`, ms. */
  handle(at: number, item: VmEvent): void;
  /** Fills the final digests and this VM's link bytes. */
  finish(): void;
}

/**
 * Puts VM number `vm` into `world`: its primary and secondary, started at `startAt` ms (the secondary's
 * `start` is queued then). Its sends share the world's link and store with every other VM's. Page bytes
 * (materialised mode) really cross: they are encoded, stored, fetched and verified by the secondary.
 * `options.link` and `options.durationMs` are the world's; `options.maxEvents` and `onProgress` are the
 * driver's (run.ts, fleet.ts).
 */
export function createVm(options: EmbeddedOptions, world: World, vm: number, startAt = 0): VmSimulation {
  const { params, faults = {} } = options;
  const lean = options.lean === true;
  // The per-event lists that grow with simulated time are kept only when asked for (types.ts, RecordKeep).
  const keepRounds = options.keep?.rounds ?? true;
  const keepPendingChecks = options.keep?.pendingChecks ?? !lean;
  const keepMessages = options.keep?.messages ?? !lean;
  const primary = createPrimary(params, startAt);
  const secondary = createSecondary(params, startAt);
  // Digests at every stop and commit in O(pages written since the last one), not O(guest pages).
  trackDigest(params.seed, primary.versions);
  trackDigest(params.seed, secondary.committed);
  trackDigest(params.seed, secondary.running);
  const { queue, links, store } = world;
  // Bytes this VM put on each direction of the (shared) link.
  const sentBytes = { primary: 0, secondary: 0 };
  const wakeGen = { primary: 0, secondary: 0 };
  const out: EmbeddedResult = {
    checkpoints: [],
    rounds: [],
    roundTotals: emptyRoundTotals(),
    pendingChecks: [],
    commits: [],
    rejections: [],
    exits: [],
    messages: [],
    messagesSent: 0,
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
  // A delivered object's memory is reused for the next one (src/wire/frame-room.ts) only when nothing but
  // the secondary's step can have seen it: no fault model (duplicates), no hooks, no observers.
  const recycles =
    !model && !faults.toSecondary && !faults.onWireToSecondary && !options.onStep && !options.observe;

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
            ((node === 'primary' ? faults.stallMs : faults.secondaryStallMs)?.(e.message, at + e.afterMs) ??
              0);
          const wireBytes = message === e.message ? e.wireBytes : 64;
          const { start, done, arrives } = links[node].transmit(readyAt, wireBytes);
          sentBytes[node] += wireBytes;
          if (node === 'primary') {
            // A long transfer shows progress to the receiver every half apply timeout while bytes flow.
            const every = params.applyTimeoutMs / 2;
            for (let t = start + links.primary.latencyMs; t < arrives - every / 2; t += every) {
              queue.push(t, { vm, kind: 'input', node: 'secondary', input: { type: 'progress' } });
            }
          }
          out.messagesSent++;
          if (keepMessages)
            out.messages.push({ from: node, type: message.type, epoch: message.epoch, seq: message.seq, at });
          const to: Node = node === 'primary' ? 'secondary' : 'primary';
          const body = sealMessageBody(keys.signing, message, JSON.stringify(message));
          const payload = message.type === 'delta' ? stored : undefined;
          // The channel holds it once its bytes are on the wire: that is its send time, for every copy.
          const delivery: Delivery = payload ? { body, payload, sentAt: done } : { body, sentAt: done };
          const storedBytes = payload ? wireBytes : 0;
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
              if (storedBytes) store.hold(storedBytes);
              queue.push(deliverAt + fate.duplicateAfterMs, {
                vm,
                kind: 'deliver',
                node: to,
                delivery,
                storedBytes,
              });
            }
          }
          if (!fate?.deadLettered) {
            if (storedBytes) store.hold(storedBytes);
            const kept = storedBytes > 0 && fate?.kept === true;
            if (kept) stats.kept++;
            queue.push(deliverAt, { vm, kind: 'deliver', node: to, delivery, storedBytes, kept });
          }
          if (node === 'primary' && e.sendId > 0) {
            const error = sendError ?? faults.failSend?.(e.message);
            const input: PrimaryInput = error
              ? { type: 'send-complete', sendId: e.sendId, error }
              : { type: 'send-complete', sendId: e.sendId };
            queue.push(done, { vm, kind: 'input', node: 'primary', input });
          }
          break;
        }
        case 'wake':
          if (Number.isFinite(e.at))
            queue.push(Math.max(e.at, at), { vm, kind: 'wake', node, generation: ++wakeGen[node] });
          break;
        case 'trace':
          if (options.trace && !lean) out.trace.push({ ...e, node });
          break;
        case 'rejected':
          out.rejections.push({ node, at, error: e.error });
          break;
        case 'checkpoint':
          out.checkpoints.push(e.record);
          break;
        case 'round':
          addRound(out.roundTotals, e.record);
          if (keepRounds) out.rounds.push(e.record);
          break;
        case 'pending-check':
          if (keepPendingChecks) out.pendingChecks.push(e.record);
          break;
        case 'commit':
          out.commits.push({ epoch: e.epoch, digest: e.digest, at });
          break;
        case 'colo-exit':
          out.exits.push({ node, at, reason: e.reason, detail: e.detail });
          break;
        case 'claim':
          // The control document's compare-and-swap takes a round trip to the state store.
          queue.push(at + (model?.claimMs ?? 10), { vm, kind: 'claim', node, reason: e.reason });
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
      queue.push(at + (model?.claimMs ?? 10), { vm, kind: 'wake', node: other, generation: -1 });
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
    // The send time is the channel's: taken from the wire copy, whatever a faulty primary rewrote.
    const input: SecondaryInput = { type: 'message', message: raw };
    if (payload) input.payload = payload;
    if (wire.sentAt !== undefined) input.sentAt = wire.sentAt;
    step('secondary', at, input);
  };

  queue.push(startAt, { vm, kind: 'input', node: 'secondary', input: { type: 'start' } });
  if (faults.failoverAt !== undefined) {
    queue.push(faults.failoverAt, { vm, kind: 'input', node: 'secondary', input: { type: 'failover' } });
  }

  const handle = (at: number, item: VmEvent): void => {
    out.events++;
    if (!primaryDead && faults.primaryDiesAt !== undefined && at >= faults.primaryDiesAt) primaryDead = true;
    // A node in an outage runs nothing: whatever is for it waits until it is back, in order.
    const back = outageEnd(model, item.node, at);
    if (back !== undefined) {
      stats.deferred++;
      queue.push(back, item);
      return;
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
        if (item.storedBytes) {
          if (item.kept) store.leave(item.storedBytes);
          else store.release(item.storedBytes);
        }
        if (item.node === 'primary' && primaryDead) break;
        const wire =
          item.node === 'secondary' && faults.onWireToSecondary
            ? faults.onWireToSecondary(item.delivery)
            : item.delivery;
        for (const d of wire === null ? [] : Array.isArray(wire) ? wire : [wire as Delivery])
          deliver(item.node, at, d);
        if (recycles && item.delivery.payload instanceof Uint8Array) recycleFrame(item.delivery.payload);
        break;
      }
    }
  };

  const finish = (): void => {
    out.linkBytes = { toSecondary: sentBytes.primary, toPrimary: sentBytes.secondary };
    out.final = {
      primaryDigest: memoryDigest(params.seed, primary.versions),
      committedDigest: memoryDigest(params.seed, secondary.committed),
      runningDigest: memoryDigest(params.seed, secondary.running),
      committedEpoch: secondary.committedEpoch,
    };
  };

  return { result: out, handle, finish };
}
