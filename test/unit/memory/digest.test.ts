/** The memory digest (format 2): what it detects, its incremental form, its format checks. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isFormat1MemoryDigest,
  MEMORY_DIGEST_TAG,
  memoryDigest,
  memoryDigestFromScratch,
  memoryDigestProblem,
  SVM_AUTHOR_BIT,
  zeroImageDigest,
} from '../../../src/engine/memory/digest.ts';
import {
  DigestTracker,
  type DigestTrackingMode,
  digestTrackerOf,
  trackDigest,
} from '../../../src/engine/memory/digest-tracker.ts';

const MODES: DigestTrackingMode[] = ['shadow', 'stale-list'];

import { runEmbedded } from '../../../src/runtime/embedded/run.ts';
import { testParams } from '../../helpers/engine.ts';

const RUNS = { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) };

/** A random image: mostly version 0 (untouched), some PVM versions, some SVM-authored ones. */
const imageArb = fc
  .tuple(
    fc.integer({ min: 2, max: 512 }),
    fc.integer({ min: 0, max: 0x7fff_ffff }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 0x7fff_ffff }), fc.boolean()), { maxLength: 64 }),
  )
  .map(([n, seed, writes]) => {
    const versions = new Uint32Array(n);
    for (const [p, v, svm] of writes) versions[p % n] = svm ? (v | SVM_AUTHOR_BIT) >>> 0 : v;
    return { seed, versions };
  });

/** A version to write: 0 (an SVM page flushed back to an untouched one), small, near the wrap, SVM-authored. */
const versionArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 8 }),
  fc.integer({ min: 0x7fff_fff0, max: 0x7fff_ffff }),
  fc.integer({ min: 1, max: 0x7fff_ffff }).map((v) => (v | SVM_AUTHOR_BIT) >>> 0),
);

