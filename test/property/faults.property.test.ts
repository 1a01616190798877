/**
 * Replication under random faults (embedded runtime, seeded fault model): lost, duplicated, delayed and
 * dead-lettered messages, delta objects that cannot be stored or are stored late, and node outages, for a
 * while; then the faults clear and the run goes on. Whatever happens:
 * - the secondary's committed memory is always exactly one checkpoint of the primary (never a mix);
 * - never both sides active: the primary never runs alone while the secondary has taken over, and no
 *   checkpoint completes (output released) once the secondary owns the VM;
 * - after the faults clear, replication has resumed, or exactly one side owns the VM and the other,
 *   whenever it ran after the decision, stopped as fenced;
 * - nothing is applied twice: the secondary takes each sequence number at most once (and in a good share of
 *   the cases a second copy of a message it already took does reach it, and is refused).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryDigest } from '../../src/engine/memory/digest.ts';
import { PAGE_SIZE } from '../../src/engine/protocol/delta.ts';
import type { FaultModel, Outage } from '../../src/runtime/embedded/faults.ts';
import { outageEnd } from '../../src/runtime/embedded/faults.ts';
import { runEmbedded } from '../../src/runtime/embedded/run.ts';
import { testParams } from '../helpers/engine.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 200);

/** A probability drawn uniformly in [0, max] (in thousandths: fc.double crowds near 0). */
const prob = (max: number) => fc.integer({ min: 0, max: Math.round(max * 1000) }).map((n) => n / 1000);
/** A duration drawn uniformly in [min, max], ms. */
const ms = (min: number, max: number) => fc.integer({ min, max });

const caseArb = fc
  .record({
    // Mild cases are transient faults the timeouts are meant to ride out; harsh ones end replication.
    mild: fc.integer({ min: 0, max: 9 }).map((n) => n < 4),
    seed: fc.integer({ min: 0, max: 0xffff_ffff }),
    pages: fc.integer({ min: 16, max: 256 }),
    policy: fc.constantFrom('none', 'fixed', 'adaptive') as fc.Arbitrary<'none' | 'fixed' | 'adaptive'>,
    secondaryMode: fc.constantFrom('passive', 'running') as fc.Arbitrary<'passive' | 'running'>,
    payload: fc.constantFrom('materialised', 'modelled') as fc.Arbitrary<'materialised' | 'modelled'>,
    checkpointDelayMs: ms(200, 1200),
    applyTimeoutMs: ms(200, 1500),
    heartbeatTimeoutMs: ms(300, 1500),
    chunkPages: fc.integer({ min: 4, max: 300 }),
    latencyMs: ms(0, 20),
    lose: prob(0.3),
    duplicate: prob(0.3),
    delay: prob(0.3),
    delayMax: ms(0, 1500),
    putFail: prob(0.15),
    crash: prob(0.05),
    visibilityMs: ms(2000, 8000),
    putStall: prob(0.2),
    stallMax: ms(0, 2000),
    redeliveryMs: ms(50, 1500),
    maxReceives: fc.integer({ min: 1, max: 6 }),
    outageNode: fc.constantFrom('primary', 'primary', 'primary', 'secondary', 'none') as fc.Arbitrary<
      'primary' | 'secondary' | 'none'
    >,
    outageFrom: ms(0, 3000),
    outageLength: ms(50, 4000),
    faultyMs: ms(1000, 4000),
  })
  .map((r) => {
    if (r.mild) {
      // Transient: short redelivery, few attempts, no outage longer than the watchdog allows.
      r.heartbeatTimeoutMs = Math.max(r.heartbeatTimeoutMs, 1200);
      r.applyTimeoutMs = Math.max(r.applyTimeoutMs, 1000);
      r.lose = Math.min(r.lose, 0.1);
      r.redeliveryMs = Math.min(r.redeliveryMs, 150);
      r.maxReceives = Math.max(r.maxReceives, 5);
      r.delayMax = Math.min(r.delayMax, 200);
      r.stallMax = Math.min(r.stallMax, 300);
      r.putFail = Math.min(r.putFail, 0.05);
      r.outageLength = Math.min(r.outageLength, 300);
      r.crash = 0;
    }
    // Faults begin once the first checkpoints have committed.
    const faultFrom = 3 * r.checkpointDelayMs + 500;
    const params = testParams({
      seed: r.seed,
      guestBytes: r.pages * 4096,
      workload: { kind: 'hotcold', hotPages: Math.min(8, r.pages), hotRate: 300, coldRate: 200 },
      secondaryWorkload: { kind: 'uniform', rate: 100 },
      secondaryMode: r.secondaryMode,
      policy: r.policy,
      payload: r.payload,
      checkpointDelayMs: r.checkpointDelayMs,
      pendingCheckIntervalMs: 100,
      thresholdBytes: 8 * 4096,
      applyTimeoutMs: r.applyTimeoutMs,
      checkpointTimeoutMs: 3000,
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: r.heartbeatTimeoutMs,
      maxDeltaBytes: r.chunkPages * 4096,
    });
    const outages: Outage[] =
      r.outageNode === 'none'
        ? []
        : [
            {
              node: r.outageNode,
              from: faultFrom + r.outageFrom,
              until: faultFrom + r.outageFrom + r.outageLength,
            },
          ];
    const clearAt = Math.max(faultFrom + r.faultyMs, ...outages.map((o) => o.until));
    const model: FaultModel = {
      lose: r.lose,
      duplicate: r.duplicate,
      delay: r.delay,
      delayMs: [0, r.delayMax],
      putFail: r.putFail,
      crash: r.crash,
      visibilityMs: r.visibilityMs,
      putStall: r.putStall,
      putStallMs: [0, r.stallMax],
      redeliveryMs: r.redeliveryMs,
      maxReceives: r.maxReceives,
      outages,
      from: faultFrom,
      until: faultFrom + r.faultyMs,
    };
    // Long enough after the faults clear for every timeout to run out and several checkpoints to follow.
    const recoveryMs =
      4 * (r.checkpointDelayMs + 3000 + r.heartbeatTimeoutMs) + 6 * r.redeliveryMs + r.visibilityMs;
    return {
      params,
      link: { bandwidthBytesPerSec: 50e6, latencyMs: r.latencyMs },
      model,
      clearAt,
      durationMs: clearAt + recoveryMs,
    };
  });

