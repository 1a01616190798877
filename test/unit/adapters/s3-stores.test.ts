import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { deltaKey } from '../../../lambda/adapters/contract.ts';
import { forcePathStyleFromEnv, loadFunctionConfig } from '../../../lambda/adapters/env.ts';
import { S3DeltaStore } from '../../../lambda/adapters/s3-delta-store.ts';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { DeltaConflictError, StateConflictError } from '../../../src/engine/ports.ts';

// The SDK warns once per process that releases from 2027 need Node 22; the project runs on Node 20 by design.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const s3 = mockClient(S3Client);
const BUCKET = 'colo-deltas';

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

/** A stand-in for the SDK's streaming body (a Node `Readable`, as in Lambda). */
function body(bytes: Uint8Array) {
  return Readable.from([Buffer.from(bytes)]) as never;
}

const noSleep = async (): Promise<void> => {};

beforeEach(() => {
  s3.reset();
});

describe('deltaKey', () => {
  it('zero-pads epoch to 10 and seq to 12 digits', () => {
    expect(deltaKey('vm-0', 42, 7, 'background-ram')).toBe('vm-0/0000000042/000000000007-background-ram');
    expect(deltaKey('vm-0', 9_999_999_999, 999_999_999_999, 'device-state')).toBe(
      'vm-0/9999999999/999999999999-device-state',
    );
  });

  it('rejects malformed parts', () => {
    expect(() => deltaKey('vm/0', 1, 1, 'device-state')).toThrow(RangeError);
    expect(() => deltaKey('vm-0', -1, 1, 'device-state')).toThrow(/epoch/);
    expect(() => deltaKey('vm-0', 1, 1.5, 'device-state')).toThrow(/seq/);
    expect(() => deltaKey('vm-0', 10 ** 10, 1, 'device-state')).toThrow(/epoch/);
    expect(() => deltaKey('vm-0', 1, 1, 'vmstate' as never)).toThrow(/kind/);
  });
});

