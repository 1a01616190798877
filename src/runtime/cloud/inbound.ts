/** Turning a message body into a prepared input: size and JSON checks, and the envelope for duplicates. */
import type { ColoError } from '../../engine/errors.ts';
import { duplicateKey } from '../../wire/json-keys.ts';
import { MAX_MESSAGE_BYTES } from '../../wire/limits.ts';
import { invalidBody } from './driver.ts';
import { showValue } from './text.ts';

/** A parsed body: the raw value for the engine and its envelope, or why it is not a message at all. */
export type ParsedBody =
  | { ok: true; raw: unknown; envelope?: { vmId: unknown; seq: number; type: string } }
  | { ok: false; error: ColoError };

/**
 * Parses a message body (JSON text, at most 256 KiB of UTF-8, no key twice in one object). Schema checks
 * are the engine's. Never throws: a body that is not a message is `{ ok: false }`.
 */
export function parseBody(body: string): ParsedBody {
  if (typeof body !== 'string')
    return { ok: false, error: invalidBody(`body is a ${typeof body}, not text`) };
  if (Buffer.byteLength(body, 'utf8') > MAX_MESSAGE_BYTES) {
    return { ok: false, error: invalidBody(`body exceeds ${MAX_MESSAGE_BYTES} bytes`) };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (e) {
    return {
      ok: false,
      error: invalidBody(`body is not JSON: ${e instanceof Error ? e.message : String(e)}`),
    };
  }
  const twice = duplicateKey(body);
  if (twice !== undefined) {
    return { ok: false, error: invalidBody(`body has the key ${JSON.stringify(twice.slice(0, 64))} twice`) };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: true, raw };
  const o = raw as { vmId?: unknown; seq?: unknown; type?: unknown };
  if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 0) return { ok: true, raw };
  // showValue, not String: String({"toString": 1}) throws, and this function must not.
  const type = typeof o.type === 'string' ? o.type : showValue(o.type);
  return { ok: true, raw, envelope: { vmId: o.vmId, seq: o.seq, type } };
}
