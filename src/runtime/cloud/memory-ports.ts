/**
 * In-memory implementations of the ports with the cloud's semantics — compare-and-swap state documents,
 * create-only delta objects, a FIFO channel that drops resends by deduplication id — plus hooks to inject
 * faults. For unit tests and for driving the cloud runtime on a virtual clock (conformance runs).
 */
import {
  DeltaConflictError,
  type DeltaReadOptions,
  type DeltaStore,
  type MessageChannel,
  ObjectMissingError,
  ObjectTooLargeError,
  type SendContext,
  StateConflictError,
  type StateStore,
  type StoredKey,
  type Versioned,
} from '../../engine/ports.ts';
import type { ColoMessage } from '../../engine/protocol/messages.ts';
import { serializeMessage } from '../../wire/message-schema.ts';

/** A {@link StateStore} in memory; versions are `"1"`, `"2"`, … */
export class MemoryStateStore implements StateStore {
  readonly #docs = new Map<string, Versioned<Uint8Array> & { modifiedAt: number }>();
  #version = 0;
  /** Loads, saves and deletes so far. */
  readonly stats = { loads: 0, saves: 0, conflicts: 0, deletes: 0 };
  /** The write time {@link list} reports, ms; default the system clock (tests pass a virtual one). */
  clock: () => number = Date.now;
  /**
   * Called before each save is applied; may write to the store itself (to model a concurrent writer) or
   * throw (to model a failed write).
   */
  beforeSave?: (key: string, store: MemoryStateStore) => void | Promise<void>;

  /** {@inheritDoc StateStore.load} */
  async load(key: string): Promise<Versioned<Uint8Array> | undefined> {
    this.stats.loads++;
    const d = this.#docs.get(key);
    return d ? { value: d.value.slice(), etag: d.etag } : undefined;
  }

  /** {@inheritDoc StateStore.save} */
  async save(key: string, value: Uint8Array, etag: string | undefined): Promise<string> {
    await this.beforeSave?.(key, this);
    return this.put(key, value, etag);
  }