describe('S3DeltaStore', () => {
  const key = deltaKey('vm-0', 1, 2, 'checkpoint-ram');
  const bytes = new Uint8Array([1, 2, 3, 4]);

  it('puts create-only under <prefix>deltas/<key>', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"e1"' });
    const store = new S3DeltaStore({ bucket: BUCKET, prefix: 'run-1/', client: new S3Client({}) });
    await store.put(key, bytes);
    const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      Bucket: BUCKET,
      Key: 'run-1/deltas/vm-0/0000000001/000000000002-checkpoint-ram',
      IfNoneMatch: '*',
      ContentLength: 4,
    });
    expect(input?.IfMatch).toBeUndefined();
  });

  it('treats 412 with identical stored bytes as a successful retry', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    s3.on(GetObjectCommand).resolves({ Body: body(bytes), ETag: '"e1"' });
    const store = new S3DeltaStore({ bucket: BUCKET, client: new S3Client({}) });
    await expect(store.put(key, bytes)).resolves.toBeUndefined();
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input.Key).toBe(`deltas/${key}`);
  });

  it('settles a 412 by a HEAD when the stored length and plain ETag are the offered bytes', async () => {
    const md5 = createHash('md5').update(bytes).digest('hex');
    s3.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    s3.on(HeadObjectCommand).resolves({ ContentLength: bytes.byteLength, ETag: `"${md5}"` });
    const store = new S3DeltaStore({ bucket: BUCKET, client: new S3Client({}) });
    await expect(store.put(key, bytes)).resolves.toBeUndefined();
    expect(s3.commandCalls(HeadObjectCommand)[0]?.args[0].input.Key).toBe(`deltas/${key}`);
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  it.each([
    ['another ETag (KMS, multipart)', { ContentLength: 4, ETag: '"0123456789abcdef0123456789abcdef-2"' }],
    ['the same ETag with another length', { ContentLength: 5, ETag: 'md5' }],
  ])('reads the object back when the HEAD shows %s, and refuses different bytes', async (_, head) => {
    const md5 = createHash('md5').update(bytes).digest('hex');
    s3.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    s3.on(HeadObjectCommand).resolves({ ...head, ETag: head.ETag === 'md5' ? `"${md5}"` : head.ETag });
    s3.on(GetObjectCommand).resolves({ Body: body(new Uint8Array([1, 2, 3, 5])) });
    const store = new S3DeltaStore({ bucket: BUCKET, client: new S3Client({}) });
    await expect(store.put(key, bytes)).rejects.toBeInstanceOf(DeltaConflictError);
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(1);
  });

  it('reads the object back when the HEAD fails', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    s3.on(HeadObjectCommand).rejects(s3Error('InternalError', 500));
    s3.on(GetObjectCommand).resolves({ Body: body(bytes) });
    const store = new S3DeltaStore({ bucket: BUCKET, client: new S3Client({}) });
    await expect(store.put(key, bytes)).resolves.toBeUndefined();
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(1);
  });

  it('throws DeltaConflictError on 412 with different stored bytes', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    s3.on(GetObjectCommand).resolves({ Body: body(new Uint8Array([1, 2, 3, 5])) });
    const store = new S3DeltaStore({ bucket: BUCKET, client: new S3Client({}) });
    await expect(store.put(key, bytes)).rejects.toBeInstanceOf(DeltaConflictError);
  });

  it('throws DeltaConflictError on 412 with a stored object of another length', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    s3.on(GetObjectCommand).resolves({ Body: body(new Uint8Array([1, 2, 3])) });
    const store = new S3DeltaStore({ bucket: BUCKET, client: new S3Client({}) });
    await expect(store.put(key, bytes)).rejects.toThrow(/3 stored, 4 offered/);
  });

  it('retries a 409 ConditionalRequestConflict, then settles by the read-back', async () => {
    s3.on(PutObjectCommand)
      .rejectsOnce(s3Error('ConditionalRequestConflict', 409))
      .rejects(s3Error('PreconditionFailed', 412));
    s3.on(GetObjectCommand).resolves({ Body: body(bytes) });
    const store = new S3DeltaStore({ bucket: BUCKET, client: new S3Client({}), sleep: noSleep });
    await store.put(key, bytes);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(2);
  });

  it('passes other errors through', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403));
    const store = new S3DeltaStore({ bucket: BUCKET, client: new S3Client({}) });
    await expect(store.put(key, bytes)).rejects.toThrow(/AccessDenied/);
  });

  it('gets bytes, and throws for a missing object', async () => {
    s3.on(GetObjectCommand, { Key: `deltas/${key}` }).resolves({ Body: body(bytes) });
    s3.on(GetObjectCommand, { Key: 'deltas/missing' }).rejects(s3Error('NoSuchKey', 404));
    const store = new S3DeltaStore({ bucket: BUCKET, client: new S3Client({}) });
    const got = await store.get(key);
    expect(got).toBeInstanceOf(Uint8Array);
    expect([...got]).toEqual([1, 2, 3, 4]);
    await expect(store.get('missing')).rejects.toThrow(/no such delta object/);
  });

  it('deletes <prefix>deltas/<key>, and passes a denied delete through', async () => {
    s3.on(DeleteObjectCommand, { Key: `run-1/deltas/${key}` }).resolves({});
    s3.on(DeleteObjectCommand, { Key: 'run-1/deltas/denied' }).rejects(s3Error('AccessDenied', 403));
    const store = new S3DeltaStore({ bucket: BUCKET, prefix: 'run-1/', client: new S3Client({}) });
    await store.delete(key);
    expect(s3.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: `run-1/deltas/${key}`,
    });
    await expect(store.delete('denied')).rejects.toThrow(/AccessDenied/);
  });
});

