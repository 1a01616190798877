/**
 * The embedded runtime's fault model: what can go wrong with a message, an object, a node, and how the
 * runtime (SQS, S3, Lambda) turns it into something the engine sees. The embedded runtime draws every fault
 * from a seed, so a faulty run is as reproducible as a clean one. The cloud runtime's tests inject the same
 * kinds with their own injectors — wrapped ports (test/unit/cloud/crash-sim.ts) and, on LocalStack, the
 * fault hook (lambda/handlers/common/test-hooks.ts); docs/reliability.md maps one vocabulary onto the other.
 *
 * How each fault reaches the engine, as on SQS FIFO + S3 + Lambda:
 * - **lost delivery** (the consumer reported the record failed: a fetch or a store call kept failing): the
 *   record is visible again after `redeliveryMs` (the consumer shortens its visibility) and, FIFO, holds
 *   back the later messages of its direction; after `maxReceives` failed deliveries it goes to the
 *   dead-letter queue and the later messages move on;
 * - **consumer crash** (killed by a timeout or out of memory, so it reports nothing): the record comes back
 *   only after the queue's visibility timeout, `visibilityMs`, holding back its direction as long;
 * - **duplicate** (at-least-once): a second copy arrives later, possibly after newer messages (reordered);
 * - **delay**: extra latency; order within a direction is kept (one message group per VM);
 * - **put failure** (S3 kept refusing a delta object through the runtime's retries): the message's sequence
 *   number is retired with a `skip` in its place and the sender's send completes with an error;
 * - **put stall**: the object is stored late, so the message leaves late;
 * - **delete failure**: the secondary could not delete an object it consumed (the delete failed, or its
 *   function died after its save): the object stays in the store (until the bucket's lifecycle rule);
 * - **outage** (a node's functions crash or cannot run): the node steps nothing in the window; inputs and
 *   timers wait until it is back (its state is persisted, as in the cloud).
 */
import type { FenceOwner } from '../../engine/effects.ts';
import { unit } from '../../engine/rng.ts';

/** A window in which one node runs nothing. */
export interface Outage {
  /** Which node. */
  node: FenceOwner;
  /** Start and end, ms of simulated time. */
  from: number;
  until: number;
}

/** Fault rates and windows. Probabilities are per message (0..1); every field is optional. */
export interface FaultModel {
  /** Seed of the fault draws (default: the scenario's seed). */
  seed?: number;
  /** Probability that one delivery attempt fails (the consumer died, the fetch failed). */
  lose?: number;
  /** Probability that the consumer handling a message is killed (the record waits `visibilityMs`). */
  crash?: number;
  /** The queue's visibility timeout, ms. Default 60 000 (the P→S channel of the stack). */
  visibilityMs?: number;
  /** Probability that a message is delivered twice (the copy may overtake nothing but may trail newer ones). */
  duplicate?: number;
  /** Probability of an extra delay. */
  delay?: number;
  /** Range of an extra delay, ms (uniform). Default [0, 500]. */
  delayMs?: [number, number];
  /** Probability that a delta object cannot be stored: its sequence number is retired with a `skip`. */
  putFail?: number;
  /** Probability that storing a delta object is slow, and how slow, ms (uniform). Default [0, 2000]. */
  putStall?: number;
  putStallMs?: [number, number];
  /**
   * Probability that the secondary cannot delete a delta object it consumed (the delete fails, or its
   * function dies after the save): the object stays in the store until the bucket's lifecycle rule; nothing
   * else changes.
   */
  deleteFail?: number;
  /** Time until a failed delivery is visible again, ms. Default 1 000 (the consumer shortens visibility). */
  redeliveryMs?: number;
  /** Deliveries of one message before it is dead-lettered. Default 5 (the stacks' receive limit). */
  maxReceives?: number;
  /** Node outages. */
  outages?: Outage[];
  /** Round trip of a claim to the control document, ms. Default 10. */
  claimMs?: number;
  /** Message and object faults hit only what is sent in [from, until), ms (default: the whole run). */
  from?: number;
  until?: number;
}

