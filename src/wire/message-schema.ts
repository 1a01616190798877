/**
 * Schema of COLO messages (src/engine/protocol/messages.ts) for untrusted bodies: strict objects (no unknown
 * fields), discriminated on `type`, with bounded values. The JSON Schema form is docs/message-schema.json.
 */

import { z } from 'zod';
import type { ColoMessage } from '../engine/protocol/messages.ts';
import { MESSAGE_VERSION } from '../engine/protocol/messages.ts';
import { WireError } from './errors.ts';
import { duplicateKey } from './json-keys.ts';
import {
  MAX_ANNOUNCED_BYTES,
  MAX_APPLIED_ROUNDS,
  MAX_APPLY_MS,
  MAX_EPOCH,
  MAX_KEY_CHARS,
  MAX_MESSAGE_BYTES,
  MAX_U32,
  VM_ID_PATTERN,
} from './limits.ts';

const vmId = z
  .string()
  .regex(VM_ID_PATTERN, 'vmId must be 1-63 of a-z, 0-9 and "-", starting with a letter or digit')
  .meta({ description: 'VM being replicated (the FIFO message group).' });
const epoch = z
  .int()
  .min(0)
  .max(MAX_EPOCH)
  .meta({ description: 'Epoch the sender is in: the number of the checkpoint being built.' });
const seq = z.int().min(0).meta({ description: 'Per-direction sequence number, from 0, +1 per message.' });
const byteSize = z.int().min(0).max(MAX_ANNOUNCED_BYTES);
const round = z.int().min(0).max(MAX_U32);
const sha256 = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lower-case hex digits')
  .meta({ description: 'SHA-256 of the whole object, lower-case hex.' });
