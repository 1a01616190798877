/**
 * The soak: long runs of the embedded runtime under random faults, each checked for the replication
 * guarantees, and the figures `npm run soak` prints and writes into docs/reliability.md. The short version
 * runs in the unit tests (test/unit/cli/soak.test.ts).
 *
 * Checked after (and during) every run:
 * - the secondary's committed image is exactly one checkpoint of the primary: every commit equals the PVM's
 *   memory at that epoch's stop, and the final committed image is the last commit (or the initial image);
 * - never both sides active: the primary never runs alone while the secondary has taken over, and no
 *   checkpoint completes once the secondary owns the VM;
 * - the run ends verified consistent (`verifyRun`), and either still replicating or with exactly one side
 *   owning the VM and the other fenced (unless it is down at the end, so never told).
 */
import { zeroImageDigest } from '../engine/memory/digest.ts';
import { percentile } from '../engine/metrics/summary.ts';
import { type ColoParams, DEFAULT_PARAMS, type PolicyName } from '../engine/params.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import { unit } from '../engine/rng.ts';
import {
  type FaultModel,
  type FaultStats,
  fateOf,
  noFaults,
  type Outage,
  outageEnd,
} from '../runtime/embedded/faults.ts';
import type { LinkParams } from '../runtime/embedded/link.ts';
import { type EmbeddedResult, runEmbedded } from '../runtime/embedded/run.ts';
import { verifyRun } from '../runtime/verify.ts';
import { outcomeOf, type RunOutcome } from './outcome.ts';

/** Fault kinds the soak counts (one per fault a message, an object or a node can suffer). */
export const FAULT_KINDS = [
  'lose',
  'dead-letter',
  'duplicate',
  'delay',
  'put-fail',
  'put-stall',
  'outage',
] as const;

/** A fault kind. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One run of the soak. */
export interface SoakCase {
  /** Label, e.g. `fixed seed 2`. */
  name: string;
  params: ColoParams;
  link: LinkParams;
  durationMs: number;
  /** Faults, or undefined for a clean baseline run. */
  model?: FaultModel;
}

/** A fault as it happened: kind and time, ms. */
export interface FaultEvent {
  kind: FaultKind;
  at: number;
}

/** What one run produced and whether it kept the guarantees. */
export interface SoakRunResult {
  name: string;
  policy: PolicyName;
  payload: ColoParams['payload'];
  faulty: boolean;
  /** Broken guarantees, one line each (empty: the run passed). */
  violations: string[];
  outcome: RunOutcome;
  faultStats: FaultStats;
  /** Every injected fault with its time, up to the end of replication. */
  events: FaultEvent[];
  /** The faults just before replication ended (what most likely ended it), or null. */
  cause: string | null;
  /** Per fault: time to the next completed checkpoint, ms, or null when none completed after it. */
  recoveryMs: (number | null)[];
  /** Downtime of every completed checkpoint, ms. */
  downtimes: number[];
  checkpoints: number;
  /** Simulated time covered, ms. */
  durationMs: number;
  /** Wall-clock time of the run, ms. */
  wallMs: number;
}

/** Soak parameters. */
export interface SoakOptions {
  /** Per-message probability of each message fault (lose, duplicate, delay, put-stall); put-fail is rate/10. */
  rate: number;
  /** Node outages per simulated hour (each 0.5–20 s, primary or secondary). */
  outagesPerHour: number;
  /** Simulated time per run, ms. */
  durationMs: number;
  /** Fault seeds; one faulty run per seed and policy. */
  seeds: number[];
  /** Policies. */
  policies: PolicyName[];
}

/** The soak's defaults: one simulated hour, 0.2 % faults per message, one outage an hour. */
export const DEFAULT_SOAK: SoakOptions = {
  rate: 0.002,
  outagesPerHour: 1,
  durationMs: 3_600_000,
  seeds: [1, 2, 3, 4, 5],
  policies: ['none', 'fixed', 'adaptive'],
};

