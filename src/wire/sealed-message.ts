/**
 * Sealed COLO messages: the text a channel carries is one bounded header line — format tag, key id, VM id,
 * epoch, sequence number, message type and an HMAC-SHA-256 — then a newline and the message's JSON body,
 * byte for byte as signed:
 *
 * ```
 * COLO1 3f9a0c12 vm-0 4 17 heartbeat Xb1…43 base64url characters…
 * {"v":1,"type":"heartbeat","vmId":"vm-0","epoch":4,"seq":17}
 * ```
 *
 * The receiver reads at most {@link MAX_SEALED_HEADER_CHARS} characters to find the header, checks it
 * against a strict pattern and its own VM id, picks the key by id and verifies the MAC over the header and
 * the exact body bytes **before** the body is parsed; only then does it check that the body's own envelope
 * says what the header says. The frame is not JSON, so no channel re-serialises it (LocalStack's SQS event
 * source re-serialises JSON bodies: docs/localstack.md, gap 13).
 */
import type { ColoMessage } from '../engine/protocol/messages.ts';
import { MAX_EPOCH, MAX_MESSAGE_BYTES, VM_ID_PATTERN } from './limits.ts';
import { serializeMessage } from './message-schema.ts';
import { type KeySet, keysWithId, MAC_BYTES, type ReplicationKey } from './replication-key.ts';

/** First word of a sealed message's header line (format version 1). */
export const SEALED_MESSAGE_TAG = 'COLO1';

/** Longest header line, characters (without its newline); the real one is at most 143. */
export const MAX_SEALED_HEADER_CHARS = 256;

/** Longest sealed message, characters: a header line, its newline and a body of at most 256 KiB. */
export const MAX_SEALED_MESSAGE_CHARS = MAX_SEALED_HEADER_CHARS + 1 + MAX_MESSAGE_BYTES;

/** Domain separation: a message MAC is never valid as an object MAC, or anything else. */
const MESSAGE_DOMAIN = 'colo-sealed-message/1\n';

const HEADER_PATTERN =
  /^COLO1 ([0-9a-f]{8}) ([a-z0-9][a-z0-9-]{0,62}) (0|[1-9][0-9]{0,9}) (0|[1-9][0-9]{0,15}) ([a-z][a-z-]{0,31}) ([A-Za-z0-9_-]{43})$/;

/** What a sealed message's header states (unverified until the MAC is). */
export interface SealedHeader {
  /** Id of the key that sealed it. */
  keyId: string;
  /** VM id. */
  vmId: string;
  /** Epoch. */
  epoch: number;
  /** Sequence number. */
  seq: number;
  /** Message type. */
  type: string;
}

/** Why a sealed message was refused. */
export type SealFailure =
  /** No header line, or one that does not match the format. */
  | 'not-sealed'
  /** Longer than {@link MAX_SEALED_MESSAGE_CHARS}. */
  | 'too-large'
  /** Sealed for another VM. */
  | 'wrong-vm'
  /** Sealed with a key id that is not among the accepted keys (a rotation not yet seen, or a forgery). */
  | 'unknown-key'
  /** The MAC does not match: forged or altered. */
  | 'bad-mac'
  /** Authentic, but the body's envelope says something else than the header. */
  | 'header-mismatch';

/** The result of {@link openMessage}. */
export type OpenedMessage =
  | { ok: true; header: SealedHeader; body: string }
  | { ok: false; failure: SealFailure; reason: string; header?: SealedHeader };

/** The MAC of a header (without its MAC word) and a body. */
function messageMac(key: ReplicationKey, signedHeader: string, body: string): Buffer {
  return key.mac(MESSAGE_DOMAIN, signedHeader, '\n', body);
}

function signedHeaderOf(keyId: string, h: Omit<SealedHeader, 'keyId'>): string {
  return `${SEALED_MESSAGE_TAG} ${keyId} ${h.vmId} ${h.epoch} ${h.seq} ${h.type}`;
}

/**
 * Seals `body` under `key` with the header fields `h` (exactly as given: a caller crafting a test message
 * can seal anything; {@link sealMessage} is what runtimes use).
 *
 * @throws RangeError when a header field is outside the header's pattern.
 */
export function sealMessageBody(key: ReplicationKey, h: Omit<SealedHeader, 'keyId'>, body: string): string {
  const signed = signedHeaderOf(key.id, h);
  const mac = messageMac(key, signed, body).toString('base64url');
  const line = `${signed} ${mac}`;
  if (!HEADER_PATTERN.test(line)) throw new RangeError(`cannot seal: header ${JSON.stringify(signed)}`);
  return `${line}\n${body}`;
}

