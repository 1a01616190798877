/**
 * A tick chain's claim kept in the node document its tick saves anyway (docs/cloud-runtime.md "A tick's
 * claim in the node document"): the invocation that steps the tick records `{ generation, seq, claimedBy,
 * at }` for the chain in the same compare-and-swap as the step, so a tick costs one PUT instead of two (a
 * claim on the timer document, then the node's save). Two deliveries of one tick race on that
 * compare-and-swap: the loser reloads, sees the claim and drops its tick; a redelivery of the claiming
 * message (the same SQS message id) is recognised and only finishes what the claim began.
 */
import { z } from 'zod';
import type { StateStore } from '../../engine/ports.ts';
import { decodeContainer } from './container.ts';
import { type NodeRole, nodeStateKey } from './keys.ts';

/** The last tick of one chain claimed in a node document. */
export interface ChainClaim {
  /** Chain generation (the timer document's). */
  generation: number;
  /** Sequence number of the claimed tick. */
  seq: number;
  /** SQS message id of the claiming delivery. */
  claimedBy: string;
  /** When it was claimed, ms since the Unix epoch (the chain's liveness). */
  at: number;
}

/** Schema of a node document's `chains` field: chain name → its last claim. */
export const chainClaimsSchema = z
  .record(
    z.string().min(1).max(64),
    z.strictObject({
      generation: z.int().min(0),
      seq: z.int().min(0),
      claimedBy: z.string().min(1).max(256),
      at: z.number(),
    }),
  )
  .optional();

/** A tick handed to an invocation for it to claim ({@link judgeChainTick}). */
export interface ChainTick {
  /** Chain (timer) name. */
  chain: string;
  /** The tick's generation; the caller checked it is the timer document's. */
  generation: number;
  /** The tick's sequence number. */
  seq: number;
  /** The delivering SQS message's id. */
  messageId: string;
  /**
   * The last sequence number the timer document holds for this generation (0 right after the chain was
   * armed; a claim made there when the node document could not take one).
   */
  baseSeq: number;
}

/**
 * What a node document's claims make of `tick`: `claim` (the next tick of its chain: step it and record
 * the claim in the same save), `redelivered` (this delivery claimed it already: the step is saved, only
 * what follows the save is left), `dropped` (a duplicate, an older generation, a skipped sequence number).
 */
export function judgeChainTick(
  claims: Readonly<Record<string, ChainClaim>> | undefined,
  tick: ChainTick,
): 'claim' | 'redelivered' | 'dropped' {
  const prior = claims?.[tick.chain];
  if (prior && prior.generation > tick.generation) return 'dropped';
  const same = prior !== undefined && prior.generation === tick.generation;
  if (same && prior.seq === tick.seq && prior.claimedBy === tick.messageId) return 'redelivered';
  const last = same ? Math.max(prior.seq, tick.baseSeq) : tick.baseSeq;
  return tick.seq === last + 1 ? 'claim' : 'dropped';
}

const shellSchema = z.looseObject({ chains: chainClaimsSchema });

/**
 * Reads every chain's claim from a node document without checking its state (the watchdog and the sibling
 * repair judge a chain's liveness by it): one read for all the node's chains; empty when there is no
 * document or no claim.
 *
 * @throws Error when the document is not a node document of `node`; whatever the store throws.
 */
export async function readChainClaims(
  store: StateStore,
  vmId: string,
  node: NodeRole,
): Promise<Readonly<Record<string, ChainClaim>>> {
  const key = nodeStateKey(vmId, node);
  const d = await store.load(key);
  if (!d) return {};
  const tree = decodeContainer(d.value, node === 'primary' ? 'primary-document' : 'secondary-document', key);
  const r = shellSchema.safeParse(tree);
  if (!r.success) throw new Error(`${key}: malformed chain claims: ${r.error.message.slice(0, 200)}`);
  return r.data.chains ?? {};
}

/** One chain's claim from a node document ({@link readChainClaims}), or undefined. */
export async function readChainClaim(
  store: StateStore,
  vmId: string,
  node: NodeRole,
  chain: string,
): Promise<ChainClaim | undefined> {
  return (await readChainClaims(store, vmId, node))[chain];
}