/** The soak's VM: a 256 MiB guest, checkpoint every 10 s, 1 Gbit/s link, the engine's default timeouts. */
export function soakParams(policy: PolicyName, payload: ColoParams['payload'], seed: number): ColoParams {
  const small = payload === 'materialised';
  return {
    ...DEFAULT_PARAMS,
    seed,
    policy,
    payload,
    // Materialised runs build and verify every page's bytes: a smaller guest keeps them fast.
    guestBytes: (small ? 16 : 256) * 1024 * 1024,
    workload: small
      ? { kind: 'hotcold', hotPages: 256, hotRate: 200, coldRate: 100 }
      : { kind: 'hotcold', hotPages: 2048, hotRate: 2000, coldRate: 1000 },
    checkpointDelayMs: 10_000,
    thresholdBytes: (small ? 1 : 16) * 1024 * 1024,
  };
}

/** The soak's link. */
export const SOAK_LINK: LinkParams = { bandwidthBytesPerSec: 1e9 / 8, latencyMs: 0.1 };

/** Range of an outage's length, ms. */
export const OUTAGE_MS: [number, number] = [500, 20_000];

/** Random faults at `rate` per message and `outagesPerHour` outages, drawn from `seed`. */
export function soakModel(
  rate: number,
  outagesPerHour: number,
  seed: number,
  durationMs: number,
): FaultModel {
  const outages: Outage[] = [];
  const n = Math.round((outagesPerHour * durationMs) / 3_600_000);
  for (let i = 0; i < n; i++) {
    // After the first checkpoints, anywhere in the run; 0.5–20 s (around the default 10 s heartbeat timeout).
    const from = Math.round(30_000 + unit(seed, i, 0x0a7, 0) * Math.max(0, durationMs - 40_000));
    const length = Math.round(OUTAGE_MS[0] + unit(seed, i, 0x0a7, 1) * (OUTAGE_MS[1] - OUTAGE_MS[0]));
    outages.push({
      node: unit(seed, i, 0x0a7, 2) < 0.5 ? 'primary' : 'secondary',
      from,
      until: from + length,
    });
  }
  return {
    seed,
    lose: rate,
    duplicate: rate,
    delay: rate,
    delayMs: [0, 500],
    putFail: rate / 10,
    putStall: rate,
    putStallMs: [0, 2000],
    redeliveryMs: 1000,
    maxReceives: 5,
    outages,
  };
}

/** Recomputes every injected fault and its time from the messages sent (fault draws are pure functions). */
export function faultEvents(
  result: EmbeddedResult,
  params: ColoParams,
  model: FaultModel,
  durationMs: number,
): FaultEvent[] {
  const events: FaultEvent[] = [];
  const k = { primary: 0, secondary: 0 };
  const from = model.from ?? 0;
  const until = model.until ?? Number.POSITIVE_INFINITY;
  for (const m of result.messages) {
    if (m.at < from || m.at >= until) continue;
    // The engine's primary never sends `skip` itself: one from the primary is a retired delta.
    const hasObject = m.from === 'primary' && (m.type === 'delta' || m.type === 'skip');
    const fate = fateOf(model, params.seed, m.from === 'primary' ? 0 : 1, k[m.from]++, hasObject);
    for (let i = 0; i < fate.failedAttempts; i++) events.push({ kind: 'lose', at: m.at });
    if (fate.deadLettered) events.push({ kind: 'dead-letter', at: m.at });
    else if (fate.duplicateAfterMs !== null) events.push({ kind: 'duplicate', at: m.at });
    if (fate.delayMs > 0) events.push({ kind: 'delay', at: m.at });
    if (fate.retired) events.push({ kind: 'put-fail', at: m.at });
    if (fate.stallMs > 0) events.push({ kind: 'put-stall', at: m.at });
  }
  for (const o of model.outages ?? []) {
    if (o.from < durationMs) events.push({ kind: 'outage', at: o.from });
  }
  return events.sort((a, b) => a.at - b.at);
}

