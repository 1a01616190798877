import { ClaimMismatchError, codec } from '../codec.ts';
import { ColoError, unexpected } from '../errors.ts';
import {
  firstMismatchingPage,
  isRandomPage,
  pageMatches,
  pagePairMatches,
  zeroClasses,
} from '../memory/page-content.ts';
import type { ColoParams } from '../params.ts';
import type { DeltaPage, PageDelta } from '../protocol/delta.ts';
import type { DeltaKind, DeltaMessage } from '../protocol/messages.ts';
import { type PageColumnBytes, type PageColumns, pristineColumns } from '../protocol/page-columns.ts';
import { deviceStateBytes } from '../transfer/device-state.ts';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The secondary's validation of page data. Everything is checked before anything is applied, so a
 * rejected delta changes nothing: claim check (size, SHA-256), strict decode, header against the message,
 * kind (a background transfer may carry RAM pages only), page range, and every page's bytes against the
 * bytes the primary must have sent for that (page, version).
 */
export function validateDelta(
  params: ColoParams,
  pageCount: number,
  msg: DeltaMessage,
  payload: Uint8Array | PageDelta | ColoError | undefined,
  expectedKind: DeltaKind,
  deviceSize: number,
): PageDelta | ColoError {
  if (msg.kind !== expectedKind) {
    return expectedKind === 'background-ram'
      ? new ColoError('not-ram', `background transfer carries ${msg.kind}; only RAM pages are accepted`)
      : unexpected(`delta(${msg.kind})`, [`delta(${expectedKind})`]);
  }
  if (payload === undefined) return new ColoError('invalid-delta', `delta ${msg.claim.key} has no payload`);
  // The runtime refused the object unread (e.g. larger than the claim): its reason is the rejection.
  if (payload instanceof ColoError) return payload;
  let delta: PageDelta;
  if (payload instanceof Uint8Array) {
    if (payload.byteLength !== msg.claim.size) {
      return new ColoError(
        'claim-mismatch',
        `object is ${payload.byteLength} bytes, claim says ${msg.claim.size}`,
      );
    }
    // One SHA-256 pass: the decoder checks the claim and the trailer from the same hash state.
    const claimed = params.payload === 'materialised';
    if (claimed && !SHA256_HEX.test(msg.claim.sha256)) {
      return new ColoError('claim-mismatch', `the claim's SHA-256 ${msg.claim.sha256} is not 64 hex digits`);
    }
    try {
      delta = codec().decodeDelta(payload, {
        maxObjectBytes: params.maxObjectBytes,
        pageCount,
        ...(claimed ? { expectedSha256: msg.claim.sha256 } : {}),
      });
    } catch (e) {
      if (e instanceof ClaimMismatchError) {
        return new ColoError('claim-mismatch', e.message);
      }
      return new ColoError('invalid-delta', e instanceof Error ? e.message : String(e));
    }
  } else {
    if (params.payload !== 'modelled' || payload.modelled !== true) {
      return new ColoError('invalid-delta', 'modelled payload offered to a materialised secondary');
    }
    delta = payload;
  }
  if (delta.kind !== expectedKind) {
    return expectedKind === 'background-ram'
      ? new ColoError(
          'not-ram',
          `background transfer object holds ${delta.kind}; only RAM pages are accepted`,
        )
      : new ColoError('invalid-delta', `object holds ${delta.kind}, message says ${msg.kind}`);
  }
  if (delta.vmId !== msg.vmId || delta.epoch !== msg.epoch || delta.seq !== msg.seq) {
    return new ColoError(
      'invalid-delta',
      `object header ${delta.vmId}/${delta.epoch}/${delta.seq} does not match message ${msg.vmId}/${msg.epoch}/${msg.seq}`,
    );
  }
  if (delta.kind === 'device-state') return checkDevice(params, delta, deviceSize);
  return checkPages(params, pageCount, delta);
}

function checkDevice(params: ColoParams, delta: PageDelta, size: number): PageDelta | ColoError {
  if (delta.pages.length > 0) return new ColoError('invalid-delta', 'device-state object carries RAM pages');
  if (delta.modelled) return delta;
  if (delta.blob.byteLength !== size) {
    return new ColoError(
      'short-read',
      `device state is ${delta.blob.byteLength} bytes, vmstate-size said ${size}`,
    );
  }
  const want = deviceStateBytes(params.seed, delta.epoch, size);
  if (Buffer.compare(Buffer.from(delta.blob.buffer, delta.blob.byteOffset, size), want) !== 0) {
    return new ColoError(
      'page-content-mismatch',
      `device state of epoch ${delta.epoch} differs from what was saved`,
    );
  }
  return delta;
}

/**
 * {@link checkPages} of a modelled delta in columns: every index in the guest, strictly ascending. The
 * error is built outside the loop: building it inline made the loop ten times slower.
 */
