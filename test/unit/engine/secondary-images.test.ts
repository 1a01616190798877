import { describe, expect, test } from 'vitest';
import { memoryDigest, memoryDigestFromScratch, SVM_AUTHOR_BIT } from '../../../src/engine/memory/digest.ts';
import { trackDigest } from '../../../src/engine/memory/digest-tracker.ts';
import { secondaryStep } from '../../../src/engine/secondary/secondary.ts';
import { createSecondary } from '../../../src/engine/secondary/state.ts';
import { runEmbedded } from '../../../src/runtime/embedded/run.ts';
import { testParams } from '../../helpers/engine.ts';

const link = { bandwidthBytesPerSec: 10e6, latencyMs: 1 };

describe('the secondary’s committed and running images', () => {
  test('a passive secondary holds one array for both; a running one holds two', () => {
    const passive = createSecondary(testParams({ secondaryMode: 'passive' }));
    expect(passive.running).toBe(passive.committed);
    const running = createSecondary(testParams({ secondaryMode: 'running' }));
    expect(running.running).not.toBe(running.committed);
    expect(running.running.length).toBe(running.committed.length);
  });

  test('a passive run commits into the shared array: both digests are the committed image’s from scratch', () => {
    const params = testParams({ secondaryMode: 'passive' });
    const r = runEmbedded({ params, link, durationMs: 6000 });
    expect(r.commits.length).toBeGreaterThan(2);
    expect(r.secondary.running).toBe(r.secondary.committed);
    const scratch = memoryDigestFromScratch(params.seed, r.secondary.committed);
    expect(r.final.committedDigest).toBe(scratch);
    expect(r.final.runningDigest).toBe(scratch);
    expect(r.commits.at(-1)?.digest).toBe(scratch);
    // Something was committed: the image is not the initial one.
    expect(r.secondary.committed.some((v) => v !== 0)).toBe(true);
  });

  test('an SVM that writes into a shared array gets its own copy first; the committed image is untouched', () => {
    const running = testParams({
      secondaryMode: 'running',
      secondaryWorkload: { kind: 'uniform', rate: 500 },
    });
    // A state built as a passive one's (one array), then driven in running mode.
    const s = createSecondary(testParams({ secondaryMode: 'passive' }));
    s.committed[3] = 7;
    trackDigest(running.seed, s.committed);
    const committed = s.committed;
    const before = committed.slice();
    s.vmRunning = true;
    secondaryStep(s, running, 1000, { type: 'tick' });
    expect(s.svmDirty.count).toBeGreaterThan(0);
    expect(s.running).not.toBe(s.committed);
    expect(s.committed).toBe(committed);
    expect(s.committed).toEqual(before);
    const written = s.svmDirty.indices();
    expect(written.every((p) => ((s.running[p] ?? 0) & SVM_AUTHOR_BIT) !== 0)).toBe(true);
    // The copy holds the committed image wherever the SVM did not write, and is tracked for digests.
    const dirty = new Set(written);
    const kept = Array.from(s.running).filter((v, p) => !dirty.has(p) && v !== before[p]);
    expect(kept).toEqual([]);
    expect(dirty.has(3) || s.running[3] === 7).toBe(true);
    expect(memoryDigest(running.seed, s.running)).toBe(memoryDigestFromScratch(running.seed, s.running));
    expect(memoryDigest(running.seed, s.committed)).toBe(memoryDigestFromScratch(running.seed, s.committed));
  });
});
