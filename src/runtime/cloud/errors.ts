/** Errors the cloud runtime throws. Each message says what was found and what was expected. */
import type { FenceOwner } from '../../engine/effects.ts';

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

/**
 * A step that is not an input (a tick, a completion, a fence) produced a message the wire schema refuses:
 * nothing of it was persisted — a state whose outbox cannot be sent could never be loaded again.
 */
export class UnsendableMessageError extends Error {
  override readonly name = 'UnsendableMessageError';
}

/**
 * A failover was requested but the secondary's state document cannot be read, so there is no committed
 * image to take over from. The fence was claimed all the same (so the primary cannot go on alone against
 * the operator's decision); `owner` says who holds it now. The VM needs an operator.
 */
export class FailoverWithoutStateError extends Error {
  override readonly name = 'FailoverWithoutStateError';
  /** Who holds the fence after the claim. */
  readonly owner: FenceOwner;

  /** Creates the error; `cause` is the {@link StateDocumentError}. */
  constructor(owner: FenceOwner, message: string, options?: ErrorOptions) {
    super(message, options);
    this.owner = owner;
  }
}

/**
 * A long perform found the VM's fence decided (`owner` holds it) before its next put or send: replication
 * has ended, so the rest of the outbox is dropped, not performed. `unsent` sends were left.
 */
export class FenceDecidedError extends Error {
  override readonly name = 'FenceDecidedError';
  /** Who holds the fence. */
  readonly owner: FenceOwner;
  /** Sends of the outbox not performed. */
  readonly unsent: number;

  /** Creates the error. */
  constructor(owner: FenceOwner, unsent: number) {
    super(`the fence is decided (${owner} owns the VM): ${unsent} send(s) dropped`);
    this.owner = owner;
    this.unsent = unsent;
  }
}
