/**
 * A {@link DeltaStore} that seals every object it stores and opens every object it reads
 * (src/wire/sealed-object.ts): `put` stores the object framed and MAC'd under the VM's current key, `get`
 * verifies the MAC before anything else and returns the inner object — or throws
 * {@link UnauthenticatedObjectError}. The frame binds the object to its key `<vmId>/<epoch>/<seq>-<kind>`,
 * so an authentic object stored under another key is refused too.
 */
import {
  DeltaConflictError,
  type DeltaReadOptions,
  type DeltaStore,
  ObjectTooLargeError,
} from '../../engine/ports.ts';
import {
  type ObjectContext,
  type ObjectSealFailure,
  objectContextOfKey,
  openObject,
  sealedObjectOverhead,
  sealObject,
} from '../../wire/sealed-object.ts';
import { type Sleep, systemSleep } from './clock.ts';
import { KeyNotLoadedError, type Keyring } from './keyring.ts';

/** A stored object failed authentication: forged, altered, sealed with an unknown key, or another object. */
export class UnauthenticatedObjectError extends Error {
  override readonly name = 'UnauthenticatedObjectError';
  /**
   * @param key - The store key that was read.
   * @param failure - Which check failed.
   * @param message - What was found and what was expected.
   */
  constructor(
    readonly key: string,
    readonly failure: ObjectSealFailure | 'not-a-delta-key',
    message: string,
  ) {
    super(message);
  }
}

function contextOf(key: string): ObjectContext {
  const ctx = objectContextOfKey(key);
  if (!ctx) {
    throw new UnauthenticatedObjectError(
      key,
      'not-a-delta-key',
      `${key.slice(0, 200)} is not a delta key <vmId>/<epoch>/<seq>-<kind>`,
    );
  }
  return ctx;
}

/**
 * Told when `put` took a delta key back from an object that is not this VM's (it failed authentication or
 * is far larger than any the writer makes): someone with write access to the bucket but without the key
 * stored it. Replication goes on; the operator should hear of it.
 *
 * @param key - The delta key taken back.
 * @param why - What was found there.
 */
export type TakeBackListener = (key: string, why: string) => void;

/** {@link DeltaStore} sealing on `put` and opening on `get`, over `inner`. */
export class SealedDeltaStore implements DeltaStore {
  readonly #inner: DeltaStore;
  readonly #keyring: Keyring;
  readonly #sleep: Sleep;
  readonly #onTakeBack: TakeBackListener | undefined;

  /**
   * Seals into and opens from `inner` with the keys of `keyring`.
   *
   * @param sleep - Waits for the keyring's next allowed reload when an object names an unknown key id;
   *   default a real timer.
   * @param onTakeBack - Told of each key `put` took back from a foreign object (logged and counted by the
   *   functions).
   */
  constructor(
    inner: DeltaStore,
    keyring: Keyring,
    sleep: Sleep = systemSleep,
    onTakeBack?: TakeBackListener,
  ) {
    this.#inner = inner;
    this.#keyring = keyring;
    this.#sleep = sleep;
    this.#onTakeBack = onTakeBack;
  }

  /**
   * Stores `bytes` sealed under the current key. When the key already holds a different sealed object
   * that opens to the same inner bytes (an earlier try sealed it under the previous key, before a
   * rotation), the put succeeded already.
   *
   * @throws UnauthenticatedObjectError for a key that is not a delta key; DeltaConflictError when the key
   *   holds another object; KeyringUnavailableError; the store's errors.
   */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    const ctx = contextOf(key);
    const keys = await this.#keyring.keys();
    const sealed = sealObject(keys.signing, ctx, bytes);
    try {
      await this.#inner.put(key, sealed);
    } catch (e) {
      if (!(e instanceof DeltaConflictError)) throw e;
      let stored: Uint8Array | undefined;
      try {
        // Read with room to spare, so that an own object with other bytes is recognised as ours.
        stored = await this.#inner.get(key, { maxBytes: sealed.byteLength * 4 + 65_536 });
      } catch (read) {
        // Far larger than ours: not an object this writer makes for this key. Other errors: the conflict.
        if (!(read instanceof ObjectTooLargeError)) throw e;
      }
      const opened = stored ? openObject(keys, stored, ctx) : undefined;
      if (opened?.ok && Buffer.from(opened.inner).equals(bytes)) return;
      // Ours, with other bytes: a genuine conflict. Not ours (fails authentication, or too large): someone
      // without the key squatted the key — take it back, or the slot would be retired and replication end.
      if (opened?.ok || !this.#inner.replace) throw e;
      await this.#inner.replace(key, sealed);
      this.#onTakeBack?.(
        key,
        opened === undefined
          ? `an object larger than ${sealed.byteLength * 4 + 65_536} bytes`
          : `an object that fails authentication (${opened.reason})`,
      );
    }
  }

  /**
   * Reads the sealed object at `key` and returns its inner object once the MAC and the header check out.
   * `options.maxBytes` bounds the inner object (the frame's own bytes are allowed on top).
   *
   * @throws UnauthenticatedObjectError when the object fails authentication; KeyNotLoadedError when it
   *   names a key id the keyring could not load again just now (transient); ObjectTooLargeError,
   *   ObjectMissingError, KeyringUnavailableError and the store's errors as they come.
   */
  async get(key: string, options: DeltaReadOptions = {}): Promise<Uint8Array> {
    const ctx = contextOf(key);
    const overhead = sealedObjectOverhead(ctx.vmId);
    let sealed: Uint8Array;
    try {
      sealed = await this.#inner.get(
        key,
        options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes + overhead },
      );
    } catch (e) {
      if (!(e instanceof ObjectTooLargeError) || options.maxBytes === undefined) throw e;
      throw new ObjectTooLargeError(key, Math.max(0, e.sizeBytes - overhead), e.exact, options.maxBytes);
    }
    let opened = openObject(await this.#keyring.keys(), sealed, ctx);
    if (!opened.ok && opened.failure === 'unknown-key') {
      let reload = await this.#keyring.refresh();
      if (reload === 'skipped') {
        // A load was tried less than a second ago: wait for the next one rather than failing the read, or
        // an object sealed with someone else's key would be read again and again and never refused.
        const wait = this.#keyring.msUntilRefresh();
        if (wait > 0 && wait <= 2000) await this.#sleep(wait);
        reload = await this.#keyring.refresh();
      }
      if (reload === 'skipped' || reload === 'failed') {
        throw new KeyNotLoadedError(
          `delta object ${key}: ${opened.reason}; the keys could not be loaded again yet`,
        );
      }
      opened = openObject(await this.#keyring.keys(), sealed, ctx);
    }
    if (!opened.ok) {
      throw new UnauthenticatedObjectError(key, opened.failure, `delta object ${key}: ${opened.reason}`);
    }
    return opened.inner;
  }

  /**
   * Deletes the object at `key`, which must be a delta key (nothing to open: a consumed object is gone).
   *
   * @throws UnauthenticatedObjectError for a key that is not a delta key; Error when `inner` cannot delete;
   *   the store's errors.
   */
  async delete(key: string): Promise<void> {
    contextOf(key);
    if (!this.#inner.delete) throw new Error(`the delta store under ${key} cannot delete objects`);
    await this.#inner.delete(key);
  }
}