/**
 * The faults that most likely ended replication at `at`: a node outage in progress, else the kinds of
 * fault that hit messages in the heartbeat timeout plus the largest fault delay before it.
 */
function causeOf(
  events: FaultEvent[],
  model: FaultModel | undefined,
  at: number,
  params: ColoParams,
): string {
  const down = (model?.outages ?? []).filter((o) => o.from <= at && at < o.until + params.heartbeatTimeoutMs);
  if (down.length > 0) return `${down.map((o) => o.node).join(' and ')} outage`;
  const window = params.heartbeatTimeoutMs + 2500 + (model?.redeliveryMs ?? 1000);
  const kinds = [
    ...new Set(events.filter((e) => e.at >= at - window && e.kind !== 'outage').map((e) => e.kind)),
  ];
  return kinds.length > 0 ? kinds.sort().join(' + ') : 'no fault nearby';
}

/** Runs one case and checks it. */
export function runSoakCase(c: SoakCase): SoakRunResult {
  const { params } = c;
  const violations: string[] = [];
  const stopDigests = new Map<number, string>();
  let bothActive = -1;
  let checkpointAfterTakeover = -1;
  let badCommit: string | null = null;
  let takeoverAt = Number.POSITIVE_INFINITY;
  const t0 = performance.now();
  const result = runEmbedded({
    params,
    link: c.link,
    durationMs: c.durationMs,
    ...(c.model ? { faults: { model: c.model } } : {}),
    // The checks read the message log only, to recompute the faults.
    keep: { rounds: false, pendingChecks: false, messages: c.model !== undefined },
    observe: (at, p, s, fx) => {
      if (p.txn?.digest) stopDigests.set(p.epoch, p.txn.digest);
      if (bothActive < 0 && p.phase === 'exited' && s.phase === 'failed-over') bothActive = at;
      if (s.phase === 'failed-over') takeoverAt = Math.min(takeoverAt, at);
      for (const e of fx) {
        if (e.type === 'checkpoint' && at > takeoverAt && checkpointAfterTakeover < 0)
          checkpointAfterTakeover = at;
        if (e.type === 'commit' && badCommit === null && e.digest !== stopDigests.get(e.epoch)) {
          badCommit = `epoch ${e.epoch} committed at ${at} ms is not the PVM image at its stop`;
        }
      }
    },
  });
  const wallMs = performance.now() - t0;
  if (badCommit) violations.push(badCommit);
  if (bothActive >= 0) violations.push(`both sides active at ${bothActive} ms`);
  if (checkpointAfterTakeover >= 0)
    violations.push(`a checkpoint completed at ${checkpointAfterTakeover} ms, after the takeover`);
  const initial = zeroImageDigest(params.seed, params.guestBytes / PAGE_SIZE);
  const lastCommit = result.commits.at(-1)?.digest ?? initial;
  if (result.final.committedDigest !== lastCommit)
    violations.push('the committed image is not exactly the last committed checkpoint');
  const v = verifyRun(result, params, { expectRejections: c.model !== undefined, stopDigests });
  for (const p of v.problems) violations.push(`verification: ${p}`);
  const fence = result.fence;
  if (fence !== null) {
    const winner = fence.owner === 'primary' ? result.primary.phase : result.secondary.phase;
    const want = fence.owner === 'primary' ? 'exited' : 'failed-over';
    if (winner !== want) violations.push(`the ${fence.owner} won the fence but is ${winner}, not ${want}`);
    const loser = fence.owner === 'primary' ? 'secondary' : 'primary';
    const loserPhase = loser === 'primary' ? result.primary.phase : result.secondary.phase;
    const down = outageEnd(c.model, loser, c.durationMs - 1) !== undefined;
    if (loserPhase !== 'fenced' && !down) violations.push(`the ${loser} lost the fence but is ${loserPhase}`);
  } else if (!c.model && result.checkpoints.length === 0) {
    violations.push('a clean run completed no checkpoint');
  }
  const events = c.model ? faultEvents(result, params, c.model, c.durationMs) : [];
  // Cross-check the recomputed faults with the runtime's own counts.
  const stats = result.faultStats;
  const count = (k: FaultKind) => events.filter((e) => e.kind === k).length;
  const expected: [FaultKind, number][] = [
    ['lose', stats.lost],
    ['dead-letter', stats.deadLettered],
    ['duplicate', stats.duplicated],
    ['delay', stats.delayed],
    ['put-fail', stats.retired],
    ['put-stall', stats.stalled],
  ];
  for (const [k, n] of expected) {
    if (count(k) !== n) violations.push(`fault count ${k}: recomputed ${count(k)}, runtime ${n}`);
  }
  // Faults after replication ended hit nothing that is replicated: they are left out of the figures.
  const endedAt = result.fence?.at ?? Number.POSITIVE_INFINITY;
  const counted = events.filter((e) => e.at <= endedAt);
  const done = result.checkpoints
    .map((r) => r.requestedAt + r.messageMs + r.downtimeMs)
    .sort((a, b) => a - b);
  const recoveryMs = counted.map((e) => {
    const next = done.find((t) => t >= e.at);
    return next === undefined ? null : next - e.at;
  });
  return {
    name: c.name,
    policy: params.policy,
    payload: params.payload,
    faulty: c.model !== undefined,
    violations,
    outcome: outcomeOf(result),
    faultStats: c.model ? stats : noFaults(),
    events: counted,
    cause: fence ? causeOf(counted, c.model, fence.at, params) : null,
    recoveryMs,
    downtimes: result.checkpoints.map((r) => r.downtimeMs),
    checkpoints: result.checkpoints.length,
    durationMs: c.durationMs,
    wallMs,
  };
}

