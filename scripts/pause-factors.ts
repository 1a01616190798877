/**
 * What QEMU's pause depends on besides the dirty pages, over runs kept by `npm run fidelity -- --keep-work`
 * (src/fidelity/pause-factors.ts). No QEMU: it reads the kept traces and link reads, and runs the engine with
 * the shipped profile for the prediction the fidelity check makes.
 *
 *   npx tsx scripts/pause-factors.ts DIR [DIR ...]
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cutCheckpoints } from '../src/fidelity/checkpoints.ts';
import { TOLERANCE as CHECK_TOLERANCE } from '../src/fidelity/compare.ts';
import { runEngineScenario } from '../src/fidelity/engine-scenario.ts';
import { engineFigures } from '../src/fidelity/figures.ts';
import { fitLine, median } from '../src/fidelity/fit.ts';
import {
  bands,
  fitWithTerm,
  HOLD_MS,
  held,
  lineSlopes,
  type PauseRow,
  pauseRows,
  type TermFit,
  termRange,
  withinSlope,
} from '../src/fidelity/pause-factors.ts';
import { parseKeptRuns } from '../src/fidelity/pooled.ts';
import { loadRun } from '../src/fidelity/qemu-pair.ts';
import { parseQemuTrace } from '../src/fidelity/qemu-trace.ts';
import { SCENARIOS, scenarioWindows } from '../src/fidelity/run-fidelity.ts';
import { LINK_PROFILES } from '../src/parameters/link-profiles.ts';

/** The fidelity check's tolerance on the pause (±25 %). */
const TOLERANCE = CHECK_TOLERANCE.pause;
/** Linux's least retransmission timeout, ms: an idle sender longer than this restarts its window (RFC 2861). */
const RTO_MIN_MS = 200;

interface Window {
  pages: number;
  delayMs: number;
  window: number;
  rows: PauseRow[];
}