describe('replication under random faults (fast-check, 200 cases)', () => {
  it('committed memory is one checkpoint, never both sides active, recovery or one fenced owner, nothing applied twice', () => {
    const coverage = {
      faulted: 0,
      failedOverAfterCommit: 0,
      primaryWon: 0,
      resumed: 0,
      fencedLoser: 0,
      duplicateRefused: 0,
    };
    fc.assert(
      fc.property(caseArb, ({ params, link, model, clearAt, durationMs }) => {
        const initial = memoryDigest(params.seed, new Uint32Array(params.guestBytes / PAGE_SIZE));
        const stopDigest = new Map<number, string>();
        const taken = new Set<string>();
        let bothActive = false;
        let checkpointAfterTakeover = false;
        let badCommit: string | null = null;
        let commitsAfterClear = 0;
        let takeoverAt = Number.POSITIVE_INFINITY;
        // Sequence numbers the secondary has taken so far, and the one being delivered again, if any.
        const takenSoFar = new Set<string>();
        let stepNode: 'primary' | 'secondary' = 'primary';
        let again: string | null = null;
        let duplicatesRefused = 0;
        const result = runEmbedded({
          params,
          link,
          durationMs,
          trace: true,
          faults: { model },
          onStep: (_at, node, input) => {
            stepNode = node;
            again = null;
            if (node !== 'secondary' || input.type !== 'message') return;
            const m = input.message as { epoch?: unknown; seq?: unknown; type?: unknown };
            if (m.type === 'heartbeat') return; // outside the sequence
            const k = `${m.epoch}/${m.seq}`;
            if (takenSoFar.has(k)) again = k;
          },
          observe: (at, p, s, fx) => {
            if (stepNode === 'secondary') {
              for (const e of fx) {
                if (e.type === 'trace' && e.name === 'colo_receive_message' && e.fields.msg !== 'heartbeat')
                  takenSoFar.add(`${e.fields.epoch}/${e.fields.seq}`);
              }
              // A second copy of a message the secondary already took, while it was still replicating:
              // refused as an old sequence number (the runtime acknowledges it as a duplicate).
              if (
                again !== null &&
                fx.some((e) => e.type === 'rejected' && e.error.code === 'wrong-sequence')
              )
                duplicatesRefused++;
            }
            if (p.txn?.digest) stopDigest.set(p.epoch, p.txn.digest);
            if (p.phase === 'exited' && s.phase === 'failed-over') bothActive = true;
            if (s.phase === 'failed-over') takeoverAt = Math.min(takeoverAt, at);
            for (const e of fx) {
              if (e.type === 'checkpoint' && at > takeoverAt) checkpointAfterTakeover = true;
              if (e.type === 'commit') {
                if (e.digest !== stopDigest.get(e.epoch)) badCommit = `epoch ${e.epoch}`;
                if (at > clearAt) commitsAfterClear++;
              }
            }
          },
        });
        for (const t of result.trace) {
          // A heartbeat is outside the sequence: it takes no number.
          if (t.node !== 'secondary' || t.name !== 'colo_receive_message' || t.fields.msg === 'heartbeat')
            continue;
          const k = `${t.fields.epoch}/${t.fields.seq}`;
          expect(taken.has(k), `sequence ${k} taken twice`).toBe(false);
          taken.add(k);
        }
        expect(badCommit, 'a commit that is not the primary image of its epoch').toBeNull();
        expect(bothActive, 'primary alone while the secondary took over').toBe(false);
        expect(checkpointAfterTakeover, 'a checkpoint completed after the takeover').toBe(false);
        // The committed image is one checkpoint (or the initial image) at the end as well.
        const committed = result.final.committedDigest;
        const known = new Set([initial, ...result.commits.map((c) => c.digest)]);
        expect(known.has(committed)).toBe(true);

        if (duplicatesRefused > 0) coverage.duplicateRefused++;
        const s = result.faultStats;
        if (s.lost + s.duplicated + s.delayed + s.crashed + s.retired + s.stalled + s.deferred > 0)
          coverage.faulted++;
        const fence = result.fence;
        if (fence === null) {
          // No side gave up: replication carried on after the faults cleared.
          expect(commitsAfterClear, 'replication did not resume after the faults cleared').toBeGreaterThan(0);
          expect(['running', 'ckpt-wait-reply', 'ckpt-wait-received', 'ckpt-wait-loaded']).toContain(
            result.primary.phase,
          );
          coverage.resumed++;
          return;
        }
        const winner = fence.owner === 'primary' ? result.primary.phase : result.secondary.phase;
        expect(winner).toBe(fence.owner === 'primary' ? 'exited' : 'failed-over');
        const loser = fence.owner === 'primary' ? 'secondary' : 'primary';
        const loserPhase = loser === 'primary' ? result.primary.phase : result.secondary.phase;
        if (outageEnd(model, loser, durationMs - 1) === undefined) {
          expect(loserPhase, `the ${loser} lost the fence but did not stop`).toBe('fenced');
          coverage.fencedLoser++;
        }
        if (fence.owner === 'secondary' && result.commits.length > 0) {
          coverage.failedOverAfterCommit++;
          // A passive SVM takes over from exactly its last committed checkpoint.
          if (params.secondaryMode === 'passive') {
            expect(result.final.runningDigest).toBe(result.commits.at(-1)?.digest);
          }
        }
        if (fence.owner === 'primary') coverage.primaryWon++;
      }),
      { numRuns: RUNS, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) },
    );
    console.log('fault property coverage', JSON.stringify(coverage));
    // The cases reached the situations this test claims to cover.
    expect(coverage.faulted).toBeGreaterThanOrEqual(RUNS * 0.8);
    // Seeds are random per run (FC_SEED=n replays one): 66–103 of 200 cases failed over after a commit in 21
    // runs, so a third (67) failed once by chance; a quarter still asks for dozens of such cases.
    expect(coverage.failedOverAfterCommit).toBeGreaterThanOrEqual(RUNS / 4);
    expect(coverage.resumed).toBeGreaterThanOrEqual(RUNS * 0.1);
    expect(coverage.primaryWon).toBeGreaterThan(0);
    expect(coverage.fencedLoser).toBeGreaterThanOrEqual(RUNS / 3);
    // "Nothing applied twice" was put to the test: a second copy of a message the secondary had already
    // taken reached it, and was refused.
    expect(coverage.duplicateRefused).toBeGreaterThanOrEqual(RUNS * 0.3);
    // 200 simulated runs: ~45 s alone, several minutes on a loaded 2-core machine (a bound, not a target).
  }, 900_000);
});