describe('S3StateStore', () => {
  const doc = new TextEncoder().encode('{"epoch":3}');

  it('loads bytes and ETag from <prefix>state/<key>; a missing key is undefined', async () => {
    s3.on(GetObjectCommand, { Key: 'state/vm-0/primary.json' }).resolves({ Body: body(doc), ETag: '"v1"' });
    s3.on(GetObjectCommand, { Key: 'state/vm-0/none.json' }).rejects(s3Error('NoSuchKey', 404));
    const store = new S3StateStore({ bucket: BUCKET, client: new S3Client({}) });
    const loaded = await store.load('vm-0/primary.json');
    expect(loaded?.etag).toBe('"v1"');
    expect(new TextDecoder().decode(loaded?.value)).toBe('{"epoch":3}');
    expect(await store.load('vm-0/none.json')).toBeUndefined();
  });

  it('does not mistake a missing bucket for a missing key', async () => {
    s3.on(GetObjectCommand).rejects(s3Error('NoSuchBucket', 404));
    const store = new S3StateStore({ bucket: BUCKET, client: new S3Client({}) });
    await expect(store.load('vm-0/primary.json')).rejects.toThrow(/NoSuchBucket/);
  });

  it('saves with IfMatch when given an ETag and returns the new ETag', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"v2"' });
    const store = new S3StateStore({ bucket: BUCKET, client: new S3Client({}) });
    expect(await store.save('vm-0/primary.json', doc, '"v1"')).toBe('"v2"');
    const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ Key: 'state/vm-0/primary.json', IfMatch: '"v1"' });
    expect(input?.IfNoneMatch).toBeUndefined();
  });

  it('saves create-only (IfNoneMatch *) when the ETag is undefined', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"v1"' });
    const store = new S3StateStore({ bucket: BUCKET, client: new S3Client({}) });
    await store.save('vm-0/primary.json', doc, undefined);
    const input = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ IfNoneMatch: '*' });
    expect(input?.IfMatch).toBeUndefined();
  });

  it.each([
    ['PreconditionFailed', 412, '"v1"'],
    ['ConditionalRequestConflict', 409, '"v1"'],
    ['PreconditionFailed', 412, undefined],
    ['ConditionalRequestConflict', 409, undefined],
    ['NoSuchKey', 404, '"v1"'],
  ])('maps %s (%i) to StateConflictError (etag %s)', async (name, status, etag) => {
    s3.on(PutObjectCommand).rejects(s3Error(name, status));
    const store = new S3StateStore({ bucket: BUCKET, client: new S3Client({}) });
    const error = await store.save('vm-0/primary.json', doc, etag).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateConflictError);
    expect((error as Error).cause).toBeInstanceOf(S3ServiceException);
  });

  it('passes other errors through', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403));
    const store = new S3StateStore({ bucket: BUCKET, client: new S3Client({}) });
    await expect(store.save('k', doc, '"v1"')).rejects.not.toBeInstanceOf(StateConflictError);
  });
});

describe('environment', () => {
  it('reads the path-style switch', () => {
    expect(forcePathStyleFromEnv({ AWS_S3_FORCE_PATH_STYLE: '1' })).toBe(true);
    expect(forcePathStyleFromEnv({ AWS_S3_FORCE_PATH_STYLE: 'TRUE' })).toBe(true);
    expect(forcePathStyleFromEnv({ AWS_S3_FORCE_PATH_STYLE: '0' })).toBe(false);
    expect(forcePathStyleFromEnv({})).toBe(false);
    // The config reader and the client reader agree: what one refuses, the other refuses.
    expect(() => forcePathStyleFromEnv({ AWS_S3_FORCE_PATH_STYLE: 'yes' })).toThrow(
      /AWS_S3_FORCE_PATH_STYLE.*must be true or false/,
    );
  });

  it('parses the function config and names a bad variable', () => {
    const env = {
      VM_ID: 'vm-0',
      SEED: '1',
      GUEST_BYTES: '67108864',
      WORKLOAD: 'hotcold',
      POLICY: 'fixed',
      CHECKPOINT_DELAY_MS: '20000',
      PENDING_CHECK_INTERVAL_MS: '1000',
      THRESHOLD_BYTES: '104857600',
      APPLY_TIMEOUT_MS: '5000',
      HEARTBEAT_INTERVAL_MS: '1000',
      HEARTBEAT_TIMEOUT_MS: '3000',
      CHECKPOINT_TIMEOUT_MS: '30000',
      DOWNTIME_BUDGET_MS: '300',
      EPOCH_CAP_BYTES: '0',
      BUCKET_NAME: 'b',
    };
    expect(loadFunctionConfig(env)).toMatchObject({
      vmId: 'vm-0',
      guestBytes: 67_108_864,
      checkpointDelayMs: 20_000,
    });
    expect(() => loadFunctionConfig({ ...env, APPLY_TIMEOUT_MS: '5s' })).toThrow(/APPLY_TIMEOUT_MS/);
    expect(() => loadFunctionConfig({ ...env, BUCKET_NAME: undefined })).toThrow(/BUCKET_NAME/);
    // The switch reads as the S3 client reads it (forcePathStyleFromEnv): case-insensitive.
    expect(loadFunctionConfig({ ...env, AWS_S3_FORCE_PATH_STYLE: 'TRUE' }).s3ForcePathStyle).toBe(true);
    expect(() => loadFunctionConfig({ ...env, AWS_S3_FORCE_PATH_STYLE: 'yes' })).toThrow(
      /AWS_S3_FORCE_PATH_STYLE/,
    );
  });
});
