/**
 * Crash-point matrix (issue 8): a Lambda killed at every port call of a background round, of a full
 * checkpoint transaction, of the commit, of the next epoch's start, and of both fencing decisions,
 * crossed with message faults.
 *
 * The scenarios ({@link CrashSim}: in-memory ports, virtual clock, one seed) run a primary and a secondary
 * as the cloud would: SQS FIFO consumers with redelivery after a visibility timeout (30 ms unless the
 * cell says otherwise), timer chains, the outbox replayed by the next invocation. A clean run is the
 * reference; its port calls are numbered on one counter shared by every state load/save (node documents,
 * the control document, log segments), delta put/get and channel send. Windows:
 * - `round, checkpoint, commit`: every call from the last background round before the second checkpoint's
 *   `checkpoint-request` to the secondary's first invocation of the next epoch;
 * - `takeover by the secondary`: the primary is down; from the secondary's claiming invocation to the
 *   primary's first invocation once back (fenced);
 * - `the primary goes on alone`: the secondary is down, the primary's checkpoint times out; from the
 *   primary's claiming invocation to the secondary's first invocation once back (fenced).
 * Each cell runs from a copy of its scenario taken just before the window ({@link CrashSim.fork}; the test
 * checks that a clean copy reproduces the reference call for call).
 *
 * Cells — all of them, none sampled:
 * - crash point k: every call of the window, the invocation killed *before* the call takes effect; for the
 *   last call of every invocation in the window also killed *after* it took effect (its answer lost; for
 *   any other call, "after call k" is the same run as "before call k + 1"); and every call failing with a
 *   transient error the invocation handles itself (`error`, message fault `none` only);
 * - × message fault, applied once the crash has happened:
 *   - `none`;
 *   - `redeliver-twice`: the crashed invocation's SQS record (its batch, or its tick) comes back twice;
 *   - `duplicate-next`: the next P → S message is delivered twice (the copy in an invocation of its own,
 *     as a redrive or a delivery after the FIFO deduplication window would);
 *   - `delay-next`: the P → S message after the next one, and all behind it, is held back past the
 *     secondary's apply deadline (`applyTimeoutMs` + 100 ms; well within the heartbeat timeout);
 *   - `stack-visibility`: the crashed record comes back only after the deployed stack's P → S visibility
 *     timeout (2 × the `secondary-apply` timeout, 52 s here), its FIFO group blocked meanwhile: a Lambda
 *     that is killed (timeout, out of memory) cannot shorten its records' visibility the way a consumer
 *     that fails them does (`redeliverSoon`). Every such cell in a channel consumer ends replication
 *     (one side fenced) — allowed by (i), and printed in the outcomes.
 *   Dropping a message is not a cell: SQS does not lose an accepted message, and the channel's only loss,
 *   an invocation that dies before its send, is exactly what the crash points are.
 *
 * Asserted for every cell, after the run goes on without faults:
 * (i) replication recovered (two more checkpoints completed, no owner), or exactly one side owns the VM
 *     (`readControl().owner`) and is `exited` / `failed-over`, and the other, after its next invocation,
 *     is `fenced`; never the primary `exited` while the secondary is `failed-over`, at any observation,
 *     and the owner never changes;
 * (ii) the secondary's committed image is always exactly one checkpoint: after every invocation, its
 *     digest equals the primary's image at the stop of the committed epoch; every `commit` record's digest
 *     equals the primary's `checkpoint` record (and stop digest) of its epoch; one commit per epoch; no
 *     checkpoint completes without its commit;
 * (iii) nothing applied twice: the secondary receives each (epoch, seq) once (trace of every invocation
 *     that returned), its `inSeq` never goes back, no round is applied twice;
 * (iv) nothing dropped silently: each direction's accepted messages carry sequence numbers 0, 1, 2, … in
 *     order, no gap, each number for one message only;
 * and no invocation dies of anything but the injected fault. The per-stage cell counts (what the crashed
 * invocation of the reference was doing) are printed and each stage must have cells.
 * `CRASH_MATRIX_VERBOSE=1` prints every cell that did not recover and every refused input.
 */

