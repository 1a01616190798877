/**
 * Errors raised by the wire layer (page-delta codec and COLO message schema).
 *
 * Every rejection of untrusted input is a {@link WireError} whose {@link WireError.code} is one of the
 * closed set {@link WIRE_ERROR_CODES}, so callers can branch on the code and tests can assert it.
 */

/** Every code a {@link WireError} can carry. Meanings are in docs/wire-format.md ("Error codes"). */
export const WIRE_ERROR_CODES = [
  'truncated',
  'trailing-bytes',
  'bad-magic',
  'unsupported-version',
  'unknown-kind',
  'kind-mismatch',
  'too-large',
  'checksum-mismatch',
  'bad-field',
  'count-mismatch',
  'unsorted-pages',
  'duplicate-page',
  'page-out-of-range',
  'bad-page-size',
  'bad-compression',
  'invalid-message',
] as const;

/**
 * Why input was rejected:
 * - `truncated`: the object ends before its header, or before the length its header declares.
 * - `trailing-bytes`: the object is longer than its header declares.
 * - `bad-magic`: the first 4 bytes are not the page-delta magic.
 * - `unsupported-version`: a format version this decoder does not know.
 * - `unknown-kind`: a kind byte outside the known kinds (or an unknown kind given to the encoder).
 * - `kind-mismatch`: the object's kind differs from the kind the caller expected.
 * - `too-large`: the object (or message body) exceeds the caller's size limit.
 * - `checksum-mismatch`: the claim-check SHA-256 or the object's own SHA-256 trailer does not match.
 * - `bad-field`: a header or table field holds a value outside its domain.
 * - `count-mismatch`: counts and section sizes disagree with each other or with the kind.
 * - `unsorted-pages`: a page index is smaller than one listed before it.
 * - `duplicate-page`: a page index is listed twice.
 * - `page-out-of-range`: a page index is not below the guest size in pages.
 * - `bad-page-size`: a page is not exactly 4096 bytes (stored or after decompression).
 * - `bad-compression`: a compressed page is not one valid raw-deflate stream.
 * - `invalid-message`: a COLO message body is not JSON or does not match the schema.
 */
export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

/** A rejection of wire input (or of encoder input) with a machine-readable code. */
export class WireError extends Error {
  /** What kind of problem was found. */
  readonly code: WireErrorCode;
  /** Byte offset in the object where the problem was found, when it has one. */
  readonly offset: number | undefined;

  /**
   * @param code - What kind of problem was found.
   * @param message - What was found and what was expected.
   * @param offset - Byte offset of the offending field, if any.
   */
  constructor(code: WireErrorCode, message: string, offset?: number) {
    super(offset === undefined ? `${code}: ${message}` : `${code} at byte ${offset}: ${message}`);
    this.name = 'WireError';
    this.code = code;
    this.offset = offset;
  }
}
