/**
 * Deltas in columns. A modelled delta (payload mode `modelled`) carries page indices and versions
 * only; a background round holds up to 16 384 pages, and one `{ index, version, data }` object per page
 * (allocated by the primary, walked three times by the secondary, then collected) was most of the engine's
 * cost per page sent. The engine builds such a delta as two typed arrays instead; its `pages` array is built
 * only if something reads it (a runtime that serialises the delta, a test, a fault hook).
 *
 * A materialised delta decoded from its object is kept in columns the same way (the page bytes stay in the
 * object's payload section; {@link columnarRamDelta}), so that the secondary verifies and stages its pages
 * without a page object and a view per page.
 *
 * The columns are trusted only while `pages` has never been read: once it has, anything may have changed
 * the array, so the engine reads the array like any other delta's. A copy of the delta (spread, clone)
 * has no columns.
 */
import type { ZeroClassTable } from '../memory/page-content.ts';
import { type DeltaPage, PAGE_SIZE, type PageDelta } from './delta.ts';

/** Page indices and versions of a delta, in the delta's page order. */
export interface PageColumns {
  /** Page indices, ascending. */
  index: Uint32Array;
  /** Page versions, one per index. */
  version: Uint32Array;
  /**
   * The zero pages among them as the builder counted them with `classes`: a reader holding the same table
   * (the same seed, mix and guest) gets the same count without classing every page again.
   */
  zeroPages?: { classes: ZeroClassTable; count: number };
  /**
   * A materialised delta's page bytes: which pages are zero pages, and the other pages' 4096 bytes back to
   * back in page order (a view into the decoded object). Absent for a modelled delta.
   */
  bytes?: PageColumnBytes;
}

/** The page bytes of a materialised delta in columns. */
export interface PageColumnBytes {
  /** 1 where the page is a zero page (no bytes in `payload`), else 0; one per index. */
  zero: Uint8Array;
  /** The non-zero pages' bytes, {@link PAGE_SIZE} each, in page order: exactly their total size. */
  payload: Uint8Array;
}

const pristine = new WeakMap<PageDelta, PageColumns>();

/**
 * A delta of `header` in `columns` whose `pages` array is built by `build` on first read (after which the
 * columns are no longer trusted: {@link pristineColumns}); `modelled` marks a modelled delta.
 */
function lazyPages(
  header: Pick<PageDelta, 'vmId' | 'epoch' | 'seq' | 'kind'>,
  columns: PageColumns,
  modelled: boolean,
  build: () => DeltaPage[],
): PageDelta {
  let built: DeltaPage[] | undefined;
  // Keys in the same order as any other delta's; redefining `pages` keeps its place.
  const delta: PageDelta = {
    vmId: header.vmId,
    epoch: header.epoch,
    seq: header.seq,
    kind: header.kind,
    pages: [],
    blob: new Uint8Array(0),
    ...(modelled ? { modelled: true } : {}),
  };
  Object.defineProperty(delta, 'pages', {
    enumerable: true,
    configurable: true,
    get(): DeltaPage[] {
      if (built === undefined) {
        pristine.delete(delta);
        built = build();
      }
      return built;
    },
    set(value: DeltaPage[]) {
      pristine.delete(delta);
      built = value;
    },
  });
  pristine.set(delta, columns);
  return delta;
}

/**
 * A modelled delta (`modelled: true`, empty blob) of `columns`; its `pages` (all `data: null`) are built on
 * first read.
 */
export function columnarModelledDelta(
  header: Pick<PageDelta, 'vmId' | 'epoch' | 'seq' | 'kind'>,
  columns: PageColumns,
): PageDelta {
  return lazyPages(header, columns, true, () => {
    const { index, version } = columns;
    const pages: DeltaPage[] = new Array(index.length);
    for (let i = 0; i < index.length; i++) {
      pages[i] = { index: index[i] as number, version: version[i] as number, data: null };
    }
    return pages;
  });
}

/**
 * A materialised RAM delta (as decoded from its object) of `columns`, whose `bytes` give the page bytes; its
 * `pages` (zero pages `data: null`, the others views into `columns.bytes.payload`) are built on first read.
 */
export function columnarRamDelta(
  header: Pick<PageDelta, 'vmId' | 'epoch' | 'seq' | 'kind'>,
  columns: PageColumns & { bytes: PageColumnBytes },
): PageDelta {
  return lazyPages(header, columns, false, () => {
    const { index, version } = columns;
    const { zero, payload } = columns.bytes;
    const pages: DeltaPage[] = new Array(index.length);
    for (let i = 0, at = 0; i < index.length; i++) {
      let data: Uint8Array | null = null;
      if (zero[i] === 0) {
        data = new Uint8Array(payload.buffer, payload.byteOffset + at, PAGE_SIZE);
        at += PAGE_SIZE;
      }
      pages[i] = { index: index[i] as number, version: version[i] as number, data };
    }
    return pages;
  });
}

/**
 * The columns of a delta made by {@link columnarModelledDelta} or {@link columnarRamDelta} whose `pages`
 * were never read, else undefined.
 */
export function pristineColumns(delta: PageDelta): PageColumns | undefined {
  return pristine.get(delta);
}
