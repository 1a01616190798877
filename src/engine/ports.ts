/**
 * Ports: what a runtime must provide around the engine. The engine itself is synchronous and pure;
 * these interfaces are implemented by the embedded runtime (in memory) and the cloud runtime (S3, SQS).
 */
import type { ColoMessage } from './protocol/messages.ts';

/** Who sends, beyond what the messages say. */
export interface SendContext {
  /**
   * The sender's incarnation: when its node document was created, ms. A VM started afresh under the same
   * id (its state deleted, then added again) numbers its first messages as before, with the same bodies; a
   * channel that drops resends by id (SQS FIFO, for 5 min) must not take them for resends of the old ones.
   */
  senderCreatedAt?: number;
}

/** Carries COLO messages in one direction, in order (SQS FIFO, one message group per VM). */
export interface MessageChannel {
  /**
   * Sends messages in the given order. Idempotent per (vmId, epoch, seq, type) and sender incarnation: a
   * resend is deduplicated.
   */
  send(messages: readonly ColoMessage[], context?: SendContext): Promise<void>;
}

/** Holds page-delta objects (claim check). Keys are `<vmId>/<epoch>/<seq>-<kind>`. */
export interface DeltaStore {
  /**
   * Stores an object create-only. Writing the same key again with identical bytes succeeds (retry);
   * with different bytes it throws {@link DeltaConflictError}.
   */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /**
   * Overwrites whatever is at `key` with `bytes` (unconditionally). Used only to take back a key squatted by
   * an object that is not the writer's own (one that fails authentication); optional.
   */
  replace?(key: string, bytes: Uint8Array): Promise<void>;
  /**
   * Reads an object; throws {@link ObjectMissingError} if it does not exist. With `options.maxBytes` it throws
   * {@link ObjectTooLargeError} for a larger object, having read no more of it than needed to tell.
   */
  get(key: string, options?: DeltaReadOptions): Promise<Uint8Array>;
  /**
   * Deletes the object at `key` (nothing happens when it is not there). Optional: only the secondary needs
   * it, to delete the objects it has consumed; without it they wait for the bucket's lifecycle rule.
   */
  delete?(key: string): Promise<void>;
}

/** Options of {@link DeltaStore.get}. */
export interface DeltaReadOptions {
  /** Largest object to read, bytes (a non-negative safe integer); a larger one is refused. */
  maxBytes?: number;
}

/** A stored state document and the version tag that a compare-and-swap must name. */
export interface Versioned<T> {
  /** The document. */
  value: T;
  /** Opaque version tag (an S3 ETag in the cloud). */
  etag: string;
}

/** Persistent node state, updated only by compare-and-swap. */
export interface StateStore {
  /** Loads the document at `key`, or `undefined` if there is none. */
  load(key: string): Promise<Versioned<Uint8Array> | undefined>;
  /**
   * Writes `value` if the stored version is still `etag` (or, with `etag` undefined, if nothing is stored).
   * Throws {@link StateConflictError} when another writer got there first. Returns the new tag.
   */
  save(key: string, value: Uint8Array, etag: string | undefined): Promise<string>;
  /**
   * Keys under `prefix` with their last write time (ms since the epoch), in no particular order. Optional:
   * only the sweep of unreferenced state chunks needs it.
   */
  list?(prefix: string): Promise<StoredKey[]>;
  /** Deletes `key` (nothing happens when it is not there). Optional: only chunk retirement needs it. */
  delete?(key: string): Promise<void>;
}

/** A key a {@link StateStore} holds. */
export interface StoredKey {
  /** The key (as `load` takes it). */
  key: string;
  /** When it was last written, ms since the epoch. */
  modifiedAt: number;
}

/** A create-only delta write found different bytes under the same key. */
export class DeltaConflictError extends Error {
  override readonly name = 'DeltaConflictError';
}

/**
 * A read named an object that does not exist. Objects are always stored before the message that names
 * them, so this is never transient: the message is refused, not retried.
 */
export class ObjectMissingError extends Error {
  override readonly name = 'ObjectMissingError';
  /**
   * @param key - The object's key (as the store names it).
   * @param message - What was looked for where.
   */
  constructor(
    readonly key: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A compare-and-swap lost: the state changed since it was loaded. */
export class StateConflictError extends Error {
  override readonly name = 'StateConflictError';
}

/** A bounded read met an object larger than its cap; the object was not (or only partly) read. */
export class ObjectTooLargeError extends Error {
  override readonly name = 'ObjectTooLargeError';
  /**
   * @param key - The object's key (as the store names it).
   * @param sizeBytes - Its size, bytes: exact when `exact` (e.g. its Content-Length), else a lower bound
   *   (the bytes seen before reading stopped).
   * @param exact - Whether `sizeBytes` is the object's whole size.
   * @param maxBytes - The cap it exceeded, bytes.
   */
  constructor(
    readonly key: string,
    readonly sizeBytes: number,
    readonly exact: boolean,
    readonly maxBytes: number,
  ) {
    super(
      `${key}: object is ${exact ? sizeBytes : `more than ${maxBytes}`} bytes; at most ${maxBytes} may be read`,
    );
  }
}
