/**
 * Shared S3 helpers: error classification by name or HTTP status (so SDK and emulator variants are both
 * recognised) and whole-object reads with a byte cap.
 */
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { readBoundedBody } from './bounded-body.ts';
import { processMeter } from './usage-meter.ts';

interface AwsErrorShape {
  name?: unknown;
  Code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function shape(error: unknown): AwsErrorShape {
  return typeof error === 'object' && error !== null ? (error as AwsErrorShape) : {};
}

function matches(error: unknown, names: readonly string[], status: number): boolean {
  const e = shape(error);
  return (
    (typeof e.name === 'string' && names.includes(e.name)) ||
    (typeof e.Code === 'string' && names.includes(e.Code)) ||
    e.$metadata?.httpStatusCode === status
  );
}

/** A conditional write lost: HTTP 412 `PreconditionFailed`. */
export function isPreconditionFailed(error: unknown): boolean {
  return matches(error, ['PreconditionFailed'], 412);
}

/** A conditional write raced another in flight: HTTP 409 `ConditionalRequestConflict`. */
export function isConditionalRequestConflict(error: unknown): boolean {
  return matches(error, ['ConditionalRequestConflict'], 409);
}

/** The object does not exist: `NoSuchKey` / `NotFound`, or HTTP 404 other than `NoSuchBucket`. */
export function isNotFound(error: unknown): boolean {
  const e = shape(error);
  if (e.name === 'NoSuchBucket' || e.Code === 'NoSuchBucket') return false;
  return matches(error, ['NoSuchKey', 'NotFound'], 404);
}

/**
 * Reads a whole object of at most `maxBytes` bytes into bytes with its ETag; `undefined` when it does not
 * exist. A larger object's body is not read (see {@link readBoundedBody}).
 *
 * @param maxBytes - Cap, bytes.
 * @throws ObjectTooLargeError (key `s3://bucket/key`) when the object is larger than `maxBytes`.
 */
export async function readObject(
  client: S3Client,
  bucket: string,
  key: string,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; etag: string | undefined } | undefined> {
  let out: GetObjectCommandOutput;
  try {
    out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  const where = `s3://${bucket}/${key}`;
  if (out.Body === undefined) throw new Error(`${where}: response has no body`);
  // The body streams after the request returned: shown among the calls in flight while it does.
  const done = processMeter.track('s3:GetObject body', key);
  try {
    return { bytes: await readBoundedBody(out.Body, out.ContentLength, maxBytes, where), etag: out.ETag };
  } finally {
    done();
  }
}