const dirs = process.argv.slice(2).map((d) => resolve(d));
if (dirs.length === 0) {
  process.stderr.write(
    'usage: npx tsx scripts/pause-factors.ts DIR [DIR ...] (work directories of kept runs)\n',
  );
  process.exit(2);
}
const out = (line = '') => process.stdout.write(`${line}\n`);
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)} %`;

/** The engine's pause with the shipped profile, per scenario (median of its steady checkpoints), ms. */
function enginePause(pages: number, delayMs: number): number {
  const p = LINK_PROFILES['qemu-tcg-loopback'];
  const run = runEngineScenario({
    pages,
    delayMs,
    durationMs: 6_000,
    deviceStateBytes: p.deviceStateBytes,
    link: { bandwidthBytesPerSec: p.bandwidthBytesPerSec, latencyMs: p.latencyMs },
    costs: p.costs,
    failover: false,
  });
  return median(
    engineFigures(run.checkpoints)
      .filter((f) => f.pages === pages)
      .map((f) => f.pauseMs),
  );
}

const runs: { dir: string; windows: Window[] }[] = dirs.map((dir) => ({
  dir,
  windows: scenarioWindows().map(({ scenario, window }) => {
    const raw = loadRun(join(dir, `run-${scenario.pages}p-${scenario.delayMs}ms-w${window}`), scenario);
    const pe = parseQemuTrace(raw.primaryLog).events;
    const se = parseQemuTrace(raw.secondaryLog).events;
    const p = cutCheckpoints(pe, 'primary');
    const s = cutCheckpoints(se, 'secondary');
    p.checkpoints = p.checkpoints.filter((c) => c.requestAt <= raw.endAt);
    const rows = pauseRows(p, s, pe, se, raw.link).filter((r) => r.pages === scenario.pages);
    return { pages: scenario.pages, delayMs: scenario.delayMs, window, rows };
  }),
}));
const sizes = SCENARIOS.map((s) => s.pages).sort((a, b) => a - b);
const delayOf = (pages: number) => SCENARIOS.find((s) => s.pages === pages)?.delayMs ?? Number.NaN;
const rowsAt = (r: (typeof runs)[number], pages: number) =>
  r.windows.filter((w) => w.pages === pages).flatMap((w) => w.rows);
const predicted = new Map(sizes.map((p) => [p, enginePause(p, delayOf(p))]));

out(`# The pause's factors (${HOLD_MS} ms and more between two points of the send: a delayed-ACK hold)`);
for (const r of runs) {
  out();
  out(`## ${r.dir}`);
  out();
  out(
    '| pages | delay | n | pause median | without a hold | held: QEMU socket / relay | flow median | received → resume | idle gap median | shipped profile (error) |',
  );
  out('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const pages of sizes) {
    const rows = rowsAt(r, pages);
    const m = median(rows.map((x) => x.pauseMs));
    const e = predicted.get(pages) ?? Number.NaN;
    out(
      `| ${pages} | ${delayOf(pages)} ms | ${rows.length} | ${ms(m)} | ${ms(median(rows.filter((x) => !held(x)).map((x) => x.pauseMs)))} | ` +
        `${rows.filter((x) => x.silenceMs >= HOLD_MS).length} / ${rows.filter((x) => x.relayHoldMs >= HOLD_MS).length} | ` +
        `${ms(median(rows.map((x) => x.flowMs)))} | ${ms(median(rows.map((x) => x.restMs)))} | ${ms(median(rows.map((x) => x.gapMs)))} | ` +
        `${ms(e)} (${pct((e - m) / m)}) |`,
    );
  }
  // Inside a window the size, the delay and (mostly) the load are fixed: what moves with the gap there is the gap's.
  const groups = (pick: (x: PauseRow) => number, keep: (x: PauseRow) => boolean = () => true) =>
    r.windows.map((w) => w.rows.filter(keep).map((x) => ({ x: x.gapMs, y: pick(x) })));
  const slope = (g: ReturnType<typeof groups>) => {
    const s = withinSlope(g);
    return `${s.slope.toFixed(3)} ± ${s.se.toFixed(3)} ms/ms (n ${s.n})`;
  };
  out();
  out(
    `- pause on the idle gap inside each window: ${slope(groups((x) => x.pauseMs))}; without held sends: ${slope(
      groups(
        (x) => x.pauseMs,
        (x) => !held(x),
      ),
    )}`,
  );
  out(`- flow on the idle gap inside each window: ${slope(groups((x) => x.flowMs))}`);
  out(
    `- stop → the first MiB read on the link (a window restarted after idle would slow it), window medians: ` +
      r.windows
        .map((w) => `${w.pages}/${w.delayMs} ms ${ms(median(w.rows.map((x) => x.firstBytesMs)))}`)
        .join(', '),
  );
  const short = r.windows.filter((w) => w.delayMs === Math.min(...SCENARIOS.map((s) => s.delayMs)));
  const b2b = short.flatMap((w) => w.rows.filter((x) => x.backToBack));
  const waited = short.flatMap((w) => w.rows.filter((x) => !x.backToBack && Number.isFinite(x.gapMs)));
  out(
    `- ${short[0]?.delayMs} ms windows: back-to-back starts ${b2b.length}, pause median ${ms(median(b2b.map((x) => x.pauseMs)))} ms ` +
      `(held ${b2b.filter(held).length}); after a wait ${waited.length}, ${ms(median(waited.map((x) => x.pauseMs)))} ms (held ${waited.filter(held).length})`,
  );
  const position = withinSlope(r.windows.map((w) => w.rows.map((x) => ({ x: x.index, y: x.pauseMs }))));
  out(
    `- pause on the checkpoint's place in its window: ${position.slope.toFixed(2)} ± ${position.se.toFixed(2)} ms per checkpoint; ` +
      `first / second window of each size (the mirrored order: early / late in the run): ` +
      sizes
        .map((pages) => {
          const w = r.windows.filter((x) => x.pages === pages);
          return `${pages} ${w.map((x) => ms(median(x.rows.map((y) => y.pauseMs)))).join(' / ')}`;
        })
        .join(', '),
  );
}

