/**
 * `DeltaStore` on S3: create-only writes (`If-None-Match: *`) so a retried write is idempotent and a
 * conflicting one is caught, never silently overwritten.
 */
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  DeltaConflictError,
  type DeltaReadOptions,
  type DeltaStore,
  ObjectMissingError,
  ObjectTooLargeError,
} from '../../src/engine/ports.ts';
import { DELTA_PREFIX } from './contract.ts';
import { s3ClientFromEnv } from './env.ts';
import { isConditionalRequestConflict, isPreconditionFailed, readObject } from './s3-common.ts';

/**
 * Cap of a {@link S3DeltaStore.get} that names none, bytes (1 GiB, the engine's default `maxObjectBytes`):
 * even an unbounded caller never reads an arbitrarily large object into memory.
 */
export const DEFAULT_MAX_DELTA_OBJECT_BYTES = 1024 * 1024 * 1024;

/** Options of {@link S3DeltaStore}. */
export interface S3DeltaStoreOptions {
  /** Bucket name. */
  bucket: string;
  /** Key prefix before `deltas/` (e.g. `run-7/`); default empty. */
  prefix?: string;
  /** S3 client; default {@link s3ClientFromEnv}. */
  client?: S3Client;
  /** Tries of a write that keeps meeting `409 ConditionalRequestConflict`; default 3. */
  maxAttempts?: number;
  /** Waits `ms` milliseconds between those tries; default a timer (tests inject a no-op). */
  sleep?: (ms: number) => Promise<void>;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * The ETag S3 gives a single-part `PutObject` of `bytes` without KMS encryption: the MD5 of the bytes, hex,
 * in quotes. Any other ETag (a KMS-encrypted or multipart object) proves nothing either way.
 */
function plainEtag(bytes: Uint8Array): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** {@link DeltaStore} on an S3 bucket; objects live at `<prefix>deltas/<key>`. */
export class S3DeltaStore implements DeltaStore {
  /** Bucket name. */
  readonly bucket: string;
  /** Key prefix before `deltas/`. */
  readonly prefix: string;
  readonly #client: S3Client;
  readonly #maxAttempts: number;
  readonly #sleep: (ms: number) => Promise<void>;

  /** Creates a store; see {@link S3DeltaStoreOptions} for the defaults. */
  constructor(options: S3DeltaStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.#client = options.client ?? s3ClientFromEnv();
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.#sleep = options.sleep ?? defaultSleep;
  }

  /** The S3 key of a store key: `<prefix>deltas/<key>`. */
  objectKey(key: string): string {
    return `${this.prefix}${DELTA_PREFIX}${key}`;
  }

  /**
   * Overwrites the object at `key` (a plain `PutObject`): only to take back a key squatted by an object that
   * is not the writer's own (see SealedDeltaStore.put).
   */
  async replace(key: string, bytes: Uint8Array): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: bytes,
        ContentLength: bytes.byteLength,
        ContentType: 'application/octet-stream',
      }),
    );
  }

  /**
   * Writes `bytes` at `key` only if nothing is there. If the object exists (412), reads it back: identical
   * bytes mean an earlier try of this same write succeeded, so this one does too.
   *
   * @throws DeltaConflictError when different bytes are already stored under `key`.
   */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    const objectKey = this.objectKey(key);
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.#client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: objectKey,
            Body: bytes,
            ContentLength: bytes.byteLength,
            ContentType: 'application/octet-stream',
            IfNoneMatch: '*',
          }),
        );
        return;
      } catch (error) {
        if (isConditionalRequestConflict(error) && attempt < this.#maxAttempts) {
          await this.#sleep(50 * attempt);
          continue;
        }
        if (!isPreconditionFailed(error)) throw error;
      }
      // The usual 412 is this very write done before (a retry, or a timer performing a slow writer's
      // outbox): a HEAD whose length and plain ETag match settles it without reading the object back (a
      // checkpoint object is tens of MB). Anything else — another ETag form, a failed HEAD — is read.
      if (await this.#storedAsOffered(objectKey, bytes)) return;
      // Anything larger than what we offered is different bytes: no need to read it.
      let stored: Awaited<ReturnType<typeof readObject>>;
      try {
        stored = await readObject(this.#client, this.bucket, objectKey, bytes.byteLength);
      } catch (error) {
        if (!(error instanceof ObjectTooLargeError)) throw error;
        throw new DeltaConflictError(
          `s3://${this.bucket}/${objectKey} already holds different bytes (${error.exact ? error.sizeBytes : `more than ${error.maxBytes}`} stored, ${bytes.byteLength} offered)`,
          { cause: error },
        );
      }
      if (stored === undefined) {
        // Existed a moment ago and is gone now (expired or deleted): try the create again.
        if (attempt < this.#maxAttempts) continue;
        throw new Error(`s3://${this.bucket}/${objectKey}: object vanished during a create-only write`);
      }
      if (sameBytes(stored.bytes, bytes)) return;
      throw new DeltaConflictError(
        `s3://${this.bucket}/${objectKey} already holds different bytes (${stored.bytes.byteLength} stored, ${bytes.byteLength} offered)`,
      );
    }
  }

  /** True when a HEAD of `objectKey` shows exactly `bytes` (same length, plain MD5 ETag); false otherwise. */
  async #storedAsOffered(objectKey: string, bytes: Uint8Array): Promise<boolean> {
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return head?.ContentLength === bytes.byteLength && head.ETag === plainEtag(bytes);
    } catch {
      return false;
    }
  }

  /**
   * Reads the object at `key`, if it holds at most `options.maxBytes` bytes (default
   * {@link DEFAULT_MAX_DELTA_OBJECT_BYTES}); a larger object's body is not read.
   *
   * @throws ObjectTooLargeError when the object is larger than the cap.
   * @throws ObjectMissingError when it does not exist (NoSuchKey).
   * @throws Error when S3 denies or fails the read.
   */
  async get(key: string, options: DeltaReadOptions = {}): Promise<Uint8Array> {
    const objectKey = this.objectKey(key);
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_DELTA_OBJECT_BYTES;
    const stored = await readObject(this.#client, this.bucket, objectKey, maxBytes);
    if (stored === undefined) {
      throw new ObjectMissingError(key, `s3://${this.bucket}/${objectKey}: no such delta object`);
    }
    return stored.bytes;
  }

  /**
   * Deletes the object at `key` (S3 answers a missing key with success too). Needs `s3:DeleteObject` on
   * `deltas/*`, which only the secondary's channel consumer has.
   */
  async delete(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }
}