describe('memory digest, format 2', () => {
  it('changes when any one page changes, and when any two pages of different versions swap', () => {
    const seen = { single: 0, toZero: 0, fromZero: 0, svm: 0, firstPage: 0, lastPage: 0, swaps: 0 };
    fc.assert(
      fc.property(imageArb, fc.nat(), fc.nat(), versionArb, ({ seed, versions }, a, b, v) => {
        const before = memoryDigest(seed, versions);
        const n = versions.length;
        const p = a % n;
        const old = versions[p] as number;
        if (old !== v) {
          const changed = versions.slice();
          changed[p] = v;
          expect(memoryDigest(seed, changed)).not.toBe(before);
          seen.single++;
          if (v === 0) seen.toZero++;
          if (old === 0) seen.fromZero++;
          if (v >= SVM_AUTHOR_BIT) seen.svm++;
          if (p === 0) seen.firstPage++;
          if (p === n - 1) seen.lastPage++;
        }
        // Swap two pages holding different versions (same multiset of versions, different places).
        const q = (p + 1 + (b % (n - 1))) % n;
        const swapped = versions.slice();
        if ((swapped[q] as number) === (swapped[p] as number))
          swapped[q] = ((swapped[p] as number) + 1) >>> 0;
        const base = memoryDigest(seed, swapped);
        const pv = swapped[p] as number;
        swapped[p] = swapped[q] as number;
        swapped[q] = pv;
        expect(memoryDigest(seed, swapped)).not.toBe(base);
        seen.swaps++;
      }),
      { ...RUNS, examples: [[{ seed: 1, versions: new Uint32Array(2) }, 1, 0, 0]] },
    );
    // The cases that matter were generated, not only the easy ones.
    expect(seen.single).toBeGreaterThan(RUNS.numRuns / 2);
    expect(seen.swaps).toBeGreaterThanOrEqual(RUNS.numRuns);
    for (const k of ['toZero', 'fromZero', 'svm', 'firstPage', 'lastPage'] as const)
      expect(seen[k], k).toBeGreaterThan(0);
  });

  it('depends on the seed and the page count, and is tagged with its format', () => {
    const v = new Uint32Array(64);
    v[3] = 5;
    const d = memoryDigest(7, v);
    expect(d.startsWith(MEMORY_DIGEST_TAG)).toBe(true);
    expect(memoryDigestProblem(d)).toBeUndefined();
    expect(memoryDigest(8, v)).not.toBe(d);
    const longer = new Uint32Array(65);
    longer[3] = 5;
    expect(memoryDigest(7, longer)).not.toBe(d);
    expect(zeroImageDigest(7, 64)).toBe(memoryDigest(7, new Uint32Array(64)));
    expect(zeroImageDigest(7, 64)).not.toBe(zeroImageDigest(7, 65));
  });

  it('names a format-1 digest (an older build’s) and anything else that is not one', () => {
    const old = '0123456789abcdef0123456789abcdef';
    expect(isFormat1MemoryDigest(old)).toBe(true);
    expect(memoryDigestProblem(old)).toMatch(/format 1 .*older build/);
    expect(memoryDigestProblem('m2:xyz')).toMatch(/is not m2: and 32 hex digits/);
    expect(isFormat1MemoryDigest(memoryDigest(1, new Uint32Array(4)))).toBe(false);
  });

  it.each(MODES)(
    'kept incrementally (%s) equals from scratch after any sequence of announced writes',
    (mode) => {
      let settles = 0;
      fc.assert(
        fc.property(
          imageArb,
          fc.array(fc.array(fc.tuple(fc.nat(), versionArb), { maxLength: 40 }), {
            minLength: 1,
            maxLength: 6,
          }),
          ({ seed, versions }, batches) => {
            const tracked = versions.slice();
            const tracker = trackDigest(seed, tracked, mode);
            expect(digestTrackerOf(tracked)).toBe(tracker);
            for (const batch of batches) {
              for (const [p, v] of batch) {
                const page = p % tracked.length;
                tracker.noteWrite(page, tracked[page] as number);
                tracked[page] = v;
              }
              expect(memoryDigest(seed, tracked)).toBe(memoryDigestFromScratch(seed, tracked));
              settles++;
            }
          },
        ),
        RUNS,
      );
      expect(settles).toBeGreaterThan(RUNS.numRuns);
    },
  );

  it.each(MODES)(
    "kept incrementally (%s) through batches of writes (noteWrites) equals from scratch, past the stale list's growth",
    (mode) => {
      const versions = new Uint32Array(50_000);
      const tracker = trackDigest(9, versions, mode);
      const batch = new Float64Array(3000);
      let x = 1;
      for (let round = 0; round < 4; round++) {
        // 3000 writes a batch, some repeated within it; 3 batches between digests (> 1024 stale pages).
        for (let b = 0; b < 3; b++) {
          for (let i = 0; i < batch.length; i++) {
            x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
            batch[i] = x % versions.length;
          }
          tracker.noteWrites(batch, batch.length, versions);
          for (let i = 0; i < batch.length; i++) {
            const page = batch[i] as number;
            versions[page] = ((versions[page] as number) + 1) >>> 0;
          }
        }
        expect(memoryDigest(9, versions)).toBe(memoryDigestFromScratch(9, versions));
      }
      expect(versions.some((v) => v > 1)).toBe(true);
    },
  );

  it('in shadow mode finds writes nobody announced, and is the default below its size limit', () => {
    const versions = new Uint32Array(5000);
    expect(trackDigest(3, versions).tracksWrites).toBe(false);
    expect(new DigestTracker(3, new Uint32Array(8), 'stale-list').tracksWrites).toBe(true);
    for (let round = 1; round <= 3; round++) {
      for (let p = round; p < versions.length; p += 7 * round) versions[p] = round * 1000 + p;
      expect(memoryDigest(3, versions)).toBe(memoryDigestFromScratch(3, versions));
    }
    // A settle with nothing changed leaves the sums as they were.
    expect(memoryDigest(3, versions)).toBe(memoryDigestFromScratch(3, versions));
  });

  it('kept incrementally by the embedded runtime equals from scratch at every stop, commit and the end', () => {
    // The SVM runs its own workload (running mode), so all three tracked images see writes and flushes.
    const params = testParams({
      payload: 'modelled',
      policy: 'fixed',
      secondaryMode: 'running',
      secondaryWorkload: { kind: 'hotcold', hotPages: 8, hotRate: 100, coldRate: 50 },
    });
    let stops = 0;
    let commits = 0;
    let lastStop = '';
    const result = runEmbedded({
      params,
      link: { bandwidthBytesPerSec: 10e6, latencyMs: 1 },
      durationMs: 8000,
      observe: (_at, p, s, fx) => {
        if (p.txn?.digest && p.txn.digest !== lastStop) {
          lastStop = p.txn.digest;
          stops++;
          // The PVM is stopped from the stop to the resume: its versions are the stop's.
          expect(p.txn.digest).toBe(memoryDigestFromScratch(params.seed, p.versions));
        }
        for (const e of fx) {
          if (e.type !== 'commit') continue;
          commits++;
          expect(e.digest).toBe(memoryDigestFromScratch(params.seed, s.committed));
        }
        expect(memoryDigest(params.seed, s.running)).toBe(memoryDigestFromScratch(params.seed, s.running));
      },
    });
    expect(stops).toBeGreaterThanOrEqual(5);
    expect(commits).toBeGreaterThanOrEqual(5);
    expect(result.final.primaryDigest).toBe(memoryDigestFromScratch(params.seed, result.primary.versions));
    expect(result.final.committedDigest).toBe(
      memoryDigestFromScratch(params.seed, result.secondary.committed),
    );
    expect(result.final.runningDigest).toBe(memoryDigestFromScratch(params.seed, result.secondary.running));
    expect(digestTrackerOf(result.primary.versions)).toBeDefined();
  });
});
