import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryDigest, SVM_AUTHOR_BIT } from '../../src/engine/memory/digest.ts';
import { PAGE_SIZE, type PageDelta } from '../../src/engine/protocol/delta.ts';
import { runEmbedded } from '../../src/runtime/embedded/run.ts';
import { decodeDelta } from '../../src/wire/delta-codec.ts';
import { scenarioArb } from './arbitraries.ts';

const RUNS = { numRuns: Number(process.env.PROPERTY_RUNS ?? 200) };

function sameImage(a: Uint32Array, b: Uint32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

describe('replication properties (fast-check, 200 cases each)', () => {
  it('(a) after every commit the secondary holds the primary memory of that checkpoint, page for page', () => {
    fc.assert(
      fc.property(scenarioArb, ({ params, link, durationMs }) => {
        let commits = 0;
        runEmbedded({
          params,
          link,
          durationMs,
          observe: (_at, p, s, fx) => {
            if (!fx.some((e) => e.type === 'commit')) return;
            commits++;
            // The PVM is still stopped at this instant: its memory is the checkpoint image.
            expect(p.vmRunning).toBe(false);
            expect(sameImage(s.committed, p.versions)).toBe(true);
            // The commit overwrote the union of PVM- and SVM-dirtied pages: running = committed.
            expect(sameImage(s.running, s.committed)).toBe(true);
          },
        });
        return commits >= 0;
      }),
      RUNS,
    );
  });

  it('(b) failover at any instant yields exactly the last committed checkpoint, never a mix of epochs', () => {
    fc.assert(
      fc.property(
        scenarioArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        ({ params, link, durationMs }, f) => {
          const images = new Set([memoryDigest(params.seed, new Uint32Array(params.guestBytes / PAGE_SIZE))]);
          let lastCommitted = [...images][0] as string;
          let checked = false;
          runEmbedded({
            params,
            link,
            durationMs,
            faults: { failoverAt: f * durationMs },
            observe: (_at, p, s, fx) => {
              for (const e of fx) if (e.type === 'checkpoint') images.add(e.record.digest);
              if (p.txn?.digest) images.add(p.txn.digest);
              const committed = memoryDigest(params.seed, s.committed);
              // The committed image is always one whole checkpoint image.
              expect(images.has(committed)).toBe(true);
              if (fx.some((e) => e.type === 'commit')) lastCommitted = committed;
              else expect(committed).toBe(lastCommitted);
              // No SVM page holds PVM data that did not commit: every page is committed data or the SVM's own.
              for (let i = 0; i < s.running.length; i++) {
                const v = s.running[i] ?? 0;
                if ((v & SVM_AUTHOR_BIT) === 0 && v !== s.committed[i])
                  throw new Error(`page ${i} holds uncommitted data`);
              }
              if (s.phase === 'failed-over' && !checked) {
                checked = true;
                expect(s.cache.size).toBe(0);
                if (params.secondaryMode === 'passive')
                  expect(memoryDigest(params.seed, s.running)).toBe(lastCommitted);
              }
            },
          });
          return true;
        },
      ),
      RUNS,
    );
  });

  it('(c) under fixed, passes start only when pending ≥ threshold, one round at a time, RAM only', () => {
    fc.assert(
      fc.property(scenarioArb, ({ params: base, link, durationMs }) => {
        const params = { ...base, policy: 'fixed' as const };
        runEmbedded({
          params,
          link,
          durationMs,
          observe: (_at, p, _s, fx) => {
            for (const e of fx) {
              if (e.type !== 'send' || e.message.type !== 'delta' || e.message.kind !== 'background-ram')
                continue;
              const checks = fx.filter((x) => x.type === 'pending-check');
              const decided = checks.some((x) => x.type === 'pending-check' && x.record.decision === 'round');
              // A pass starts only on a check; a pass larger than one delta object continues with the next
              // round the moment the previous one has left.
              const continued = fx.some((x) => x.type === 'round' && x.record.ok);
              expect(decided || continued).toBe(true);
              for (const x of checks) {
                if (x.type === 'pending-check' && x.record.decision === 'round') {
                  expect(x.record.pendingBytes).toBeGreaterThanOrEqual(params.thresholdBytes);
                }
              }
              expect(p.phase === 'running' || p.phase === 'ckpt-wait-reply').toBe(true);
              // Every earlier round of the epoch has finished leaving: at most one is ever in flight.
              expect(p.rounds.filter((r) => !r.done).map((r) => r.sendId)).toEqual([e.sendId]);
              const payload = e.payload?.bytes
                ? decodeDelta(e.payload.bytes, { maxObjectBytes: 1 << 30 })
                : (e.payload?.delta as PageDelta);
              expect(payload.kind).toBe('background-ram');
              expect(payload.blob.byteLength).toBe(0);
            }
          },
        });
        return true;
      }),
      RUNS,
    );
  });
});
