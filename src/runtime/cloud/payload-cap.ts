/**
 * How much of a claimed delta object the secondary reads, and what an object over that becomes: a
 * rejection of the message, never a retry (an object that does not fit its claim never will).
 */
import { ColoError } from '../../engine/errors.ts';
import type { ColoParams } from '../../engine/params.ts';
import type { ObjectTooLargeError } from '../../engine/ports.ts';
import type { ClaimCheck } from '../../engine/protocol/messages.ts';

/**
 * Largest object to read for `claim`, bytes. A real object must be exactly `claim.size`; a modelled one
 * (payload mode `modelled`) is a container whose size the claim does not state (the claim holds the
 * modelled wire size), so it is held to `params.maxObjectBytes` instead.
 */
export function payloadCap(params: ColoParams, claim: ClaimCheck): number {
  return params.payload === 'modelled' ? params.maxObjectBytes : claim.size;
}

/**
 * The engine's rejection of an object the store refused unread: `claim-mismatch` for a real object
 * (larger than its claim), `invalid-delta` for a modelled one (larger than `maxObjectBytes`).
 */
export function refusedPayload(params: ColoParams, claim: ClaimCheck, error: ObjectTooLargeError): ColoError {
  const size = `${error.exact ? error.sizeBytes : `more than ${error.maxBytes}`} bytes`;
  return params.payload === 'modelled'
    ? new ColoError(
        'invalid-delta',
        `object ${claim.key} is ${size}, over maxObjectBytes ${error.maxBytes}; refused unread`,
      )
    : new ColoError('claim-mismatch', `object is ${size}, claim says ${claim.size}; refused unread`);
}
