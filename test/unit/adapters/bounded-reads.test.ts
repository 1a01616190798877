/**
 * Bounded reads on the S3 adapters (S3 mocked at the SDK level): an object over the cap is refused from its
 * Content-Length without its body being pulled, and a body that runs past the cap anyway (no or a lying
 * Content-Length) is cut off within a chunk or two of it.
 */
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkMaxBytes, readBoundedBody } from '../../../lambda/adapters/bounded-body.ts';
import { DEFAULT_MAX_DELTA_OBJECT_BYTES, S3DeltaStore } from '../../../lambda/adapters/s3-delta-store.ts';
import { MAX_STATE_DOCUMENT_BYTES, S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { DeltaConflictError, ObjectTooLargeError } from '../../../src/engine/ports.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const s3 = mockClient(S3Client);
const BUCKET = 'colo-deltas';
const KEY = 'vm-0/0000000001/000000000002-checkpoint-ram';
const CHUNK = 16 * 1024;

/** A body of `total` bytes (byte i is i mod 251) that counts what was pulled from it. */
function metered(total: number) {
  const meter = { pulled: 0, reads: 0 };
  const stream = new Readable({
    highWaterMark: CHUNK,
    read() {
      meter.reads++;
      if (meter.pulled >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(CHUNK, total - meter.pulled);
      const chunk = Buffer.alloc(n);
      for (let i = 0; i < n; i++) chunk[i] = (meter.pulled + i) % 251;
      meter.pulled += n;
      this.push(chunk);
    },
  });
  return { stream, meter };
}

function expected(total: number): Uint8Array {
  return Uint8Array.from({ length: total }, (_, i) => i % 251);
}

function deltaStore(): S3DeltaStore {
  return new S3DeltaStore({ bucket: BUCKET, client: new S3Client({}), sleep: async () => {} });
}

async function refusal(p: Promise<unknown>): Promise<ObjectTooLargeError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ObjectTooLargeError);
  return e as ObjectTooLargeError;
}

beforeEach(() => {
  s3.reset();
});

describe('S3DeltaStore.get with maxBytes', () => {
  it('reads an object of exactly the cap, across chunks', async () => {
    const total = 5 * CHUNK + 123;
    const { stream, meter } = metered(total);
    s3.on(GetObjectCommand).resolves({ Body: stream as never, ContentLength: total });
    const bytes = await deltaStore().get(KEY, { maxBytes: total });
    expect(Buffer.from(bytes).equals(expected(total))).toBe(true);
    expect(meter.pulled).toBe(total);
  });

  it('refuses an object whose Content-Length exceeds the cap without pulling its body', async () => {
    const total = 64 * 1024 * 1024;
    const { stream, meter } = metered(total);
    s3.on(GetObjectCommand).resolves({ Body: stream as never, ContentLength: total });
    const e = await refusal(deltaStore().get(KEY, { maxBytes: 1000 }));
    expect(e).toMatchObject({
      key: `s3://${BUCKET}/deltas/${KEY}`,
      sizeBytes: total,
      exact: true,
      maxBytes: 1000,
    });
    expect(e.message).toMatch(/object is 67108864 bytes; at most 1000 may be read/);
    expect(meter.reads).toBe(0);
    expect(meter.pulled).toBe(0);
    expect(stream.destroyed).toBe(true);
  });

  it.each([
    ['absent', undefined],
    ['lying', 10],
  ])('stops a body past the cap when Content-Length is %s', async (_, contentLength) => {
    const total = 64 * 1024 * 1024;
    const cap = 100_000;
    const { stream, meter } = metered(total);
    s3.on(GetObjectCommand).resolves({
      Body: stream as never,
      ...(contentLength === undefined ? {} : { ContentLength: contentLength }),
    });
    const e = await refusal(deltaStore().get(KEY, { maxBytes: cap }));
    expect(e).toMatchObject({ exact: false, maxBytes: cap });
    expect(e.sizeBytes).toBeGreaterThan(cap);
    expect(e.sizeBytes).toBeLessThanOrEqual(cap + CHUNK);
    // The chunk that crossed the cap, plus at most the one the stream buffered ahead of the reader.
    expect(meter.pulled).toBeLessThanOrEqual(cap + 2 * CHUNK);
    expect(stream.destroyed).toBe(true);
  });

  it('holds a read without a cap to DEFAULT_MAX_DELTA_OBJECT_BYTES', async () => {
    const { stream, meter } = metered(16);
    s3.on(GetObjectCommand).resolves({
      Body: stream as never,
      ContentLength: DEFAULT_MAX_DELTA_OBJECT_BYTES + 1,
    });
    const e = await refusal(deltaStore().get(KEY));
    expect(e.maxBytes).toBe(DEFAULT_MAX_DELTA_OBJECT_BYTES);
    expect(meter.reads).toBe(0);
  });

  it('bounds a web ReadableStream body too, cancelling it', async () => {
    let pulls = 0;
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        if (pulls > 64) controller.close();
        else controller.enqueue(new Uint8Array(CHUNK));
      },
      cancel() {
        cancelled = true;
      },
    });
    s3.on(GetObjectCommand).resolves({ Body: body as never });
    const e = await refusal(deltaStore().get(KEY, { maxBytes: 3 * CHUNK }));
    expect(e.sizeBytes).toBe(4 * CHUNK);
    expect(pulls).toBeLessThanOrEqual(5);
    expect(cancelled).toBe(true);
  });
});

