/** Errors the cloud runtime throws. Each message says what was found and what was expected. */

/** A state or log document could not be decoded: corrupt, truncated, of another version, or for other params. */
export class StateDocumentError extends Error {
  override readonly name = 'StateDocumentError';
}

/** Compare-and-swap kept losing: another writer changed the document on every attempt. */
export class CasExhaustedError extends Error {
  override readonly name = 'CasExhaustedError';
  /** Attempts made. */
  readonly attempts: number;

  /** Creates the error for the document at `key` after `attempts` lost compare-and-swaps. */
  constructor(key: string, attempts: number, options?: ErrorOptions) {
    super(`state document ${key}: compare-and-swap lost ${attempts} times in a row; giving up`, options);
    this.attempts = attempts;
  }
}

/** A replayed outbox entry could not be rebuilt into the exact object its message claims (a bug). */
export class OutboxRebuildError extends Error {
  override readonly name = 'OutboxRebuildError';
}
