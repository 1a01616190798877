/** Value domains shared by the page-delta format and the COLO message schema. */

/** VM id: lower-case letters, digits and `-`, starting with a letter or digit, 1–63 characters. */
export const VM_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Largest epoch (fits the u32 epoch field of a page-delta object). */
export const MAX_EPOCH = 0xffff_ffff;

/** Largest value of a u32 field (page index, page version, round number). */
export const MAX_U32 = 0xffff_ffff;

/** Largest object or device-state size a message may announce, bytes (1 GiB). */
export const MAX_ANNOUNCED_BYTES = 1024 ** 3;

/** Largest page-delta object the encoder produces, bytes (1 GiB: it must fit a claim check). */
export const MAX_OBJECT_BYTES = MAX_ANNOUNCED_BYTES;

/** Largest COLO message body accepted, bytes of UTF-8 (256 KiB, well under the SQS 1 MiB cap). */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/** Largest claim-check key, characters. */
export const MAX_KEY_CHARS = 512;

/** Most entries in `checkpoint-reply.appliedRounds` (protocol vocabulary, defined by the engine). */
export { MAX_APPLIED_ROUNDS } from '../engine/protocol/messages.ts';

/** Largest apply-phase duration a `vmstate-loaded` may report, ms (one day: anything above is a bug). */
export const MAX_APPLY_MS = 86_400_000;
