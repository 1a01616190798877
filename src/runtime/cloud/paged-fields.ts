/**
 * The per-page arrays of a node's engine state — the part that grows with the guest — and how they are cut
 * into fixed page ranges (chunks) for the lean state layout (lean-document.ts). Everything else in the state
 * is small and stays in the hot document.
 */
import { DirtyBitmap } from '../../engine/memory/dirty-bitmap.ts';
import { REGION_PAGES } from '../../engine/policy/adaptive.ts';

/**
 * What one element of a paged array covers: `page` (one u32 per page), `bit` (one byte of a bitmap = 8
 * pages), `region` (one u32 per {@link REGION_PAGES}-page region of the adaptive policy).
 */
export type PagedUnit = 'page' | 'bit' | 'region';

/** One per-page array of a node state. */
export interface PagedField {
  /** Name in chunks and overlays (`versions`, `regions.rate`, …). */
  name: string;
  /** What one element covers. */
  unit: PagedUnit;
  /** Path in the state object. */
  path: readonly string[];
}

/** Pages one element of `unit` covers. */
export function pagesPerElement(unit: PagedUnit): number {
  return unit === 'page' ? 1 : unit === 'bit' ? 8 : REGION_PAGES;
}

/** Elements of a `unit` array for a guest of `pages` pages. */
export function elementCount(unit: PagedUnit, pages: number): number {
  return Math.ceil(pages / pagesPerElement(unit));
}

/** The primary's paged arrays: page versions, the three bitmaps, the adaptive policy's region arrays. */
export const PRIMARY_PAGED: readonly PagedField[] = [
  { name: 'versions', unit: 'page', path: ['versions'] },
  { name: 'dirty', unit: 'bit', path: ['dirty'] },
  { name: 'bgCurrent', unit: 'bit', path: ['bgCurrent'] },
  { name: 'touched', unit: 'bit', path: ['touched'] },
  { name: 'regions.rate', unit: 'region', path: ['regions', 'rate'] },
  { name: 'regions.sweepAt', unit: 'region', path: ['regions', 'sweepAt'] },
  { name: 'regions.sweepGap', unit: 'region', path: ['regions', 'sweepGap'] },
];

/** The secondary's paged arrays: committed and running page versions, the SVM's dirty bitmap. */
export const SECONDARY_PAGED: readonly PagedField[] = [
  { name: 'committed', unit: 'page', path: ['committed'] },
  { name: 'running', unit: 'page', path: ['running'] },
  { name: 'svmDirty', unit: 'bit', path: ['svmDirty'] },
];

/** A paged array as stored: u32 elements for `page`/`region`, bytes for `bit`. */
export type PagedArray = Uint32Array | Uint8Array;

function parentOf(state: object, path: readonly string[]): Record<string, unknown> {
  let o = state as Record<string, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  return o;
}

/** The array `field` names in a (validated) state: a bitmap's bytes, or the typed array itself (no copy). */
export function readPaged(state: object, field: PagedField): PagedArray {
  const v = parentOf(state, field.path)[field.path[field.path.length - 1] as string];
  return v instanceof DirtyBitmap ? v.bits : (v as Uint32Array);
}

/**
 * A copy of `state` (plain tree) without its paged arrays, for the hot document. Shallow: only the objects
 * on a paged field's path are copied; nothing of `state` is changed.
 */
export function withoutPaged(state: object, fields: readonly PagedField[]): Record<string, unknown> {
  const root: Record<string, unknown> = { ...(state as Record<string, unknown>) };
  for (const f of fields) {
    let o = root;
    for (const k of f.path.slice(0, -1)) {
      o[k] = { ...(o[k] as Record<string, unknown>) };
      o = o[k] as Record<string, unknown>;
    }
    delete o[f.path[f.path.length - 1] as string];
  }
  return root;
}

/**
 * Puts the assembled arrays back into a decoded hot state tree (bitmaps as {@link DirtyBitmap} of `pages`
 * pages), ready for the state schema. A path whose parent is missing or not an object is left alone: the
 * schema check that follows names it.
 */
export function fillPaged(
  tree: Record<string, unknown>,
  fields: readonly PagedField[],
  arrays: ReadonlyMap<string, PagedArray>,
  pages: number,
): void {
  for (const f of fields) {
    let o: unknown = tree;
    for (const k of f.path.slice(0, -1)) o = (o as Record<string, unknown> | undefined)?.[k];
    if (typeof o !== 'object' || o === null) continue;
    const a = arrays.get(f.name) as PagedArray;
    (o as Record<string, unknown>)[f.path[f.path.length - 1] as string] =
      f.unit === 'bit' ? new DirtyBitmap(pages, a as Uint8Array) : a;
  }
}