const key = z
  .string()
  .min(1)
  .max(MAX_KEY_CHARS)
  .regex(/^[A-Za-z0-9!_.*'()/-]*$/, "key may only contain A-Z a-z 0-9 ! _ . * ' ( ) / -")
  .regex(/^(?!.*\.\.)/, 'key must not contain ".."')
  .regex(/^(?!\/)/, 'key must not start with "/"')
  .meta({ description: 'Object key in the delta store, `<vmId>/<epoch>/<seq>-<kind>`.' });
const durationMs = z.number().min(0).max(MAX_APPLY_MS);

/** A strict message object: the envelope in wire order (v, type, vmId, epoch, seq), then `fields`. */
function message<T extends string, S extends z.core.$ZodLooseShape>(type: T, fields: S, description: string) {
  return z
    .strictObject({ v: z.literal(MESSAGE_VERSION), type: z.literal(type), vmId, epoch, seq, ...fields })
    .meta({ title: type, description });
}

/** Claim check: where a page-delta object is and how to verify it. */
export const claimCheckSchema = z
  .strictObject({
    key,
    size: byteSize.meta({ description: 'Exact object size, bytes.' }),
    sha256,
  })
  .meta({ description: 'Claim check for an object in the delta store.' });

const checkpointReady = message('checkpoint-ready', {}, 'S → P: the secondary is ready; COLO may start.');
const checkpointRequest = message(
  'checkpoint-request',
  { trigger: z.enum(['timer', 'miscompare', 'policy', 'request']) },
  'P → S: start a checkpoint.',
);
const checkpointReply = message(
  'checkpoint-reply',
  {
    appliedRounds: z
      .array(z.int().min(1).max(MAX_U32))
      .max(MAX_APPLIED_ROUNDS)
      .refine((rounds) => rounds.every((r, i) => i === 0 || r > (rounds[i - 1] as number)), {
        message: 'appliedRounds must be strictly ascending (no duplicates)',
      })
      // uniqueItems carries part of the ascending rule into the JSON Schema, which cannot state order.
      .meta({
        description: 'Background rounds of this epoch applied to the colo cache, strictly ascending.',
        uniqueItems: true,
      }),
  },
  'S → P: the SVM is stopped.',
);
const vmstateSend = message('vmstate-send', {}, 'P → S: the PVM is stopped; RAM and device state follow.');
const vmstateSize = message(
  'vmstate-size',
  { size: byteSize.meta({ description: 'Device-state length, bytes.' }) },
  'P → S: size of the device state that follows.',
);
const vmstateReceived = message('vmstate-received', {}, 'S → P: all data of the epoch is local.');
const vmstateLoaded = message(
  'vmstate-loaded',
  {
    applyMemMs: durationMs.meta({ description: 'Time spent flushing the colo cache into SVM memory, ms.' }),
    applyDevMs: durationMs.meta({ description: 'Time spent loading device state, ms.' }),
  },
  'S → P: the epoch is committed.',
);
const migrateRamBackground = message(
  'migrate-ram-background',
  { round: round.min(1).meta({ description: 'Round number within the epoch, from 1.' }) },
  'P → S: a background round follows (RAM pages only).',
);
const delta = message(
  'delta',
  {
    kind: z.enum(['background-ram', 'checkpoint-ram', 'device-state']),
    round: round.meta({ description: 'Background round number for background-ram (≥ 1), 0 otherwise.' }),
    claim: claimCheckSchema,
  },
  'P → S: a page-delta object is in the delta store (claim check).',
).refine((m) => (m.kind === 'background-ram' ? m.round >= 1 : m.round === 0), {
  message: 'round must be ≥ 1 for a background-ram delta and 0 for other kinds',
  path: ['round'],
});
const heartbeat = message(
  'heartbeat',
  {
    beat: z.int().min(0).max(Number.MAX_SAFE_INTEGER).meta({
      description:
        "The heartbeat's own number, strictly increasing per sender: its deduplication id; the receiver admits each once.",
    }),
    sentAt: z.number().min(0).max(Number.MAX_SAFE_INTEGER).meta({
      description: "When the sender made it, ms on the sender's clock (sealed: a replay keeps it).",
    }),
  },
  'P → S: liveness signal outside the COLO sequence: seq is the next unused number, and consumes none.',
);
const skip = message(
  'skip',
  {
    retired: z.literal('delta').meta({ description: 'Type of the message this one stands in for.' }),
    reason: z.string().max(200).meta({ description: 'Why the message was retired.' }),
  },
  'Either direction: this sequence number is retired (its message could not be made deliverable).',
);

/** Schema of any COLO message; its output type is exactly {@link ColoMessage}. */
export const coloMessageSchema = z
  .discriminatedUnion('type', [
    checkpointReady,
    checkpointRequest,
    checkpointReply,
    vmstateSend,
    vmstateSize,
    vmstateReceived,
    vmstateLoaded,
    migrateRamBackground,
    delta,
    heartbeat,
    skip,
  ])
  .meta({ title: 'ColoMessage', description: 'A COLO message as it crosses a channel (an SQS body).' });

/**
 * Validates an already-parsed value as a COLO message.
 * @returns A fresh object holding exactly the schema's fields.
 * @throws WireError `invalid-message` listing every problem (zod's prettified issues).
 */
export function parseMessageObject(value: unknown): ColoMessage {
  let result: ReturnType<typeof coloMessageSchema.safeParse>;
  try {
    result = coloMessageSchema.safeParse(value);
  } catch (error) {
    // Hostile values (throwing getters, proxies) must still end as a WireError.
    throw new WireError('invalid-message', `message could not be inspected: ${String(error)}`);
  }
  if (!result.success) {
    const type = describeType(value);
    throw new WireError('invalid-message', `invalid COLO message${type}:\n${z.prettifyError(result.error)}`);
  }
  return result.data;
}

/**
 * Parses a message body (JSON text). Bodies over 256 KiB of UTF-8 are rejected before parsing.
 * @throws WireError `too-large` for an oversize body, `invalid-message` for bad JSON, a key that occurs twice
 *   in one object, or a schema violation.
 */
export function parseMessage(body: string): ColoMessage {
  if (typeof body !== 'string')
    throw new WireError('invalid-message', `body is a ${typeof body}; expected a string`);
  // length counts UTF-16 units, each ≥ 1 UTF-8 byte: a cheap pre-check before the exact byte count.
  if (body.length > MAX_MESSAGE_BYTES || Buffer.byteLength(body, 'utf8') > MAX_MESSAGE_BYTES) {
    throw new WireError('too-large', `message body exceeds ${MAX_MESSAGE_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new WireError(
      'invalid-message',
      `body is not JSON: ${error instanceof Error ? error.message : error}`,
    );
  }
  const twice = duplicateKey(body);
  if (twice !== undefined) {
    throw new WireError('invalid-message', `body has the key ${JSON.stringify(twice.slice(0, 64))} twice`);
  }
  return parseMessageObject(value);
}

/**
 * Serializes a message as JSON, fields in schema order (v, type, vmId, epoch, seq, then the rest).
 * Validates first, so nothing invalid is ever sent.
 * @throws WireError `invalid-message` when `m` does not match the schema, `too-large` above 256 KiB.
 */
export function serializeMessage(m: ColoMessage): string {
  const body = JSON.stringify(parseMessageObject(m));
  if (Buffer.byteLength(body, 'utf8') > MAX_MESSAGE_BYTES) {
    throw new WireError('too-large', `serialized ${m.type} message exceeds ${MAX_MESSAGE_BYTES} bytes`);
  }
  return body;
}

/** ` (type "x")` when the value names a type, for error messages. */
function describeType(value: unknown): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return '';
  try {
    const type = (value as { type?: unknown }).type;
    return typeof type === 'string' ? ` (type ${JSON.stringify(type.slice(0, 40))})` : '';
  } catch {
    return '';
  }
}
