/**
 * Page-delta object codec: the binary, versioned format that carries page data (and device state) through
 * the delta store. Layout and checks: docs/wire-format.md.
 */
export type { DecodeLimits } from './delta-decode.ts';
export { decodeDelta } from './delta-decode.ts';
export type { EncodedDelta, EncodeOptions } from './delta-encode.ts';
export { encodeDelta, encodeDeltaWithClaim } from './delta-encode.ts';
export { encodeRamColumns } from './delta-encode-columns.ts';
export type { WireErrorCode } from './errors.ts';
export { WIRE_ERROR_CODES, WireError } from './errors.ts';
export { sha256Hex } from './sha256.ts';