/**
 * Seals a message: its schema-checked body ({@link serializeMessage}) under `key`, the header naming its VM,
 * epoch, sequence number and type.
 *
 * @throws WireError when the message does not match the schema.
 */
export function sealMessage(key: ReplicationKey, message: ColoMessage): string {
  return sealMessageBody(key, message, serializeMessage(message));
}

/**
 * Reads a sealed message's header without verifying anything (for logs and tools that sort messages);
 * undefined when the text has no well-formed header.
 */
export function readSealedHeader(text: string): SealedHeader | undefined {
  return parseHeader(text)?.header;
}

/**
 * The body of a sealed text, **unverified** — for tools and tests that read what a channel carries (the
 * node that takes the message authenticates it); a text without a sealed header is returned as it is.
 */
export function unverifiedBody(text: string): string {
  const parsed = parseHeader(text);
  return parsed ? text.slice(parsed.end + 1) : text;
}

function parseHeader(
  text: string,
): { header: SealedHeader; signed: string; mac: string; end: number } | undefined {
  if (typeof text !== 'string') return undefined;
  const end = text.slice(0, MAX_SEALED_HEADER_CHARS + 1).indexOf('\n');
  if (end < 0) return undefined;
  const line = text.slice(0, end);
  const m = HEADER_PATTERN.exec(line);
  if (!m) return undefined;
  const [, keyId, vmId, epochText, seqText, type, mac] = m as unknown as string[];
  const epoch = Number(epochText);
  const seq = Number(seqText);
  if (epoch > MAX_EPOCH || !Number.isSafeInteger(seq)) return undefined;
  const header = { keyId, vmId, epoch, seq, type } as SealedHeader;
  return { header, signed: line.slice(0, line.length - 44), mac: mac as string, end };
}

/** True when a parsed body's envelope states what the header states. */
function matchesHeader(raw: unknown, h: SealedHeader): boolean {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false;
  const o = raw as Record<string, unknown>;
  return o.vmId === h.vmId && o.epoch === h.epoch && o.seq === h.seq && o.type === h.type;
}

/**
 * Opens a sealed message for the VM of `keys`: bounded header, VM id, key id, MAC over header and exact
 * body (constant-time compare) — all before the body is parsed — then the body's envelope against the
 * header. Returns the body (JSON text, still to be schema-checked) or why it was refused. Never throws.
 */
export function openMessage(keys: KeySet, text: string): OpenedMessage {
  if (typeof text !== 'string')
    return { ok: false, failure: 'not-sealed', reason: `a ${typeof text}, not text` };
  if (text.length > MAX_SEALED_MESSAGE_CHARS) {
    return {
      ok: false,
      failure: 'too-large',
      reason: `${text.length} characters; a sealed message has at most ${MAX_SEALED_MESSAGE_CHARS}`,
    };
  }
  const parsed = parseHeader(text);
  if (!parsed) {
    return {
      ok: false,
      failure: 'not-sealed',
      reason: `no sealed header (a first line "${SEALED_MESSAGE_TAG} <key id> <vm id> <epoch> <seq> <type> <mac>" of at most ${MAX_SEALED_HEADER_CHARS} characters)`,
    };
  }
  const { header, signed, mac, end } = parsed;
  if (!VM_ID_PATTERN.test(header.vmId) || header.vmId !== keys.vmId) {
    return {
      ok: false,
      failure: 'wrong-vm',
      reason: `sealed for VM ${header.vmId}; this is VM ${keys.vmId}`,
      header,
    };
  }
  const candidates = keysWithId(keys, header.keyId);
  if (candidates.length === 0) {
    return {
      ok: false,
      failure: 'unknown-key',
      reason: `sealed with key ${header.keyId}; accepted keys are ${keys.accepted.map((k) => k.id).join(', ')}`,
      header,
    };
  }
  const tag = Buffer.from(mac, 'base64url');
  const body = text.slice(end + 1);
  // Canonical base64url only: the last character carries 2 unused bits, which must be 0 (one text per MAC).
  const canonical = tag.byteLength === MAC_BYTES && tag.toString('base64url') === mac;
  if (!canonical || !candidates.some((k) => k.verify(tag, MESSAGE_DOMAIN, signed, '\n', body))) {
    return { ok: false, failure: 'bad-mac', reason: `MAC check failed (key ${header.keyId})`, header };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    // Authentic but not JSON: the schema check downstream refuses it with its own words.
    return { ok: true, header, body };
  }
  if (!matchesHeader(raw, header)) {
    return {
      ok: false,
      failure: 'header-mismatch',
      reason: `the body's envelope does not match its sealed header (${header.vmId} epoch ${header.epoch} seq ${header.seq} ${header.type})`,
      header,
    };
  }
  return { ok: true, header, body };
}