  /** A save that skips {@link beforeSave} (for hooks). @throws StateConflictError */
  put(key: string, value: Uint8Array, etag: string | undefined): string {
    const d = this.#docs.get(key);
    if ((d === undefined && etag !== undefined) || (d !== undefined && d.etag !== etag)) {
      this.stats.conflicts++;
      throw new StateConflictError(`${key}: stored version ${d?.etag ?? 'none'}, expected ${etag ?? 'none'}`);
    }
    this.stats.saves++;
    const next = String(++this.#version);
    this.#docs.set(key, { value: value.slice(), etag: next, modifiedAt: this.clock() });
    return next;
  }

  /** {@inheritDoc StateStore.list} */
  async list(prefix: string): Promise<StoredKey[]> {
    return [...this.#docs]
      .filter(([k]) => k.startsWith(prefix))
      .map(([key, d]) => ({ key, modifiedAt: d.modifiedAt }));
  }

  /** {@inheritDoc StateStore.delete} */
  async delete(key: string): Promise<void> {
    if (this.#docs.delete(key)) this.stats.deletes++;
  }

  /** The stored bytes at `key` (no copy), or undefined. */
  peek(key: string): Uint8Array | undefined {
    return this.#docs.get(key)?.value;
  }

  /** Stored keys, sorted. */
  keys(): string[] {
    return [...this.#docs.keys()].sort();
  }
}

/** A {@link DeltaStore} in memory: create-only; an identical rewrite succeeds. */
export class MemoryDeltaStore implements DeltaStore {
  readonly #objects = new Map<string, Uint8Array>();
  /** Puts, gets and deletes so far. */
  readonly stats = { puts: 0, gets: 0, deletes: 0 };
  /**
   * Called (and awaited) before each put, get or delete; may throw to model a failed call, or do other work
   * meanwhile to model a slow one.
   */
  beforeCall?: (op: 'put' | 'get' | 'delete', key: string) => void | Promise<void>;

  /** {@inheritDoc DeltaStore.put} */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.beforeCall?.('put', key);
    this.stats.puts++;
    const have = this.#objects.get(key);
    if (have) {
      if (Buffer.compare(have, bytes) === 0) return;
      throw new DeltaConflictError(`${key} already holds different bytes`);
    }
    this.#objects.set(key, bytes.slice());
  }

  /** {@inheritDoc DeltaStore.replace} */
  async replace(key: string, bytes: Uint8Array): Promise<void> {
    await this.beforeCall?.('put', key);
    this.stats.puts++;
    this.#objects.set(key, bytes.slice());
  }

  /** {@inheritDoc DeltaStore.get} */
  async get(key: string, options: DeltaReadOptions = {}): Promise<Uint8Array> {
    await this.beforeCall?.('get', key);
    this.stats.gets++;
    const have = this.#objects.get(key);
    if (!have) throw new ObjectMissingError(key, `no such delta object ${key}`);
    const { maxBytes } = options;
    if (maxBytes !== undefined && have.byteLength > maxBytes) {
      // Refused before the copy, as the S3 store refuses before reading the body.
      throw new ObjectTooLargeError(key, have.byteLength, true, maxBytes);
    }
    return have.slice();
  }

  /** Replaces an object's bytes (fault injection: corrupt what the secondary will read). */
  tamper(key: string, bytes: Uint8Array): void {
    this.#objects.set(key, bytes.slice());
  }

  /** The stored bytes at `key` (no copy), or undefined. */
  peek(key: string): Uint8Array | undefined {
    return this.#objects.get(key);
  }

  /** Stored keys, sorted. */
  keys(): string[] {
    return [...this.#objects.keys()].sort();
  }

  /** {@inheritDoc DeltaStore.delete} */
  async delete(key: string): Promise<void> {
    await this.beforeCall?.('delete', key);
    this.stats.deletes++;
    this.#objects.delete(key);
  }
}

/** One message as the channel carries it. */
export interface ChannelRecord {
  /** Deduplication id `${vmId}-${epoch}-${seq}-${type}` (a heartbeat: `${vmId}-${epoch}-${seq}-hb-${beat}`). */
  dedupId: string;
  /** Body (JSON text). */
  body: string;
  /** When the channel accepted it, ms (SQS's `SentTimestamp`), when the channel has a clock. */
  sentAt?: number;
}

/**
 * A FIFO {@link MessageChannel} in memory: a resend of a message with the same deduplication id is
 * dropped (like SQS FIFO within its 5-minute window; here forever). Receivers `take` what is queued.
 */
export class MemoryChannel implements MessageChannel {
  readonly #queue: ChannelRecord[] = [];
  readonly #serialize: (message: ColoMessage) => string | Promise<string>;
  readonly #seen = new Set<string>();
  /** Messages accepted and resends dropped. */
  readonly stats = { accepted: 0, duplicates: 0 };
  /** Every message accepted, in order (never drained). */
  readonly history: ColoMessage[] = [];
  /** Called before each send; may throw to model a failed call (nothing of that call is accepted). */
  beforeSend?: (messages: readonly ColoMessage[]) => void;

  readonly #now: (() => number) | undefined;

  /**
   * @param options.serialize - Body encoder; default the wire's schema-checked {@link serializeMessage}
   *   (handler tests pass a sealing one, as the Lambda channels seal).
   * @param options.now - Clock that stamps each accepted record's `sentAt`, ms; default none.
   */
  constructor(
    options: { serialize?: (message: ColoMessage) => string | Promise<string>; now?: () => number } = {},
  ) {
    this.#serialize = options.serialize ?? serializeMessage;
    this.#now = options.now;
  }

  /** {@inheritDoc MessageChannel.send} */
  async send(messages: readonly ColoMessage[], context: SendContext = {}): Promise<void> {
    this.beforeSend?.(messages);
    // Serialised as the SQS channel does (schema-checked): an unsendable message fails the whole call.
    const bodies: string[] = [];
    for (const m of messages) bodies.push(await this.#serialize(m));
    for (const [i, m] of messages.entries()) {
      // A heartbeat shares its seq with others and with the next message: its own number tells it apart.
      const kind = m.type === 'heartbeat' ? `hb-${m.beat}` : m.type;
      // The sender's incarnation, as the SQS channel hashes it in: a VM created again is not a resend.
      const incarnation = context.senderCreatedAt === undefined ? '' : `@${context.senderCreatedAt}`;
      const dedupId = `${m.vmId}-${m.epoch}-${m.seq}-${kind}${incarnation}`;
      if (this.#seen.has(dedupId)) {
        this.stats.duplicates++;
        continue;
      }
      this.#seen.add(dedupId);
      this.stats.accepted++;
      this.history.push(m);
      const record: ChannelRecord = { dedupId, body: bodies[i] as string };
      if (this.#now) record.sentAt = this.#now();
      this.#queue.push(record);
    }
  }

  /** Removes and returns up to `max` queued messages, oldest first. */
  take(max = Number.POSITIVE_INFINITY): ChannelRecord[] {
    return this.#queue.splice(0, Math.min(max, this.#queue.length));
  }

  /** Messages queued and not yet taken. */
  get size(): number {
    return this.#queue.length;
  }

  /** When the oldest queued message was accepted, ms (undefined: none queued, or no clock). */
  oldestSentAt(): number | undefined {
    return this.#queue[0]?.sentAt;
  }
}
