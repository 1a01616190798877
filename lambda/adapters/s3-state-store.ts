/**
 * `StateStore` on S3: node state documents updated by compare-and-swap on the object's ETag
 * (`If-Match: <etag>`, or `If-None-Match: *` for the first write).
 */
import {
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  StateConflictError,
  type StateStore,
  type StoredKey,
  type Versioned,
} from '../../src/engine/ports.ts';
import { checkMaxBytes } from './bounded-body.ts';
import { STATE_PREFIX } from './contract.ts';
import { s3ClientFromEnv } from './env.ts';
import { isConditionalRequestConflict, isNotFound, isPreconditionFailed, readObject } from './s3-common.ts';

/**
 * Largest state document {@link S3StateStore.load} reads, bytes (256 MiB). A node document stores about
 * 8–16 bytes per guest page before deflate (the secondary's committed and running page versions, the colo
 * cache), i.e. a few MiB for the 1 GiB default guest and at most ~256 MiB for a 64 GiB guest, the largest
 * the project targets; the cap keeps a corrupt or hostile object from being read whole beyond that.
 */
export const MAX_STATE_DOCUMENT_BYTES = 256 * 1024 * 1024;

/** Options of {@link S3StateStore}. */
export interface S3StateStoreOptions {
  /** Bucket name. */
  bucket: string;
  /** Key prefix before `state/`; default empty. */
  prefix?: string;
  /** S3 client; default {@link s3ClientFromEnv}. */
  client?: S3Client;
  /** Largest document to load, bytes; default {@link MAX_STATE_DOCUMENT_BYTES}. */
  maxDocumentBytes?: number;
}

/** {@link StateStore} on an S3 bucket; documents live at `<prefix>state/<key>`. */
export class S3StateStore implements StateStore {
  /** Bucket name. */
  readonly bucket: string;
  /** Key prefix before `state/`. */
  readonly prefix: string;
  /** Largest document {@link load} reads, bytes. */
  readonly maxDocumentBytes: number;
  readonly #client: S3Client;

  /** Creates a store; see {@link S3StateStoreOptions} for the defaults. */
  constructor(options: S3StateStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.#client = options.client ?? s3ClientFromEnv();
    this.maxDocumentBytes = options.maxDocumentBytes ?? MAX_STATE_DOCUMENT_BYTES;
    checkMaxBytes(this.maxDocumentBytes);
  }

  /** The S3 key of a store key: `<prefix>state/<key>`. */
  objectKey(key: string): string {
    return `${this.prefix}${STATE_PREFIX}${key}`;
  }

  /**
   * Loads the document at `key` with its ETag, or `undefined` when there is none. (S3 answers a missing key
   * with 403 unless the caller may `s3:ListBucket`; the stack grants that to every state reader.)
   *
   * @throws ObjectTooLargeError when the document is larger than {@link maxDocumentBytes} (its body unread).
   */
  async load(key: string): Promise<Versioned<Uint8Array> | undefined> {
    const objectKey = this.objectKey(key);
    const stored = await readObject(this.#client, this.bucket, objectKey, this.maxDocumentBytes);
    if (stored === undefined) return undefined;
    if (stored.etag === undefined) throw new Error(`s3://${this.bucket}/${objectKey}: response has no ETag`);
    return { value: stored.bytes, etag: stored.etag };
  }

  /**
   * Writes `value` if the stored ETag is still `etag` (`undefined`: only if nothing is stored).
   *
   * @returns The new ETag.
   * @throws StateConflictError on 412 PreconditionFailed, 409 ConditionalRequestConflict, or 404 (the
   *   document named by `etag` was deleted).
   */
  async save(key: string, value: Uint8Array, etag: string | undefined): Promise<string> {
    const objectKey = this.objectKey(key);
    try {
      const out = await this.#client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Body: value,
          ContentLength: value.byteLength,
          ContentType: 'application/octet-stream',
          ...(etag === undefined ? { IfNoneMatch: '*' } : { IfMatch: etag }),
        }),
      );
      if (out.ETag === undefined) throw new Error(`s3://${this.bucket}/${objectKey}: response has no ETag`);
      return out.ETag;
    } catch (error) {
      if (isPreconditionFailed(error) || isConditionalRequestConflict(error)) {
        throw new StateConflictError(
          `s3://${this.bucket}/${objectKey}: ${etag === undefined ? 'already exists' : `no longer at ETag ${etag}`}`,
          { cause: error },
        );
      }
      if (etag !== undefined && isNotFound(error)) {
        throw new StateConflictError(`s3://${this.bucket}/${objectKey}: deleted since ETag ${etag}`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * Keys under `prefix` (a store key prefix) with their last write time, ms (`ListObjectsV2`, every page).
   * Used by the sweep of unreferenced state chunks; needs `s3:ListBucket` on the prefix.
   */
  async list(prefix: string): Promise<StoredKey[]> {
    const out: StoredKey[] = [];
    const at = this.objectKey('').length;
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.objectKey(prefix),
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        out.push({ key: o.Key.slice(at), modifiedAt: o.LastModified?.getTime() ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /** Deletes `key` (S3 answers a missing key with success too). Needs `s3:DeleteObject` on it. */
  async delete(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }
}