/** The pause less the relay's own hold beyond its usual hop (what a relay with no Nagle of its own would show), ms. */
const withoutRelayHold = (x: PauseRow) =>
  x.relayHoldMs >= HOLD_MS ? x.pauseMs - x.relayHoldMs + relayHopMs : x.pauseMs;
const relayHopMs = median(
  runs.flatMap((r) => r.windows.flatMap((w) => w.rows.map((x) => x.relayHoldMs).filter((h) => h < HOLD_MS))),
);
const medians = (pick: (x: PauseRow) => number, keep: (x: PauseRow) => boolean = () => true) =>
  runs.map((r) =>
    sizes.map((pages) => ({ pages, medianMs: median(rowsAt(r, pages).filter(keep).map(pick)) })),
  );
const gapOf = new Map(sizes.map((p) => [p, median(runs.flatMap((r) => rowsAt(r, p).map((x) => x.gapMs)))]));
const describe = (name: string, ms0: ReturnType<typeof medians>) => {
  const bs = bands(ms0, TOLERANCE);
  out();
  out(`## ${name}`);
  out();
  out(
    `Shipped profile against each run's median: ${ms0
      .map(
        (run, i) =>
          `${runs[i]?.dir}: ${run.map((p) => `${p.pages} ${pct(((predicted.get(p.pages) ?? Number.NaN) - p.medianMs) / p.medianMs)}`).join(', ')}`,
      )
      .join('; ')}`,
  );
  out();
  out(
    `Predictions within ${100 * TOLERANCE} % of every run's median: ` +
      bs.map((b) => `${b.pages} pages ${ms(b.lo)}–${ms(b.hi)} ms${b.lo > b.hi ? ' (none)' : ''}`).join('; '),
  );
  const line = lineSlopes(bs);
  out(
    `- a line in the pages: ${line.min <= line.max && line.max >= 0 ? `slopes ${line.min.toFixed(5)}–${line.max.toFixed(5)} ms/page` : `none (slope at least ${line.min.toFixed(5)}, at most ${line.max.toFixed(5)} ms/page)`}`,
  );
  const step = termRange(bs, (p) => ((gapOf.get(p) ?? 0) > RTO_MIN_MS ? 1 : 0), -100, 100, 2000);
  out(
    `- a line plus c where the idle gap passes ${RTO_MIN_MS} ms (a restarted TCP window): ${step ? `c ${ms(step.min)}–${ms(step.max)} ms` : 'none for any c in ±100 ms'}`,
  );
  const linear = termRange(bs, (p) => gapOf.get(p) ?? 0, -0.2, 0.2, 4000);
  out(
    `- a line plus c · the size's median idle gap (${sizes.map((p) => `${p}: ${ms(gapOf.get(p) ?? Number.NaN)}`).join(', ')} ms): ${linear ? `c ${linear.min.toFixed(4)}–${linear.max.toFixed(4)} ms/ms` : 'none for any c in ±0.2 ms/ms'}`,
  );
};
describe(
  'Every checkpoint (the check as it is)',
  medians((x) => x.pauseMs),
);
describe(
  'Checkpoints without a held send (either hop)',
  medians(
    (x) => x.pauseMs,
    (x) => !held(x),
  ),
);
describe(
  `Every checkpoint, less the relay's own hold (beyond its usual ${ms(relayHopMs)} ms hop)`,
  medians(withoutRelayHold),
);

