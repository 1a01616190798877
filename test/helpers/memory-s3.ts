/**
 * An S3 client over a Map, enough for the registry, the state store and `colo vm` administration in unit
 * tests: GetObject, PutObject (IfNoneMatch `*` / IfMatch), DeleteObject, DeleteObjects, ListObjectsV2
 * (Prefix). Errors carry the names and status codes the adapters test for.
 */
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';

function s3Error(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

/** The fake's objects (key → bytes and ETag) and its client. */
export class MemoryS3 {
  /** Objects by key; `modified` is the write time by {@link MemoryS3.now}, ms (now when absent). */
  readonly objects = new Map<string, { bytes: Buffer; etag: string; modified?: number }>();
  #next = 0;

  /** @param now - The fake's clock, ms: `LastModified` of what it writes. */
  constructor(readonly now: () => number = Date.now) {}

  /** The client to hand to adapters (only `send` is implemented). */
  get client(): S3Client {
    return { send: (command: unknown) => this.send(command) } as unknown as S3Client;
  }

  /** Keys under `prefix`, sorted. */
  keys(prefix = ''): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async send(command: unknown): Promise<unknown> {
    const name = (command as { constructor: { name: string } }).constructor.name;
    const input = (command as { input: Record<string, unknown> }).input;
    const key = input.Key as string;
    switch (name) {
      case 'GetObjectCommand': {
        const o = this.objects.get(key);
        if (!o) throw s3Error('NoSuchKey', 404);
        return {
          Body: Readable.from([o.bytes]),
          ContentLength: o.bytes.byteLength,
          ETag: o.etag,
          LastModified: new Date(o.modified ?? this.now()),
        };
      }
      case 'PutObjectCommand': {
        const had = this.objects.get(key);
        if (input.IfNoneMatch === '*' && had) throw s3Error('PreconditionFailed', 412);
        if (input.IfMatch !== undefined && had?.etag !== input.IfMatch) {
          throw had ? s3Error('PreconditionFailed', 412) : s3Error('NoSuchKey', 404);
        }
        const body = input.Body as Uint8Array | string;
        const etag = `"e${++this.#next}"`;
        this.objects.set(key, { bytes: Buffer.from(body as Uint8Array), etag, modified: this.now() });
        return { ETag: etag };
      }
      case 'DeleteObjectCommand':
        this.objects.delete(key);
        return {};
      case 'DeleteObjectsCommand': {
        const list = (input.Delete as { Objects: { Key: string }[] }).Objects;
        for (const o of list) this.objects.delete(o.Key);
        return {};
      }
      case 'ListObjectsV2Command': {
        const keys = this.keys((input.Prefix as string | undefined) ?? '');
        return {
          Contents: keys.map((k) => ({ Key: k, ETag: this.objects.get(k)?.etag, LastModified: new Date(0) })),
          IsTruncated: false,
          KeyCount: keys.length,
        };
      }
      default:
        throw new Error(`MemoryS3: ${name} is not implemented`);
    }
  }
}