import { describe, expect, it } from 'vitest';
import type { ColoParams } from '../../../src/engine/params.ts';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';
import { heartbeatSlackMs } from '../../../src/engine/secondary/heartbeat.ts';
import { readControl } from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CrashSim, type InvocationRecord, type SimOptions } from './crash-sim.ts';

const PARAMS: ColoParams = testParams({
  policy: 'fixed',
  guestBytes: 128 * 4096,
  workload: { kind: 'hotcold', hotPages: 8, hotRate: 200, coldRate: 100 },
  thresholdBytes: 8 * 4096,
  checkpointDelayMs: 400,
  applyTimeoutMs: 500,
  checkpointTimeoutMs: 800,
  heartbeatTimeoutMs: 1500,
});

/** The virtual clock's origin (CloudPair's default), ms. */
const T0 = 1_000_000;
/** Longest a cell runs after the crash (and after the last outage): every timeout can run out, ms. */
const HORIZON_MS =
  PARAMS.checkpointTimeoutMs +
  PARAMS.heartbeatTimeoutMs +
  PARAMS.applyTimeoutMs +
  4 * PARAMS.checkpointDelayMs;

/**
 * The deployed stack's visibility timeout on P → S: twice the `secondary-apply` timeout, which is
 * `ceil(applyTimeoutMs / 1000) + 25` s (lib/colo-stack.ts), ms.
 */
const STACK_VISIBILITY_MS = 2 * (Math.ceil(PARAMS.applyTimeoutMs / 1000) + 25) * 1000;

const FAULTS: Record<string, Pick<SimOptions, 'faults' | 'visibilityMs'>> = {
  none: {},
  'redeliver-twice': { faults: { redeliverTwice: true } },
  'duplicate-next': { faults: { duplicateNextToSecondary: true } },
  'delay-next': { faults: { delayNextToSecondaryMs: PARAMS.applyTimeoutMs + 100 } },
  'stack-visibility': { visibilityMs: STACK_VISIBILITY_MS },
};

type Stage = 'round' | 'transaction' | 'commit' | 'fence' | 'other';

/** What an invocation of the reference run was doing, by the messages it handled and sent. */
function stageOf(inv: InvocationRecord): Stage {
  const got = new Set(inv.inputs);
  const all = new Set([...inv.inputs, ...inv.sent]);
  const has = (set: Set<string>, ...types: string[]) => types.some((t) => set.has(t));
  if (inv.effects.some((e) => e.type === 'claim' || e.type === 'colo-exit')) return 'fence';
  if (has(got, 'vmstate-size', 'delta(device-state)', 'vmstate-received', 'vmstate-loaded')) return 'commit';
  if (has(all, 'checkpoint-request', 'checkpoint-reply', 'vmstate-send', 'delta(checkpoint-ram)'))
    return 'transaction';
  if (has(all, 'migrate-ram-background', 'delta(background-ram)')) return 'round';
  return 'other';
}

interface Scenario {
  name: string;
  outages: NonNullable<SimOptions['outages']>;
  /** How long the reference runs, ms after T0. */
  referenceMs: number;
  /** The window, as indices of the reference run's invocations [first, last]. */
  window: (invs: readonly InvocationRecord[]) => [number, number];
}

const OUTAGE_FROM = T0 + 2 * PARAMS.checkpointDelayMs + 50;
/** How long the secondary waits for a silent primary, ms. */
const WATCHDOG_MS = heartbeatSlackMs(PARAMS) + PARAMS.heartbeatTimeoutMs;