/** Counts of faults a run injected and how they ended. */
export interface FaultStats {
  /** Delivery attempts that failed (each one redelivered or, at the limit, dead-lettered). */
  lost: number;
  /** Messages dead-lettered after `maxReceives` failed deliveries. */
  deadLettered: number;
  /** Extra copies delivered. */
  duplicated: number;
  /** Messages delayed. */
  delayed: number;
  /** Consumers killed while handling a message (its redelivery waited for the visibility timeout). */
  crashed: number;
  /** Delta objects that could not be stored (sequence numbers retired). */
  retired: number;
  /** Objects stored late. */
  stalled: number;
  /** Consumed objects the secondary could not delete (left to the lifecycle rule). */
  kept: number;
  /** Events deferred by an outage. */
  deferred: number;
}

/** A fresh, all-zero {@link FaultStats}. */
export function noFaults(): FaultStats {
  return {
    lost: 0,
    deadLettered: 0,
    duplicated: 0,
    delayed: 0,
    crashed: 0,
    retired: 0,
    stalled: 0,
    kept: 0,
    deferred: 0,
  };
}

/** Salts that keep the draws of different fault kinds independent. */
const SALT = {
  lose: 1,
  duplicate: 2,
  delay: 3,
  delayAmount: 4,
  put: 5,
  stall: 6,
  stallAmount: 7,
  dup: 8,
  crash: 9,
  keep: 10,
};

/** What happens to one message, decided when it is sent. */
export interface MessageFate {
  /** Extra delay before its first delivery attempt, ms (a delay, and a crashed consumer's visibility wait). */
  delayMs: number;
  /** True when the consumer of its first delivery was killed. */
  crashed: boolean;
  /** Failed delivery attempts before the one that succeeds. */
  failedAttempts: number;
  /** True when every attempt failed: the message is dead-lettered. */
  deadLettered: boolean;
  /** Delay of a duplicate after the delivery, ms, or null for none. */
  duplicateAfterMs: number | null;
  /** True when its object could not be stored (a delta only): it is retired with a `skip`. */
  retired: boolean;
  /** Extra time to store its object, ms. */
  stallMs: number;
  /** True when the secondary cannot delete its object once consumed (a delta only). */
  kept: boolean;
}

function between(r: number, range: [number, number]): number {
  return range[0] + r * (range[1] - range[0]);
}

/**
 * Draws the fate of the `k`-th message sent in direction `dir` (0: primary → secondary, 1: the reverse).
 * A pure function of the model, the seed and (k, dir).
 */
export function fateOf(
  model: FaultModel,
  seed: number,
  dir: 0 | 1,
  k: number,
  hasObject: boolean,
): MessageFate {
  const s = (model.seed ?? seed) >>> 0;
  const draw = (salt: number, i = 0) => unit(s, k, (dir << 16) | salt, i);
  const maxReceives = Math.max(1, model.maxReceives ?? 5);
  let failedAttempts = 0;
  while (failedAttempts < maxReceives && draw(SALT.lose, failedAttempts) < (model.lose ?? 0))
    failedAttempts++;
  const redelivery = model.redeliveryMs ?? 1000;
  const crashed = draw(SALT.crash) < (model.crash ?? 0);
  const delayed =
    draw(SALT.delay) < (model.delay ?? 0) ? between(draw(SALT.delayAmount), model.delayMs ?? [0, 500]) : 0;
  return {
    delayMs: delayed + (crashed ? (model.visibilityMs ?? 60_000) : 0),
    crashed,
    failedAttempts: Math.min(failedAttempts, maxReceives),
    deadLettered: failedAttempts >= maxReceives,
    duplicateAfterMs: draw(SALT.duplicate) < (model.duplicate ?? 0) ? draw(SALT.dup) * 2 * redelivery : null,
    retired: hasObject && draw(SALT.put) < (model.putFail ?? 0),
    stallMs:
      hasObject && draw(SALT.stall) < (model.putStall ?? 0)
        ? between(draw(SALT.stallAmount), model.putStallMs ?? [0, 2000])
        : 0,
    kept: hasObject && draw(SALT.keep) < (model.deleteFail ?? 0),
  };
}

/** The end of the outage `node` is in at `at`, ms, or undefined when it is up. */
export function outageEnd(model: FaultModel | undefined, node: FenceOwner, at: number): number | undefined {
  let end: number | undefined;
  for (const o of model?.outages ?? []) {
    if (o.node === node && at >= o.from && at < o.until) end = Math.max(end ?? 0, o.until);
  }
  return end;
}
