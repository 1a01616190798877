/** The wire package's implementation of the engine's codec port (src/engine/codec.ts). */
import { ClaimMismatchError, type ColoCodec } from '../engine/codec.ts';
import { decodeDelta } from './delta-decode.ts';
import { encodeDeltaWithClaim } from './delta-encode.ts';
import { encodeRamColumns } from './delta-encode-columns.ts';
import { WireError } from './errors.ts';
import { parseMessageObject } from './message-schema.ts';

/**
 * The engine's codec: the message schema and the page-delta format. A claim-check failure (the one
 * `checksum-mismatch` without a byte offset; the trailer's has one) is reported as {@link ClaimMismatchError}.
 */
export const WIRE_CODEC: ColoCodec = {
  parseMessage: parseMessageObject,
  encodeDelta: (delta) => encodeDeltaWithClaim(delta),
  encodeRamColumns,
  decodeDelta(bytes, limits) {
    try {
      return decodeDelta(bytes, limits);
    } catch (e) {
      if (e instanceof WireError && e.code === 'checksum-mismatch' && e.offset === undefined) {
        throw new ClaimMismatchError(e.message, { cause: e });
      }
      throw e;
    }
  },
};