const SCENARIOS: Scenario[] = [
  {
    // The last round before the second checkpoint, its transaction, the commit, the next epoch's start.
    name: 'round, checkpoint, commit',
    outages: [],
    referenceMs: 3 * PARAMS.checkpointDelayMs + 500,
    window: (invs) => {
      const iRequest = invs.findIndex(
        (inv) => inv.at > T0 + PARAMS.checkpointDelayMs + 50 && inv.sent.includes('checkpoint-request'),
      );
      const iRound = invs.findLastIndex(
        (inv, i) => i < iRequest && inv.sent.includes('migrate-ram-background'),
      );
      const iDone = invs.findIndex(
        (inv, i) => i > iRequest && inv.effects.some((e) => e.type === 'checkpoint'),
      );
      const iNext = invs.findIndex(
        (inv, i) => i > iDone && inv.node === 'secondary' && inv.cause === 'batch',
      );
      return [iRound, iNext];
    },
  },
  {
    // The primary is down: the secondary's watchdog claims the fence and takes over; the primary comes back
    // and its first invocation finds itself fenced.
    name: 'takeover by the secondary',
    // Silent past the watchdog: the slack of the coarsely saved lastHeardAt + the timeout.
    outages: [{ node: 'primary', from: OUTAGE_FROM, until: OUTAGE_FROM + WATCHDOG_MS + 300 }],
    referenceMs: 2 * PARAMS.checkpointDelayMs + WATCHDOG_MS + 1000,
    window: fenceWindow,
  },
  {
    // The secondary is down: the primary's checkpoint times out, it claims the fence and runs alone; the
    // secondary comes back and its first invocation finds itself fenced.
    name: 'the primary goes on alone',
    outages: [
      {
        node: 'secondary',
        from: OUTAGE_FROM,
        until: OUTAGE_FROM + PARAMS.checkpointDelayMs + PARAMS.checkpointTimeoutMs + 200,
      },
    ],
    referenceMs: 3 * PARAMS.checkpointDelayMs + PARAMS.checkpointTimeoutMs + 1000,
    window: fenceWindow,
  },
];

/** From the invocation that claims the fence to the loser's first invocation (fenced). */
function fenceWindow(invs: readonly InvocationRecord[]): [number, number] {
  const iClaim = invs.findIndex((inv) => inv.effects.some((e) => e.type === 'claim'));
  const iFenced = invs.findIndex((inv) =>
    inv.effects.some((e) => e.type === 'colo-exit' && e.reason === 'fenced'),
  );
  return [iClaim, iFenced];
}

interface Cell {
  k: number;
  when: 'before' | 'after' | 'error';
  fault: string;
  stage: Stage;
  what: string;
}