/** The cases of a soak: every policy × seed with faults, one materialised faulty run, clean baselines. */
export function soakCases(o: SoakOptions): SoakCase[] {
  const cases: SoakCase[] = [];
  for (const policy of o.policies) {
    for (const seed of o.seeds) {
      cases.push({
        name: `${policy} seed ${seed}`,
        params: soakParams(policy, 'modelled', seed),
        link: SOAK_LINK,
        durationMs: o.durationMs,
        model: soakModel(o.rate, o.outagesPerHour, seed, o.durationMs),
      });
    }
  }
  const seed = o.seeds[0] ?? 1;
  const policy = o.policies.includes('fixed') ? 'fixed' : (o.policies[0] ?? 'fixed');
  cases.push({
    name: `${policy} seed ${seed} materialised`,
    params: soakParams(policy, 'materialised', seed),
    link: SOAK_LINK,
    durationMs: o.durationMs,
    model: soakModel(o.rate, o.outagesPerHour, seed, o.durationMs),
  });
  for (const p of o.policies) {
    cases.push({
      name: `${p} clean`,
      params: soakParams(p, 'modelled', seed),
      link: SOAK_LINK,
      durationMs: o.durationMs,
    });
  }
  return cases;
}

/** Figures over a soak's runs. */
export interface SoakFigures {
  runs: number;
  faultyRuns: number;
  /** Faulty runs still replicating at the end, and those that ended with one side owning the VM. */
  survived: number;
  failedOver: number;
  /** Runs that broke a guarantee. */
  violations: { name: string; violation: string }[];
  /**
   * Per fault kind: injected; followed by a completed checkpoint; not, in a run that ended in a failover;
   * not, in a run still replicating (the run ended before the next checkpoint).
   */
  byKind: Record<FaultKind, { injected: number; recovered: number; failover: number; runEnd: number }>;
  /** Time from a fault to the next completed checkpoint, ms. */
  recoveryMs: { p50: number; p99: number; max: number; n: number };
  /** Failovers by who won and why (numbers in the reason replaced by N). */
  failoverCauses: Record<string, number>;
  /** Checkpoints completed in faulty and clean runs. */
  checkpoints: { faulty: number; clean: number };
  /** Downtime per policy with and without faults, ms. */
  downtime: Record<
    string,
    { faulty: { p50: number; p99: number; n: number }; clean: { p50: number; p99: number; n: number } }
  >;
  /** Simulated and wall-clock time, s. */
  simulatedS: number;
  wallS: number;
}

