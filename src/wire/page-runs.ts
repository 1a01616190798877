/**
 * The run table: sorted page indices stored as runs of consecutive pages, each run a pair of varints
 * (first page index, run length). Dirty pages cluster, so runs are far smaller than one index per page;
 * absolute starts (rather than gaps) keep every index check local and make disorder detectable.
 */
import { WireError } from './errors.ts';
import { MAX_U32 } from './limits.ts';
import { readVarint, varintLength, writeVarint } from './varint.ts';

/** Runs of consecutive page indices. */
export interface PageRuns {
  /** First page index of each run, increasing, never adjacent to the previous run's end. */
  starts: number[];
  /** Pages in each run (≥ 1). */
  lengths: number[];
  /** Size of the encoded run table, bytes. */
  tableBytes: number;
}

/** Groups strictly increasing u32 page indices into runs. The caller has checked order and range. */
export function toRuns(indices: ArrayLike<number>): PageRuns {
  const starts: number[] = [];
  const lengths: number[] = [];
  let tableBytes = 0;
  let i = 0;
  while (i < indices.length) {
    const start = indices[i] as number;
    let length = 1;
    while (i + length < indices.length && indices[i + length] === start + length) length++;
    starts.push(start);
    lengths.push(length);
    tableBytes += varintLength(start) + varintLength(length);
    i += length;
  }
  return { starts, lengths, tableBytes };
}

/** Writes the run table at `offset`; returns the offset after it. */
export function writeRuns(out: Uint8Array, offset: number, runs: PageRuns): number {
  let at = offset;
  for (let r = 0; r < runs.starts.length; r++) {
    at = writeVarint(out, at, runs.starts[r] as number);
    at = writeVarint(out, at, runs.lengths[r] as number);
  }
  return at;
}

/**
 * Decodes the run table in `bytes[offset, end)` into exactly `pageCount` page indices.
 * Work and memory are bounded by `pageCount`, which the caller has already bounded by the object size.
 * @param pageLimit - Indices must be below this (guest size in pages; 2^32 when unknown).
 * @throws WireError `bad-field`, `unsorted-pages`, `duplicate-page`, `page-out-of-range` or `count-mismatch`.
 */
export function readRuns(
  bytes: Uint8Array,
  offset: number,
  end: number,
  pageCount: number,
  pageLimit: number,
): Uint32Array {
  const indices = new Uint32Array(pageCount);
  let filled = 0;
  let prevStart = -1;
  let prevLast = -1;
  let at = offset;
  while (at < end) {
    const runAt = at;
    const start = readVarint(bytes, at, end, 'run start');
    const length = readVarint(bytes, start.next, end, 'run length');
    at = length.next;
    const first = start.value;
    const count = length.value;
    if (count === 0)
      throw new WireError('bad-field', `run at page ${first} has length 0; expected ≥ 1`, runAt);
    if (prevLast >= 0 && first <= prevLast) {
      throw first >= prevStart
        ? new WireError(
            'duplicate-page',
            `page ${first} is listed twice (already in run ${prevStart}–${prevLast})`,
            runAt,
          )
        : new WireError(
            'unsorted-pages',
            `run starts at page ${first}, after page ${prevLast}; runs must increase`,
            runAt,
          );
    }
    if (prevLast >= 0 && first === prevLast + 1) {
      throw new WireError(
        'bad-field',
        `run at page ${first} continues the previous run; adjacent runs must be merged`,
        runAt,
      );
    }
    const last = first + count - 1;
    if (last >= pageLimit || last > MAX_U32) {
      throw new WireError(
        'page-out-of-range',
        `run ${first}–${last} reaches past the guest's ${pageLimit} pages`,
        runAt,
      );
    }
    if (filled + count > pageCount) {
      throw new WireError(
        'count-mismatch',
        `run table lists more than the ${pageCount} pages the header declares`,
        runAt,
      );
    }
    for (let k = 0; k < count; k++) indices[filled + k] = first + k;
    filled += count;
    prevStart = first;
    prevLast = last;
  }
  if (filled !== pageCount) {
    throw new WireError(
      'count-mismatch',
      `run table lists ${filled} pages; header declares ${pageCount}`,
      offset,
    );
  }
  return indices;
}