/** Runs one cell from `base` (the scenario just before its window); returns what went wrong and how it ended. */
async function runCell(base: CrashSim, cell: Cell): Promise<{ problems: string[]; outcome: string }> {
  const sim = await base.fork({ crashAt: cell.k, crashWhen: cell.when, ...FAULTS[cell.fault] });
  const problems: string[] = [];
  const outagesEnd = Math.max(T0, ...sim.outages.map((o) => o.until));
  let crashEpoch = Number.NaN;
  await sim.runUntil(Number.POSITIVE_INFINITY, () => {
    if (!sim.crashed) return sim.now > outagesEnd + HORIZON_MS;
    if (Number.isNaN(crashEpoch)) crashEpoch = sim.seen.primaryEpoch;
    if (sim.now > Math.max(sim.crashed.at, outagesEnd) + HORIZON_MS) return true;
    const s = sim.seen;
    // Once one side owns the VM and the other is fenced, nothing can change any more (what is still
    // queued, or waits for redelivery, is refused by a stopped node).
    if (s.owner === 'primary' && s.primaryPhase === 'exited' && s.secondaryPhase === 'fenced') return true;
    if (s.owner === 'secondary' && s.secondaryPhase === 'failed-over' && s.primaryPhase === 'fenced')
      return true;
    return s.owner === null && sim.quiet && s.primaryEpoch >= crashEpoch + 2;
  });
  if (!sim.crashed) return { problems: [`the crash at call ${cell.k} never happened`], outcome: 'no crash' };

  // The loser's next invocation (a timer tick) must find itself fenced.
  const control = await readControl(sim.pair.state, PARAMS.vmId);
  if (control.owner !== null) {
    await sim.invoke(control.owner === 'primary' ? 'secondary' : 'primary', { type: 'tick' }, 'probe');
  }
  problems.push(...sim.seen.violations, ...sim.otherErrors.map((e) => `invocation died: ${e}`));

  const p = await sim.doc('primary');
  const s = await sim.doc('secondary');
  const plog = await sim.pair.log('primary');
  const slog = await sim.pair.log('secondary');
  let outcome: string;
  // (i) recovered, or one owner and the other fenced.
  if (control.owner === null) {
    outcome = 'recovered';
    const after = (p?.state.epoch ?? 0) - crashEpoch;
    if (after < 2)
      problems.push(`no owner, yet only ${after} checkpoints after the crash (epoch ${p?.state.epoch})`);
    if (
      !['running', 'ckpt-wait-reply', 'ckpt-wait-received', 'ckpt-wait-loaded'].includes(p?.state.phase ?? '')
    )
      problems.push(`no owner, yet the primary is ${p?.state.phase}`);
  } else {
    outcome = `${control.owner} owns`;
    const [winner, loser] =
      control.owner === 'primary' ? [p?.state.phase, s?.state.phase] : [s?.state.phase, p?.state.phase];
    const want = control.owner === 'primary' ? 'exited' : 'failed-over';
    if (winner !== want) problems.push(`${control.owner} owns the VM but is ${winner}, not ${want}`);
    if (loser !== 'fenced')
      problems.push(
        `the ${control.owner === 'primary' ? 'secondary' : 'primary'} lost the fence but is ${loser}`,
      );
  }
  // (ii) every commit is the primary's checkpoint of that epoch; one commit per epoch.
  const checkpoints = new Map<number, string>();
  for (const r of plog) if (r.type === 'checkpoint') checkpoints.set(r.data.epoch, r.data.digest);
  const committed = new Set<number>();
  for (const r of slog) {
    if (r.type !== 'commit') continue;
    const { epoch, digest } = r.data;
    if (committed.has(epoch)) problems.push(`epoch ${epoch} committed twice`);
    committed.add(epoch);
    const stop = sim.stopDigests.get(epoch);
    if (digest !== stop)
      problems.push(`commit of epoch ${epoch} is ${digest}, the primary stopped at ${stop}`);
    const ckpt = checkpoints.get(epoch);
    if (ckpt !== undefined && ckpt !== digest)
      problems.push(`commit of epoch ${epoch} is ${digest}, the checkpoint record says ${ckpt}`);
  }
  for (const [epoch, digest] of checkpoints) {
    if (!committed.has(epoch))
      problems.push(`checkpoint of epoch ${epoch} (${digest}) completed without a commit`);
  }
  // (iii) each (epoch, seq) received once (a heartbeat is outside the sequence: it takes none).
  const received = new Set<string>();
  for (const inv of sim.invocations) {
    if (inv.node !== 'secondary') continue;
    for (const e of inv.effects) {
      if (e.type !== 'trace' || e.name !== 'colo_receive_message' || e.fields.msg === 'heartbeat') continue;
      const key = `${e.fields.epoch}/${e.fields.seq}`;
      if (received.has(key)) problems.push(`message ${key} (${e.fields.msg}) received twice`);
      received.add(key);
    }
  }
  // (iv) contiguous sequence numbers each way, heartbeats (which take none) left out.
  for (const [name, all] of [
    ['P → S', sim.pair.p2s.history],
    ['S → P', sim.pair.s2p.history],
  ] as [string, ColoMessage[]][]) {
    const history = all.filter((m) => m.type !== 'heartbeat');
    const seqs = history.map((m) => m.seq);
    const bad = seqs.findIndex((q, i) => q !== i);
    if (bad >= 0)
      problems.push(
        `${name}: message ${bad} carries seq ${seqs[bad]} (${history[bad]?.type}); ${seqs.join(',')}`,
      );
  }
  if (process.env.CRASH_MATRIX_VERBOSE) {
    for (const inv of sim.invocations.slice(base.invocations.length)) {
      const odd = (inv.outcomes ?? []).filter((o) => o.startsWith('rejected'));
      if (odd.length > 0)
        console.log(
          `  ${cell.when} ${cell.k} [${cell.fault}] ${inv.node} ${inv.cause}(${inv.inputs.join(',')}) at ${inv.at - T0}: ${inv.outcomes?.join(',')} ${outcome}`,
        );
    }
  }
  return { problems, outcome };
}

