import { createHash } from 'node:crypto';
import { digestTrackerOf } from './digest-tracker.ts';
import { DIGEST_LANES, imageSums, laneKeys } from './page-hash.ts';

/**
 * Format tag of a memory digest (`m2:` and 32 hex digits). Format 1 (32 hex digits, no tag) was a SHA-256 of
 * the whole version array; the two never compare equal, and readers of stored digests refuse format 1 by
 * name ({@link memoryDigestProblem}).
 */
export const MEMORY_DIGEST_TAG = 'm2:';

const DIGEST_PATTERN = /^m2:[0-9a-f]{32}$/;
const FORMAT_1_PATTERN = /^[0-9a-f]{32}$/;

/**
 * Digest of a memory image given as page versions (bit 31 marks a page last written by the SVM): a
 * consistency check between the replicas, not a security boundary (the replication key authenticates what
 * crosses; see docs/architecture.md#memory-digest).
 *
 * Page bytes are a pure function of (seed, page, version, author), so equal versions mean equal bytes; the
 * digest is a sum over pages of a seed-keyed hash of (page, version) (page-hash.ts), finished with SHA-256
 * over (seed, page count, sums). An array registered with `trackDigest` (digest-tracker.ts) costs
 * O(pages written since its last digest); any other is summed from scratch, O(pages). Both give the same
 * value, in both payload modes and both runtimes.
 */
export function memoryDigest(seed: number, versions: Uint32Array): string {
  const tracker = digestTrackerOf(versions);
  const sums =
    tracker && tracker.seed === seed ? tracker.settle(versions) : imageSums(laneKeys(seed), versions);
  return formatDigest(seed, versions.length, sums);
}

/** {@link memoryDigest} from scratch, ignoring any tracker (what tests compare the incremental digest with). */
export function memoryDigestFromScratch(seed: number, versions: Uint32Array): string {
  return formatDigest(seed, versions.length, imageSums(laneKeys(seed), versions));
}

/** {@link memoryDigest} of an image of `pages` pages all at version 0 (the initial image), O(1), no array. */
export function zeroImageDigest(seed: number, pages: number): string {
  return formatDigest(seed, pages, new Int32Array(DIGEST_LANES));
}

function formatDigest(seed: number, pages: number, sums: Int32Array): string {
  const head = new Uint32Array([seed >>> 0, pages >>> 0, Math.floor(pages / 2 ** 32)]);
  const lanes = new Int32Array(sums.subarray(0, DIGEST_LANES));
  const h = createHash('sha256').update(new Uint8Array(head.buffer)).update(new Uint8Array(lanes.buffer));
  return `${MEMORY_DIGEST_TAG}${h.digest('hex').slice(0, 32)}`;
}

/** True for a format-1 digest (32 hex digits, no tag): written by an older build, never equal to this one's. */
export function isFormat1MemoryDigest(digest: string): boolean {
  return FORMAT_1_PATTERN.test(digest);
}

/**
 * Why `digest` is not a memory digest this build can compare, or undefined when it is one. For readers of
 * digests stored by another build (state documents, metrics logs).
 */
export function memoryDigestProblem(digest: string): string | undefined {
  if (DIGEST_PATTERN.test(digest)) return undefined;
  if (isFormat1MemoryDigest(digest))
    return `memory digest ${digest} is format 1 (a whole-image SHA-256 from an older build); this build writes format 2 (${MEMORY_DIGEST_TAG}…, a sum of page hashes): finish or restart the run with one build`;
  return `memory digest ${JSON.stringify(digest.slice(0, 48))} is not ${MEMORY_DIGEST_TAG} and 32 hex digits`;
}

/** Bit set in a secondary page version when the SVM itself wrote the page. */
export const SVM_AUTHOR_BIT = 0x8000_0000;
