import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { DirtyBitmap } from '../../../src/engine/memory/dirty-bitmap.ts';
import { PageVersionMap } from '../../../src/engine/memory/page-version-map.ts';
import { DEFAULT_PARAMS, pageCount } from '../../../src/engine/params.ts';
import type { PrimaryState } from '../../../src/engine/primary/state.ts';
import { createPrimary } from '../../../src/engine/primary/state.ts';
import type { SecondaryState } from '../../../src/engine/secondary/state.ts';
import { createSecondary } from '../../../src/engine/secondary/state.ts';
import {
  decodePrimaryState,
  decodeSecondaryState,
  encodePrimaryState,
  encodeSecondaryState,
  StateDocumentError,
} from '../../../src/runtime/cloud/index.ts';
import { runEmbedded } from '../../../src/runtime/embedded/run.ts';
import { testParams } from '../../helpers/engine.ts';

/** Snapshots of both states at many instants of an embedded run (background rounds, checkpoints). */
function snapshots(): { primary: PrimaryState[]; secondary: SecondaryState[] } {
  const primary: PrimaryState[] = [];
  const secondary: SecondaryState[] = [];
  let n = 0;
  runEmbedded({
    params: testParams({ secondaryMode: 'running' }),
    link: { bandwidthBytesPerSec: 50e6, latencyMs: 1 },
    durationMs: 2500,
    observe: (_at, p, s) => {
      if (n++ % 7 !== 0) return;
      primary.push(structuredClone(p));
      // structuredClone drops the colo cache's class (its entries live in private fields): copy it apart.
      secondary.push({ ...structuredClone({ ...s, cache: null }), cache: PageVersionMap.from(s.cache) });
    },
  });
  return { primary, secondary };
}

describe('state codec', () => {
  const { primary, secondary } = snapshots();

  test('the run covers transactions, rounds and a colo cache', () => {
    expect(primary.some((s) => s.txn !== null)).toBe(true);
    expect(primary.some((s) => s.rounds.length > 0)).toBe(true);
    expect(secondary.some((s) => s.cache.size > 0)).toBe(true);
    expect(secondary.some((s) => s.svmDirty.bits.some((b) => b !== 0))).toBe(true);
  });

  test('primary states round-trip exactly (NaN, ∞, bitmaps, rounds, transaction)', () => {
    const pages = pageCount(testParams());
    for (const s of primary) {
      const state = { ...s, dirty: fix(s.dirty), bgCurrent: fix(s.bgCurrent), touched: fix(s.touched) };
      const bytes = encodePrimaryState(state);
      const back = decodePrimaryState(bytes, pages);
      expect(back).toEqual(state);
      expect(Buffer.from(encodePrimaryState(back)).equals(bytes)).toBe(true);
      expect(back.dirty.count).toBe(state.dirty.count);
    }
  });

  test('secondary states round-trip exactly (cache map, running memory with the SVM bit)', () => {
    for (const s of secondary) {
      const state = { ...s, svmDirty: fix(s.svmDirty) };
      const bytes = encodeSecondaryState(state);
      const back = decodeSecondaryState(bytes);
      expect(back).toEqual(state);
      expect(Buffer.from(encodeSecondaryState(back)).equals(bytes)).toBe(true);
      expect(back.cache).toBeInstanceOf(PageVersionMap);
      expect([...back.cache]).toEqual([...state.cache]);
    }
  });

  test('a transaction digest of format 1 (an older build) is refused by name', () => {
    const s = primary.find((x) => x.txn?.digest);
    expect(s?.txn?.digest.startsWith('m2:')).toBe(true);
    const old = { ...(s as PrimaryState), txn: { ...(s?.txn as NonNullable<PrimaryState['txn']>) } };
    old.txn.digest = '0123456789abcdef0123456789abcdef';
    const bytes = encodePrimaryState(old);
    expect(() => decodePrimaryState(bytes, pageCount(testParams()))).toThrow(StateDocumentError);
    expect(() => decodePrimaryState(bytes, pageCount(testParams()))).toThrow(/format 1 .*older build/);
  });

  test('a fresh 1 GiB guest encodes compactly (page arrays deflated)', () => {
    const params = { ...DEFAULT_PARAMS, guestBytes: 1024 ** 3 };
    const bytes = encodePrimaryState(createPrimary(params, 5));
    expect(bytes.byteLength).toBeLessThan(16 * 1024);
    expect(decodePrimaryState(bytes, pageCount(params)).versions.length).toBe(262_144);
    const sec = encodeSecondaryState(createSecondary(params, 5));
    expect(sec.byteLength).toBeLessThan(16 * 1024);
  });

  test('random page versions stay at about 4 bytes a page', () => {
    const params = { ...DEFAULT_PARAMS, guestBytes: 64 * 1024 * 1024 };
    const s = createPrimary(params, 0);
    for (let i = 0; i < s.versions.length; i++) s.versions[i] = (i * 2_654_435_761) >>> 1;
    const bytes = encodePrimaryState(s);
    expect(bytes.byteLength).toBeLessThan(s.versions.byteLength + 8 * 1024);
  });
});