describe('crash-point matrix: a Lambda crash at every port call of a round, a checkpoint, its commit, a fence', () => {
  const coverage: Record<Stage, number> = { round: 0, transaction: 0, commit: 0, fence: 0, other: 0 };
  let total = 0;
  /** Cells that crashed at, or right after, the secondary's delete of a consumed delta object. */
  let atDelete = 0;

  for (const scenario of SCENARIOS) {
    it(`${scenario.name}: every cell keeps memory one checkpoint, recovers or fences one side, applies once, drops nothing`, async () => {
      const started = performance.now();
      const ref = new CrashSim(PARAMS, { outages: scenario.outages });
      await ref.start();
      await ref.runUntil(T0 + scenario.referenceMs);
      expect(ref.otherErrors).toEqual([]);
      expect(ref.seen.violations).toEqual([]);
      const [iFirst, iLast] = scenario.window(ref.invocations);
      expect(iFirst).toBeGreaterThan(0);
      expect(iLast).toBeGreaterThan(iFirst);
      const window = ref.invocations.slice(iFirst, iLast + 1).filter((inv) => inv.lastCall >= inv.firstCall);
      const first = window[0] as InvocationRecord;

      // Every cell starts from a copy of the scenario just before the window opens.
      const base = new CrashSim(PARAMS, { outages: scenario.outages });
      await base.start();
      await base.runUntil(first.at - 0.5);
      expect(base.calls.length).toBeLessThan(first.firstCall);
      // A copy runs exactly as the original: the clean copy reproduces the reference call for call.
      const clean = await base.fork();
      await clean.runUntil(T0 + scenario.referenceMs);
      expect(clean.calls).toEqual(ref.calls);
      expect(clean.pair.p2s.history).toEqual(ref.pair.p2s.history);

      const cells: Cell[] = [];
      for (const inv of window) {
        const stage = stageOf(inv);
        const what = `${inv.node} ${inv.cause}(${inv.inputs.join(',')})`;
        for (let k = inv.firstCall; k <= inv.lastCall; k++) {
          const call = ref.calls[k - 1];
          const desc = `${what} ${call?.op} ${call?.what}`;
          for (const fault of Object.keys(FAULTS)) {
            cells.push({ k, when: 'before', fault, stage, what: desc });
            if (k === inv.lastCall) cells.push({ k, when: 'after', fault, stage, what: desc });
          }
          cells.push({ k, when: 'error', fault: 'none', stage, what: desc });
        }
      }

      const stages: Record<Stage, number> = { round: 0, transaction: 0, commit: 0, fence: 0, other: 0 };
      const outcomes: Record<string, number> = {};
      const failures: string[] = [];
      for (const cell of cells) {
        const { problems, outcome } = await runCell(base, cell);
        stages[cell.stage]++;
        coverage[cell.stage]++;
        if (ref.calls[cell.k - 1]?.op === 'delta.delete') atDelete++;
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        if (process.env.CRASH_MATRIX_VERBOSE && outcome !== 'recovered')
          console.log(`${cell.when} ${cell.k} [${cell.fault}] ${cell.stage} ${cell.what}: ${outcome}`);
        for (const p of problems)
          failures.push(`${cell.when} call ${cell.k} [${cell.fault}] ${cell.what}: ${p}`);
      }
      total += cells.length;
      const points = new Set(cells.map((c) => `${c.when}${c.k}`)).size;
      console.log(
        `crash matrix, ${scenario.name}: calls ${first.firstCall}..${window.at(-1)?.lastCall}, ${points} crash ` +
          `points (before/after/error) × message faults = ${cells.length} cells; by stage ${JSON.stringify(stages)}; ` +
          `outcomes ${JSON.stringify(outcomes)}; ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      expect(failures).toEqual([]);
    }, 600_000);
  }

  it('the cells covered a round, a checkpoint transaction, a commit, a fence and deleting consumed deltas', () => {
    console.log(
      `crash matrix: ${total} cells by stage ${JSON.stringify(coverage)}; ${atDelete} at a delta delete`,
    );
    expect(atDelete).toBeGreaterThan(0);
    expect(coverage.round).toBeGreaterThan(0);
    expect(coverage.transaction).toBeGreaterThan(0);
    expect(coverage.commit).toBeGreaterThan(0);
    expect(coverage.fence).toBeGreaterThan(0);
  });
});
