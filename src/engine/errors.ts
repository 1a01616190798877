/** Error codes a node reports when it rejects an input or fails. */
export type ColoErrorCode =
  | 'unexpected-message'
  | 'invalid-message'
  | 'wrong-vm'
  | 'wrong-epoch'
  | 'wrong-sequence'
  | 'invalid-delta'
  | 'claim-mismatch'
  | 'missing-object'
  | 'unauthenticated'
  | 'unsendable'
  | 'not-ram'
  | 'page-out-of-range'
  | 'page-content-mismatch'
  | 'short-read'
  | 'stale-transfer'
  | 'stale-heartbeat'
  | 'unknown-send'
  | 'send-failed'
  | 'timeout'
  | 'exited';

/** A protocol or validation error. Its message says what was found and what was expected. */
export class ColoError extends Error {
  override readonly name = 'ColoError';
  /** Machine-readable code. */
  readonly code: ColoErrorCode;
  /** Creates an error with a code and a message. */
  constructor(code: ColoErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** The error QEMU's `colo_receive_check_message` raises, in this project's words. */
export function unexpected(got: string, expected: readonly string[]): ColoError {
  return new ColoError('unexpected-message', `unexpected message ${got}, expected ${expected.join(' or ')}`);
}
