/**
 * Node state ↔ bytes: {@link PrimaryState} and {@link SecondaryState} in a versioned, checksummed
 * container (see container.ts): page versions and bitmaps as (deflated) binary blobs, the colo cache as two
 * u32 arrays, everything else as JSON. Decoding validates the whole shape and the guest size.
 */
import type { z } from 'zod';
import { PageVersionMap } from '../../engine/memory/page-version-map.ts';
import type { PrimaryState } from '../../engine/primary/state.ts';
import type { SecondaryState } from '../../engine/secondary/state.ts';
import { decodeContainer, encodeContainer } from './container.ts';
import { StateDocumentError } from './errors.ts';
import {
  primaryShapeProblems,
  primaryStateSchema,
  secondaryShapeProblems,
  secondaryStateSchema,
} from './state-schema.ts';
import { prettify } from './zod-errors.ts';

/** Encodes a primary state (format: container kind `primary-state`). */
export function encodePrimaryState(state: PrimaryState): Uint8Array {
  return encodeContainer('primary-state', state);
}

/** Encodes a secondary state (format: container kind `secondary-state`). */
export function encodeSecondaryState(state: SecondaryState): Uint8Array {
  return encodeContainer('secondary-state', state);
}

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new StateDocumentError(`${what}: ${prettify(r.error)}`);
  return r.data;
}

/**
 * Decodes a primary state.
 *
 * @param pages - Expected guest size, pages (checked when given).
 * @param what - Names the bytes in error messages.
 * @throws StateDocumentError when the bytes are corrupt, of another version or kind, or do not fit.
 */
export function decodePrimaryState(bytes: Uint8Array, pages?: number, what = 'primary state'): PrimaryState {
  return checkPrimaryState(decodeContainer(bytes, 'primary-state', what), pages, what);
}

/**
 * Decodes a secondary state.
 *
 * @param pages - Expected guest size, pages (checked when given).
 * @param what - Names the bytes in error messages.
 * @throws StateDocumentError when the bytes are corrupt, of another version or kind, or do not fit.
 */
export function decodeSecondaryState(
  bytes: Uint8Array,
  pages?: number,
  what = 'secondary state',
): SecondaryState {
  return checkSecondaryState(decodeContainer(bytes, 'secondary-state', what), pages, what);
}

/** Validates a decoded tree as a primary state of `pages` pages. @throws StateDocumentError */
export function checkPrimaryState(value: unknown, pages: number | undefined, what: string): PrimaryState {
  const s = check(primaryStateSchema, value, what);
  const problems = primaryShapeProblems(s, pages ?? s.versions.length);
  if (problems.length > 0) {
    throw new StateDocumentError(
      `${what}: does not fit a guest of ${pages ?? s.versions.length} pages: ${problems.join('; ')}`,
    );
  }
  return s;
}

/** Validates a decoded tree as a secondary state of `pages` pages. @throws StateDocumentError */
export function checkSecondaryState(value: unknown, pages: number | undefined, what: string): SecondaryState {
  const s = check(secondaryStateSchema, value, what);
  const problems = secondaryShapeProblems(s, pages ?? s.committed.length);
  if (problems.length > 0) {
    throw new StateDocumentError(
      `${what}: does not fit a guest of ${pages ?? s.committed.length} pages: ${problems.join('; ')}`,
    );
  }
  // Every page of the cache fits the guest now (checked above).
  const cache = s.cache instanceof PageVersionMap ? s.cache : PageVersionMap.from(s.cache);
  return { ...s, cache };
}