describe('state codec rejects bad bytes with a clear error', () => {
  const params = testParams();
  const good = encodePrimaryState(createPrimary(params, 0));

  function reseal(bytes: Uint8Array): Uint8Array {
    const out = Buffer.from(bytes);
    createHash('sha256')
      .update(out.subarray(0, out.length - 32))
      .digest()
      .copy(out, out.length - 32);
    return out;
  }

  test('a flipped bit', () => {
    const bad = Buffer.from(good);
    bad[40] = (bad[40] as number) ^ 1;
    expect(() => decodePrimaryState(bad)).toThrow(/SHA-256 trailer does not match/);
  });

  test('truncation', () => {
    expect(() => decodePrimaryState(good.subarray(0, 20))).toThrow(/too short/);
    expect(() => decodePrimaryState(good.subarray(0, good.length - 1))).toThrow(StateDocumentError);
  });

  test('another magic, version or kind', () => {
    const magic = Buffer.from(good);
    magic[0] = 0x58;
    expect(() => decodePrimaryState(reseal(magic))).toThrow(/magic is 0x58/);
    const version = Buffer.from(good);
    version[4] = 2;
    expect(() => decodePrimaryState(reseal(version))).toThrow(
      /format version 2; this runtime reads version 1/,
    );
    expect(() => decodeSecondaryState(good)).toThrow(
      /holds a primary-state document; expected secondary-state/,
    );
  });

  test('an unknown or missing field', () => {
    const extra = { ...createPrimary(params, 0), shiny: 1 };
    expect(() => decodePrimaryState(encodePrimaryState(extra))).toThrow(/shiny/);
    const { epoch: _epoch, ...missing } = createPrimary(params, 0);
    expect(() => decodePrimaryState(encodePrimaryState(missing as PrimaryState))).toThrow(/epoch/);
  });

  test('the adaptive model round-trips with its rate scale', () => {
    const s = createPrimary(params, 0);
    s.regions.rate.forEach((_, r) => {
      s.regions.rate[r] = 1000 + r * 7;
    });
    s.regions.rateScale = 0.625;
    s.regions.samples = 3;
    const back = decodePrimaryState(encodePrimaryState(s), pageCount(params));
    expect(back.regions.rateScale).toBe(0.625);
    expect(back.regions).toEqual(s.regions);
  });

  test('a state saved before the rate scale existed loads with a scale of 1 (its rates are true rates)', () => {
    const s = createPrimary(params, 0);
    s.regions.rate[0] = 1234;
    const { rateScale: _scale, ...older } = s.regions;
    const back = decodePrimaryState(
      encodePrimaryState({ ...s, regions: older as PrimaryState['regions'] }),
      pageCount(params),
    );
    expect(back.regions.rateScale).toBe(1);
    expect(back.regions.rate[0]).toBe(1234);
  });

  test('an adaptive model with its rate scale out of range, or its rates of another length', () => {
    for (const bad of [0, -0.5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const s = createPrimary(params, 0);
      s.regions.rateScale = bad;
      expect(() => decodePrimaryState(encodePrimaryState(s), pageCount(params))).toThrow(
        /rate scale must be a number in \(0, 1\].* at regions\.rateScale/,
      );
    }
    const s = createPrimary(params, 0);
    s.regions.rate = new Uint32Array(s.regions.rate.length + 1);
    expect(() => decodePrimaryState(encodePrimaryState(s), pageCount(params))).toThrow(
      /regions\.rate covers 5 regions/,
    );
  });

  test('a guest of another size', () => {
    expect(() => decodePrimaryState(good, 512)).toThrow(
      /does not fit a guest of 512 pages: versions has 256 pages/,
    );
  });
});

/** structuredClone drops the DirtyBitmap prototype; rebuild it so the codec sees the real class. */
function fix(b: { bits: Uint8Array; size: number }): DirtyBitmap {
  return new DirtyBitmap(b.size, Uint8Array.from(b.bits));
}