function checkColumns(pageCount: number, columns: PageColumns): ColoError | undefined {
  const { index } = columns;
  const n = index.length;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const page = index[i] as number;
    if (page >= pageCount || page <= prev) return misplaced(page, pageCount);
    prev = page;
  }
  return undefined;
}

/** Why `page` (out of range, or not above the page before it) cannot be where it is. */
function misplaced(page: number, pageCount: number): ColoError {
  return page >= pageCount
    ? new ColoError('page-out-of-range', `page ${page} is outside the guest (0..${pageCount - 1})`)
    : new ColoError('invalid-delta', `page ${page} is out of order`);
}

/**
 * {@link checkPages} of a materialised delta in columns (as decoded): the same checks and the same first
 * error in page order — every index in the guest and strictly ascending, zero pages exactly where the
 * (seed, page, version) says, every other page's bytes as the PVM wrote them — with the page bytes verified
 * in one batch ({@link firstMismatchingPage}) up to the first page that fails the other checks.
 */
function checkByteColumns(
  params: ColoParams,
  pageCount: number,
  columns: PageColumns,
  bytes: PageColumnBytes,
): ColoError | undefined {
  const { index, version } = columns;
  const { zero } = bytes;
  const zeroes = zeroClasses(params);
  const n = index.length;
  let end = n;
  let error: ColoError | undefined;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const page = index[i] as number;
    if (page >= pageCount || page <= prev) {
      error = misplaced(page, pageCount);
      end = i;
      break;
    }
    prev = page;
    const v = version[i] as number;
    const shouldBeZero = zeroes.isZero(page, v);
    if (shouldBeZero !== (zero[i] !== 0)) {
      error = new ColoError(
        'page-content-mismatch',
        `page ${page} v${v} should ${shouldBeZero ? '' : 'not '}be a zero page`,
      );
      end = i;
      break;
    }
  }
  const bad = firstMismatchingPage(bytes.payload, index, version, zero, end, zeroes);
  if (bad >= 0) {
    return new ColoError('page-content-mismatch', `page ${index[bad]} v${version[bad]} bytes differ`);
  }
  return error;
}

function checkPages(params: ColoParams, pageCount: number, delta: PageDelta): PageDelta | ColoError {
  if (delta.blob.byteLength > 0) return new ColoError('not-ram', 'RAM delta carries device-state bytes');
  const columns = pristineColumns(delta);
  if (columns && delta.modelled) return checkColumns(pageCount, columns) ?? delta;
  if (columns?.bytes && !delta.modelled)
    return checkByteColumns(params, pageCount, columns, columns.bytes) ?? delta;
  let prev = -1;
  const zeroes = zeroClasses(params);
  const { seed, contentMix } = params;
  // The expected bytes are generated and compared word by word, never materialised. Random pages are checked
  // two at a time (pagePairMatches): one waits, `held`, for the next. The first error in page order is the
  // one reported, as if every page were checked as it comes: a held page is checked before any later error.
  let held: DeltaPage | undefined;
  const mismatch = (page: DeltaPage) =>
    new ColoError('page-content-mismatch', `page ${page.index} v${page.version} bytes differ`);
  const checkHeld = (): ColoError | undefined => {
    const page = held;
    held = undefined;
    if (!page?.data || pageMatches(page.data, seed, page.index, page.version, contentMix)) return undefined;
    return mismatch(page);
  };
  for (const page of delta.pages) {
    if (!Number.isInteger(page.index) || page.index < 0 || page.index >= pageCount) {
      return (
        checkHeld() ??
        new ColoError('page-out-of-range', `page ${page.index} is outside the guest (0..${pageCount - 1})`)
      );
    }
    if (page.index <= prev)
      return checkHeld() ?? new ColoError('invalid-delta', `page ${page.index} is out of order`);
    prev = page.index;
    if (delta.modelled) continue;
    const zero = zeroes.isZero(page.index, page.version);
    if (zero !== (page.data === null)) {
      return (
        checkHeld() ??
        new ColoError(
          'page-content-mismatch',
          `page ${page.index} v${page.version} should ${zero ? '' : 'not '}be a zero page`,
        )
      );
    }
    const data = page.data;
    if (!data) continue;
    if (!isRandomPage(seed, page.index, page.version, contentMix)) {
      if (!pageMatches(data, seed, page.index, page.version, contentMix))
        return checkHeld() ?? mismatch(page);
      continue;
    }
    const first = held;
    if (!first?.data) {
      held = page;
      continue;
    }
    held = undefined;
    if (
      !pagePairMatches(
        first.data,
        first.index,
        first.version,
        data,
        page.index,
        page.version,
        seed,
        contentMix,
      )
    ) {
      return pageMatches(first.data, seed, first.index, first.version, contentMix)
        ? mismatch(page)
        : mismatch(first);
    }
  }
  return checkHeld() ?? delta;
}
