/**
 * The codec port: what the engine needs from the wire format — parse an inbound COLO message, encode a
 * page delta into its object, decode (and claim-check) an object. The engine never imports the wire
 * package; the wire package implements this port (`WIRE_CODEC` in src/wire/engine-codec.ts) and each
 * runtime installs it with {@link installCodec} before it steps the engine.
 *
 * The codec is installed, not carried in {@link ColoParams}: parameters are plain data (spread, compared,
 * cloned to worker threads, written to reports), and there is exactly one wire format.
 */
import type { PageDelta } from './protocol/delta.ts';
import type { ColoMessage } from './protocol/messages.ts';

/** Limits and the claim a page-delta object is decoded against. */
export interface DeltaDecodeLimits {
  /** Largest acceptable object, bytes. */
  maxObjectBytes: number;
  /** Guest size in pages: every page index must be below it. */
  pageCount?: number;
  /** Claim-check SHA-256 of the whole object (64 lower-case hex digits), from the `delta` message. */
  expectedSha256?: string;
}

/** An encoded page-delta object and the SHA-256 its claim check names. */
export interface EncodedDeltaObject {
  /** The object's bytes. */
  bytes: Uint8Array;
  /** SHA-256 of the bytes, 64 lower-case hex digits. */
  sha256: string;
}

/**
 * A RAM delta in columns whose page bytes are written by the encoder's caller straight into the object: no
 * page array, no scratch copy. The non-zero pages' bytes lie back to back in page order in the object's
 * payload section, which {@link RamDeltaColumns.fill} writes run by run.
 */
export interface RamDeltaColumns {
  /** VM the data belongs to. */
  vmId: string;
  /** Epoch. */
  epoch: number;
  /** Sequence number of the `delta` message that announces it. */
  seq: number;
  /** What it carries. */
  kind: 'background-ram' | 'checkpoint-ram';
  /** Page indices, strictly ascending. */
  index: Uint32Array;
  /** Page versions, one per index. */
  version: Uint32Array;
  /** 1 where the page is a zero page (stored as a flag, no bytes), else 0; one per index. */
  zero: Uint8Array;
  /**
   * Writes the 4096 bytes of non-zero pages `first`, `first + 1`, … (counted among the non-zero pages, in
   * page order) back to back into `payload`, which holds exactly as many pages. The encoder calls it for
   * consecutive runs of pages, in order, until every non-zero page is written (once each); every byte must
   * be written: the object's memory is not zeroed. `payload` starts at a 4-byte aligned offset of its buffer.
   */
  fill(payload: Uint8Array, first: number): void;
}

/** The object's bytes do not hash to the SHA-256 its claim check names (the codec's one claim failure). */
export class ClaimMismatchError extends Error {
  override readonly name = 'ClaimMismatchError';
}

/** The wire format as the engine sees it. Every method throws on input it refuses. */
export interface ColoCodec {
  /** Validates an inbound message against the message schema (strict) and returns it typed. */
  parseMessage(raw: unknown): ColoMessage;
  /** Encodes a materialised page delta into its object. */
  encodeDelta(delta: PageDelta): EncodedDeltaObject;
  /** Encodes a RAM delta given in columns (the same object {@link ColoCodec.encodeDelta} makes of its pages). */
  encodeRamColumns(delta: RamDeltaColumns): EncodedDeltaObject;
  /**
   * Decodes an object strictly. Throws {@link ClaimMismatchError} when the bytes do not match
   * `limits.expectedSha256`, another error for anything else refused.
   */
  decodeDelta(bytes: Uint8Array, limits: DeltaDecodeLimits): PageDelta;
}

let installed: ColoCodec | undefined;

/** Installs the codec the engine uses (idempotent; the runtimes install the wire package's). */
export function installCodec(codec: ColoCodec): void {
  installed = codec;
}

/** The installed codec; throws if no runtime installed one (a wiring bug, never an input error). */
export function codec(): ColoCodec {
  if (!installed) throw new Error('no COLO codec installed: the runtime must call installCodec(WIRE_CODEC)');
  return installed;
}