describe('S3DeltaStore.put meeting a larger object (412)', () => {
  it('is a conflict, decided from Content-Length without reading the stored body', async () => {
    const { stream, meter } = metered(1024 * 1024);
    s3.on(PutObjectCommand).rejects(
      new S3ServiceException({
        name: 'PreconditionFailed',
        $fault: 'client',
        $metadata: { httpStatusCode: 412 },
        message: 'PreconditionFailed',
      }),
    );
    s3.on(GetObjectCommand).resolves({ Body: stream as never, ContentLength: 1024 * 1024 });
    await expect(deltaStore().put(KEY, new Uint8Array(4))).rejects.toThrow(DeltaConflictError);
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(1);
    expect(meter.reads).toBe(0);
  });
});

describe('S3StateStore.load', () => {
  it('refuses a document over MAX_STATE_DOCUMENT_BYTES without reading it', async () => {
    const { stream, meter } = metered(16);
    s3.on(GetObjectCommand).resolves({
      Body: stream as never,
      ContentLength: MAX_STATE_DOCUMENT_BYTES + 1,
      ETag: '"v1"',
    });
    const store = new S3StateStore({ bucket: BUCKET, client: new S3Client({}) });
    const e = await refusal(store.load('vm-0/secondary'));
    expect(e).toMatchObject({ maxBytes: MAX_STATE_DOCUMENT_BYTES, sizeBytes: MAX_STATE_DOCUMENT_BYTES + 1 });
    expect(meter.reads).toBe(0);
  });

  it('loads a document within a custom cap, and refuses one byte more', async () => {
    s3.on(GetObjectCommand)
      .resolvesOnce({ Body: metered(100).stream as never, ETag: '"v1"' })
      .resolvesOnce({ Body: metered(101).stream as never, ETag: '"v2"' });
    const store = new S3StateStore({ bucket: BUCKET, client: new S3Client({}), maxDocumentBytes: 100 });
    const doc = await store.load('a');
    expect(doc?.etag).toBe('"v1"');
    expect(Buffer.from(doc?.value ?? []).equals(expected(100))).toBe(true);
    await expect(store.load('a')).rejects.toThrow(ObjectTooLargeError);
  });

  it('rejects a cap that is not a byte count', () => {
    expect(
      () => new S3StateStore({ bucket: BUCKET, client: new S3Client({}), maxDocumentBytes: -1 }),
    ).toThrow(RangeError);
  });
});

describe('readBoundedBody', () => {
  it('reads an empty body under a zero cap', async () => {
    await expect(readBoundedBody(Readable.from([]), 0, 0, 'k')).resolves.toEqual(new Uint8Array(0));
  });

  it('refuses a body that is not a stream', async () => {
    await expect(
      readBoundedBody({ transformToByteArray: async () => new Uint8Array(1) }, 1, 1, 'k'),
    ).rejects.toThrow(TypeError);
  });

  it('checks the cap', () => {
    expect(() => checkMaxBytes(1.5)).toThrow(RangeError);
    expect(() => checkMaxBytes(Number.NaN)).toThrow(RangeError);
    expect(() => checkMaxBytes(0)).not.toThrow();
  });
});
