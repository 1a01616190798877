/**
 * The node document: what the state store holds for one node of one VM — the engine state, the outbox
 * (effects decided but not yet known to be performed), the next wake time, the log counter and exit
 * status. Stored in the container format (container.ts), kind `primary-document` / `secondary-document`.
 */
import { z } from 'zod';
import { type ColoParams, pageCount } from '../../engine/params.ts';
import type { PrimaryState } from '../../engine/primary/state.ts';
import type { ColoMessage } from '../../engine/protocol/messages.ts';
import type { SecondaryState } from '../../engine/secondary/state.ts';
import { parseMessageObject } from '../../wire/message-schema.ts';
import { type ChainClaim, chainClaimsSchema } from './chain-claim.ts';
import { decodeContainer, encodeContainer } from './container.ts';
import { StateDocumentError } from './errors.ts';
import type { NodeRole } from './keys.ts';
import type { LogRecord } from './log-record.ts';
import { checkPrimaryState, checkSecondaryState } from './state-codec.ts';
import { anyNumber, count } from './state-schema.ts';
import { prettify } from './zod-errors.ts';

/** Format of a whole document (state with its page arrays in one object); still read, and migrated. */
export const DOCUMENT_FORMAT = 1;
/** Format of a lean (hot) document, whose page arrays live in chunks (lean-document.ts). */
export const LEAN_DOCUMENT_FORMAT = 2;

/**
 * How to rebuild a send's page-delta object on replay: page bytes are a pure function of
 * (seed, page, version), so the page list and versions suffice (both empty for device state).
 */
export interface PayloadRecipe {
  /** Delta-store key (the message's claim key). */
  key: string;
  /** Pages, ascending. */
  pages: Uint32Array;
  /** Version of each page, same order. */
  versions: Uint32Array;
}

/** One message to send, in order, with the object to store before it. */
export interface OutboxSend {
  /** Engine send id (`send-complete` names it); 0 when the node expects no completion (secondary). */
  sendId: number;
  /** The message. */
  message: ColoMessage;
  /** Object to put before the message, or null. */
  payload: PayloadRecipe | null;
}

/** Effects persisted with the state that produced them, performed after the save (at least once). */
export interface Outbox {
  /** Messages, in send order. */
  sends: OutboxSend[];
  /** Log records to append (numbered). */
  records: LogRecord[];
  /** Failed attempts to perform this outbox. */
  attempts: number;
  /** Error of the last failed attempt. */
  lastError: string | null;
}

/** How replication ended on this node. */
export interface ExitInfo {
  /** `error` (deadline or protocol failure) or `failover` (the secondary took over). */
  reason: 'error' | 'failover' | 'fenced';
  /** Detail from the engine. */
  detail: string;
  /** When, ms. */
  at: number;
}

/** A node document. */
export interface NodeDocument<S> {
  /** Format version it was read in: {@link DOCUMENT_FORMAT} or {@link LEAN_DOCUMENT_FORMAT}. */
  format: typeof DOCUMENT_FORMAT | typeof LEAN_DOCUMENT_FORMAT;
  /** Which node. */
  node: NodeRole;
  /** VM id. */
  vmId: string;
  /** Guest size, pages. */
  pages: number;
  /** Saves so far (the first save is revision 1). */
  revision: number;
  /** Creation and last save time, ms. */
  createdAt: number;
  updatedAt: number;
  /** When the engine next wants a tick, ms (∞ = never). */
  wakeAt: number;
  /** Number of the next log record. */
  logNext: number;
  /** Set once replication stopped on this node. */
  exit: ExitInfo | null;
  /** Effects to perform. */
  outbox: Outbox;
  /**
   * The last tick each tick chain claimed in this document (chain-claim.ts), by chain name; absent until a
   * chain claims here.
   */
  chains?: Record<string, ChainClaim>;
  /** Engine state. */
  state: S;
}

/** The primary's document. */
export type PrimaryDocument = NodeDocument<PrimaryState>;
/** The secondary's document. */
export type SecondaryDocument = NodeDocument<SecondaryState>;

/** An empty outbox. */
export function emptyOutbox(): Outbox {
  return { sends: [], records: [], attempts: 0, lastError: null };
}

/** True when the outbox holds anything to perform. */
export function outboxPending(o: Outbox): boolean {
  return o.sends.length > 0 || o.records.length > 0;
}

/**
 * Log record types that may wait in the outbox for a batch (`InvocationOptions.logBatch`): saved with the
 * document, appended with a later invocation's records.
 */
export const ROUTINE_RECORDS: ReadonlySet<string> = new Set(['pending-check']);

/**
 * True when the outbox holds work under way: a send, or a record that is not only waiting for its batch
 * ({@link ROUTINE_RECORDS}). A stopped node keeps its routine records until it runs again; nothing else
 * waits for them.
 */
export function outboxBusy(o: Outbox): boolean {
  return o.sends.length > 0 || o.records.some((r) => !ROUTINE_RECORDS.has(r.type));
}