// The profile's own calibration data (fidelity/runs.json: per-size medians of the kept runs, none of them these
// runs) fitted with and without a term in the gap: does the term, fitted where the profile is, meet these runs?
const kept = parseKeptRuns(readFileSync(resolve(import.meta.dirname, '..', 'fidelity', 'runs.json'), 'utf8'));
const keptPoints = (rs: typeof kept, term: (pages: number) => number) =>
  rs.flatMap((r) =>
    r.points.map((p) => ({ pages: p.pages, term: term(p.pages), medianMs: p.pauseMedianMs })),
  );
const passes = (
  f: TermFit,
  term: (pages: number) => number,
  ps: readonly { pages: number; medianMs: number }[],
) =>
  ps.every(
    (p) =>
      Math.abs(f.intercept + f.slope * p.pages + f.c * term(p.pages) - p.medianMs) <= TOLERANCE * p.medianMs,
  );
out();
out(`## Fitted over fidelity/runs.json (${kept.length} runs), checked on these runs' medians`);
out();
for (const [name, term] of [
  ['a line in the pages', () => 0],
  ["plus c · the size's median idle gap", (p: number) => gapOf.get(p) ?? 0],
  [
    `plus c where the idle gap passes ${RTO_MIN_MS} ms`,
    (p: number) => ((gapOf.get(p) ?? 0) > RTO_MIN_MS ? 1 : 0),
  ],
] as const) {
  const fitOver = (rs: typeof kept): TermFit => {
    if (name === 'a line in the pages') {
      const l = fitLine(
        keptPoints(rs, term).map((p) => ({ x: p.pages, y: p.medianMs })),
        true,
      );
      return { intercept: l.intercept, slope: l.slope, c: 0 };
    }
    return fitWithTerm(keptPoints(rs, term));
  };
  const f = fitOver(kept);
  const loo = kept.filter((r, i) =>
    passes(
      fitOver(kept.filter((_, j) => j !== i)),
      term,
      r.points.map((p) => ({ pages: p.pages, medianMs: p.pauseMedianMs })),
    ),
  ).length;
  out(
    `- ${name}: ${f.intercept.toFixed(1)} ms + ${f.slope.toFixed(5)} ms/page${f.c !== 0 ? ` + c ${f.c.toFixed(4)}` : ''}; ` +
      `fidelity/runs.json leave-one-out ${loo} of ${kept.length} runs with every size within; these runs: ` +
      medians((x) => x.pauseMs)
        .map(
          (run, i) =>
            `${runs[i]?.dir} ${run
              .map((p) => {
                const e = f.intercept + f.slope * p.pages + f.c * term(p.pages);
                return `${p.pages} ${pct((e - p.medianMs) / p.medianMs)}`;
              })
              .join(', ')}`,
        )
        .join('; '),
  );
}

// In-run split-half (fid22's rule: a window's k-th checkpoint is in half A when k mod 4 is 0 or 3): a line
// through half A's per-size medians, checked against half B's, with the pause as measured and less the relay's
// own hold.
out();
out("## In-run split-half (line through half A's per-size medians, checked on half B's)");
out();
for (const [name, pick] of [
  ['as measured', (x: PauseRow) => x.pauseMs],
  ["less the relay's own hold", withoutRelayHold],
] as const) {
  for (const r of runs) {
    const half = (a: boolean) =>
      sizes.map((pages) => ({
        x: pages,
        y: median(
          r.windows
            .filter((w) => w.pages === pages)
            .flatMap((w) => w.rows.filter((_, k) => (k % 4 === 0 || k % 4 === 3) === a).map(pick)),
        ),
      }));
    const line = fitLine(half(true), true);
    const errs = half(false).map((p) => ({ pages: p.x, e: (line.intercept + line.slope * p.x - p.y) / p.y }));
    out(
      `- ${name}, ${r.dir}: ${errs.map((x) => `${x.pages} ${pct(x.e)}`).join(', ')}` +
        `${errs.every((x) => Math.abs(x.e) <= TOLERANCE) ? ' (every size within)' : ''}`,
    );
  }
}