/** Aggregates runs into figures. */
export function soakFigures(runs: SoakRunResult[]): SoakFigures {
  const faulty = runs.filter((r) => r.faulty);
  const byKind = Object.fromEntries(
    FAULT_KINDS.map((k) => [k, { injected: 0, recovered: 0, failover: 0, runEnd: 0 }]),
  ) as SoakFigures['byKind'];
  const recovery: number[] = [];
  const failoverCauses: Record<string, number> = {};
  const downtime: SoakFigures['downtime'] = {};
  const stat = (xs: number[]) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), n: xs.length });
  for (const r of faulty) {
    r.events.forEach((e, i) => {
      const slot = byKind[e.kind];
      slot.injected++;
      const t = r.recoveryMs[i];
      if (t === null || t === undefined) {
        if (r.outcome.state === 'replicating') slot.runEnd++;
        else slot.failover++;
      } else {
        slot.recovered++;
        recovery.push(t);
      }
    });
    if (r.outcome.state !== 'replicating') {
      const who =
        r.outcome.state === 'secondary-took-over'
          ? 'secondary took over'
          : r.outcome.state === 'primary-alone'
            ? 'primary alone'
            : 'claim unanswered at the end';
      const why = (r.outcome.reason ?? '').replace(/[0-9]+(\.[0-9]+)?/g, 'N');
      const key = `${who}: ${why} (after: ${r.cause ?? '?'})`;
      failoverCauses[key] = (failoverCauses[key] ?? 0) + 1;
    }
  }
  const policies = [...new Set(runs.map((r) => r.policy))];
  for (const p of policies) {
    const pick = (f: boolean) =>
      runs
        .filter((r) => r.policy === p && r.faulty === f && r.payload === 'modelled')
        .flatMap((r) => r.downtimes);
    downtime[p] = { faulty: stat(pick(true)), clean: stat(pick(false)) };
  }
  return {
    runs: runs.length,
    faultyRuns: faulty.length,
    survived: faulty.filter((r) => r.outcome.state === 'replicating').length,
    failedOver: faulty.filter((r) => r.outcome.state !== 'replicating').length,
    violations: runs.flatMap((r) => r.violations.map((violation) => ({ name: r.name, violation }))),
    byKind,
    recoveryMs: {
      p50: percentile(recovery, 50),
      p99: percentile(recovery, 99),
      max: recovery.length ? Math.max(...recovery) : 0,
      n: recovery.length,
    },
    failoverCauses,
    checkpoints: {
      faulty: faulty.reduce((a, r) => a + r.checkpoints, 0),
      clean: runs.filter((r) => !r.faulty).reduce((a, r) => a + r.checkpoints, 0),
    },
    downtime,
    simulatedS: runs.reduce((a, r) => a + r.durationMs, 0) / 1000,
    wallS: runs.reduce((a, r) => a + r.wallMs, 0) / 1000,
  };
}

const s1 = (ms: number) => (ms / 1000).toFixed(1);