/** A fresh document around a fresh state, created at `now`, ms. */
export function newDocument<S>(node: NodeRole, params: ColoParams, state: S, now: number): NodeDocument<S> {
  return {
    format: DOCUMENT_FORMAT,
    node,
    vmId: params.vmId,
    pages: pageCount(params),
    revision: 0,
    createdAt: now,
    updatedAt: now,
    wakeAt: Number.POSITIVE_INFINITY,
    logNext: 0,
    exit: null,
    outbox: emptyOutbox(),
    state,
  };
}

const recipeSchema = z.strictObject({
  key: z.string().min(1),
  pages: z.instanceof(Uint32Array),
  versions: z.instanceof(Uint32Array),
});

/** Fields of every document format (format 1 adds `state`, format 2 `state` without its arrays and `paged`). */
export const documentShellFields = {
  node: z.enum(['primary', 'secondary']),
  vmId: z.string().min(1),
  pages: count,
  revision: count,
  createdAt: anyNumber,
  updatedAt: anyNumber,
  wakeAt: anyNumber,
  logNext: count,
  exit: z
    .strictObject({ reason: z.enum(['error', 'failover', 'fenced']), detail: z.string(), at: anyNumber })
    .nullable(),
  outbox: z.strictObject({
    sends: z.array(z.strictObject({ sendId: count, message: z.unknown(), payload: recipeSchema.nullable() })),
    records: z.array(
      z.looseObject({ n: count, at: anyNumber, node: z.enum(['primary', 'secondary']), type: z.string() }),
    ),
    attempts: count,
    lastError: z.string().nullable(),
  }),
  chains: chainClaimsSchema,
  state: z.unknown(),
};

const documentSchema = z.strictObject({ format: z.literal(DOCUMENT_FORMAT), ...documentShellFields });

/** Encodes a node document in format 1 (everything in one object). */
export function encodeDocument(doc: NodeDocument<PrimaryState | SecondaryState>): Uint8Array {
  return encodeContainer(doc.node === 'primary' ? 'primary-document' : 'secondary-document', {
    ...doc,
    format: DOCUMENT_FORMAT,
  });
}

/** The shell fields after their schema check (the outbox's messages still unparsed). */
export type DocumentShell = z.infer<z.ZodObject<typeof documentShellFields>>;

/**
 * Checks a schema-valid document shell against `node` and `params` (VM id, guest size) and parses its
 * outbox messages in place.
 *
 * @throws StateDocumentError with what is wrong.
 */
export function checkDocumentShell(
  d: DocumentShell,
  node: NodeRole,
  params: ColoParams,
  what: string,
): number {
  if (d.node !== node)
    throw new StateDocumentError(`${what}: holds the ${d.node}'s document; expected ${node}`);
  if (d.vmId !== params.vmId) {
    throw new StateDocumentError(`${what}: belongs to VM ${d.vmId}; this is VM ${params.vmId}`);
  }
  const pages = pageCount(params);
  if (d.pages !== pages) {
    throw new StateDocumentError(
      `${what}: written for a guest of ${d.pages} pages; the parameters say ${pages} (guest size changed?)`,
    );
  }
  for (const [i, s] of d.outbox.sends.entries()) {
    try {
      s.message = parseMessageObject(s.message);
    } catch (e) {
      throw new StateDocumentError(
        `${what}: outbox send ${i}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    if (s.payload && s.payload.pages.length !== s.payload.versions.length) {
      throw new StateDocumentError(`${what}: outbox send ${i}: recipe has unequal page and version lists`);
    }
  }
  return pages;
}

function decodeShell(bytes: Uint8Array, node: NodeRole, params: ColoParams, what: string) {
  const tree = decodeContainer(bytes, node === 'primary' ? 'primary-document' : 'secondary-document', what);
  const r = documentSchema.safeParse(tree);
  if (!r.success) throw new StateDocumentError(`${what}: ${prettify(r.error)}`);
  const d = r.data;
  const pages = checkDocumentShell(d, node, params, what);
  return { d, pages };
}

/**
 * Decodes and validates the primary's document for `params` (VM id and guest size must match).
 *
 * @throws StateDocumentError with what is wrong.
 */
export function decodePrimaryDocument(bytes: Uint8Array, params: ColoParams, what: string): PrimaryDocument {
  const { d, pages } = decodeShell(bytes, 'primary', params, what);
  const state = checkPrimaryState(d.state, pages, `${what}: state`);
  return { ...(d as unknown as PrimaryDocument), state };
}

/**
 * Decodes and validates the secondary's document for `params` (VM id and guest size must match).
 *
 * @throws StateDocumentError with what is wrong.
 */
export function decodeSecondaryDocument(
  bytes: Uint8Array,
  params: ColoParams,
  what: string,
): SecondaryDocument {
  const { d, pages } = decodeShell(bytes, 'secondary', params, what);
  const state = checkSecondaryState(d.state, pages, `${what}: state`);
  return { ...(d as unknown as SecondaryDocument), state };
}
