/**
 * Reads an S3 response body with a byte cap. An object whose Content-Length exceeds the cap is refused
 * before a byte of its body is read (the stream is destroyed, which also drops the connection rather than
 * draining it); a body that runs past the cap anyway (Content-Length absent or lying) is cut off at the
 * first chunk that crosses it. Chosen over a ranged GET (`Range: bytes=0-<cap>`) because that reads cap+1
 * bytes of every oversize object, answers 416 for an empty one, and depends on the emulator's Range support.
 */
import { ObjectTooLargeError } from '../../src/engine/ports.ts';

/** What the reader needs of a body: a Node `Readable` or a web `ReadableStream` (both async-iterable). */
type Body = AsyncIterable<Uint8Array | string> & {
  destroy?: (error?: Error) => void;
  cancel?: (reason?: unknown) => Promise<void>;
};

function isBody(body: unknown): body is Body {
  return typeof body === 'object' && body !== null && Symbol.asyncIterator in body;
}

/** Stops a body without reading it: destroys a Node stream, cancels a web stream. */
function discard(body: Body): void {
  if (typeof body.destroy === 'function') body.destroy();
  else if (typeof body.cancel === 'function') body.cancel().catch(() => {});
}

/**
 * Throws a `RangeError` unless `maxBytes` is a non-negative safe integer.
 *
 * @param maxBytes - A read cap, bytes.
 */
export function checkMaxBytes(maxBytes: number): void {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new RangeError(`maxBytes must be a non-negative safe integer, got ${maxBytes}`);
  }
}

/**
 * Reads `body` whole if it holds at most `maxBytes` bytes.
 *
 * @param body - The response body (`GetObjectCommandOutput.Body`).
 * @param contentLength - The response's Content-Length, bytes, when it has one.
 * @param maxBytes - Cap, bytes.
 * @param key - Names the object in errors.
 * @throws ObjectTooLargeError when Content-Length (exact size, body unread) or the bytes streamed (a lower
 *   bound; at most one chunk past the cap is held) exceed `maxBytes`.
 * @throws TypeError when `body` is not a stream.
 */
export async function readBoundedBody(
  body: unknown,
  contentLength: number | undefined,
  maxBytes: number,
  key: string,
): Promise<Uint8Array> {
  checkMaxBytes(maxBytes);
  if (!isBody(body)) throw new TypeError(`${key}: response body is not a stream`);
  if (contentLength !== undefined && contentLength > maxBytes) {
    discard(body);
    throw new ObjectTooLargeError(key, contentLength, true, maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      total += bytes.byteLength;
      if (total > maxBytes) throw new ObjectTooLargeError(key, total, false, maxBytes);
      chunks.push(bytes);
    }
  } finally {
    // Leaving the loop early already ends the iterator; make sure the transport is released too.
    if (total > maxBytes) discard(body);
  }
  // A fresh array of its own (not a slice of Node's shared pool), as `transformToByteArray` returned.
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