/** Renders the figures as Markdown (the generated section of docs/reliability.md). */
export function renderSoak(o: SoakOptions, runs: SoakRunResult[], f: SoakFigures): string {
  const p = soakParams('fixed', 'modelled', 1);
  const out: string[] = [];
  out.push(
    `Generated by \`npm run soak -- --rate ${+(o.rate * 100).toFixed(3)}% --outages ${o.outagesPerHour}\`: ` +
      `${f.runs} runs of ${s1(o.durationMs)} s simulated each (${f.faultyRuns} with faults: policies ` +
      `${o.policies.join(', ')} × seeds ${o.seeds.join(', ')} with modelled payloads, plus one materialised; ` +
      `${f.runs - f.faultyRuns} clean baselines), ${f.wallS.toFixed(0)} s of wall time. Faults per message: ` +
      `lose, duplicate, delay (0–500 ms), put-stall (0–2 s) at ${+(o.rate * 100).toFixed(3)} % each, put-fail at ` +
      `${+(o.rate * 10).toFixed(3)} %; ${o.outagesPerHour} node outages per hour (${s1(OUTAGE_MS[0])}–` +
      `${s1(OUTAGE_MS[1])} s, either node). VM: 256 MiB guest (16 MiB materialised), hot/cold workload, ` +
      `checkpoint every ${s1(p.checkpointDelayMs)} s, 1 Gbit/s link, heartbeat every ${s1(p.heartbeatIntervalMs)} s ` +
      `with a ${s1(p.heartbeatTimeoutMs)} s timeout, apply timeout ${s1(p.applyTimeoutMs)} s, checkpoint ` +
      `timeout ${s1(p.checkpointTimeoutMs)} s.`,
    '',
    `**Guarantees:** ${f.violations.length === 0 ? 'held in every run' : `${f.violations.length} violations`} ` +
      '(committed image exactly one checkpoint; never both sides active; ended verified consistent, ' +
      'still replicating or with exactly one side owning the VM and the other fenced).',
    '',
    `**Runs with faults:** ${f.survived} still replicating after ${s1(o.durationMs)} s, ${f.failedOver} ended ` +
      'in a fenced failover.',
    '',
    '| fault | injected | survived (a checkpoint completed after it) | none after it: run ended in failover | none after it: end of the run |',
    '|---|---:|---:|---:|---:|',
  );
  for (const k of FAULT_KINDS) {
    const b = f.byKind[k];
    out.push(`| ${k} | ${b.injected} | ${b.recovered} | ${b.failover} | ${b.runEnd} |`);
  }
  out.push(
    '',
    `Recovery time (a fault to the next completed checkpoint, ${f.recoveryMs.n} faults): ` +
      `p50 ${s1(f.recoveryMs.p50)} s, p99 ${s1(f.recoveryMs.p99)} s, max ${s1(f.recoveryMs.max)} s ` +
      '(it includes the wait for the next periodic checkpoint, every 10 s).',
    '',
    `Checkpoints completed: ${f.checkpoints.faulty} in the runs with faults, ${f.checkpoints.clean} in the ` +
      'clean runs.',
    '',
    '| failovers by cause | runs |',
    '|---|---:|',
  );
  const causes = Object.entries(f.failoverCauses).sort((a, b) => b[1] - a[1]);
  if (causes.length === 0) out.push('| (none) | 0 |');
  for (const [cause, n] of causes) out.push(`| ${cause} | ${n} |`);
  out.push(
    '',
    '| policy | downtime p50 clean (ms) | p50 with faults | p99 clean | p99 with faults |',
    '|---|---:|---:|---:|---:|',
  );
  for (const [p, d] of Object.entries(f.downtime)) {
    out.push(
      `| ${p} | ${d.clean.p50.toFixed(1)} | ${d.faulty.p50.toFixed(1)} | ${d.clean.p99.toFixed(1)} | ` +
        `${d.faulty.p99.toFixed(1)} |`,
    );
  }
  out.push(
    '',
    '| run | outcome | checkpoints | faults | dead-lettered | wall (s) |',
    '|---|---|---:|---:|---:|---:|',
  );
  for (const r of runs) {
    const what = r.outcome.state === 'replicating' ? 'replicating' : r.outcome.text;
    out.push(
      `| ${r.name} | ${what.replace(/\|/g, '\\|')} | ${r.checkpoints} | ${r.events.length} | ` +
        `${r.faultStats.deadLettered} | ${s1(r.wallMs)} |`,
    );
  }
  return out.join('\n');
}
