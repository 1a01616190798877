/**
 * The policy grid, run by `bench/run.ts` (group `policies`): workloads × links × policies on a 1 GiB guest
 * with QEMU's 20 s checkpoint delay, several seeds, modelled payloads. Per cell: downtime p50 / p99 over
 * every checkpoint of every seed, the p99 against the clairvoyant floor (bench/floor.ts) of the same
 * checkpoints, the cut against `none`, MiB at checkpoints / in the background / wasted (all in wire bytes:
 * a zero page is its 16-byte header everywhere) and total bytes against `none`. Also the engine's speed
 * (simulated seconds per wall second, modelled and materialised), the materialised path against a per-page
 * `Buffer.copy` of the same pages measured in the same run, and memory over simulated time.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { percentile } from '../src/engine/metrics/summary.ts';
import {
  type ColoParams,
  DEFAULT_PARAMS,
  PAGE_HEADER_WIRE_BYTES,
  type PolicyName,
} from '../src/engine/params.ts';
import { PAGE_SIZE } from '../src/engine/protocol/delta.ts';
import type { WorkloadSpec } from '../src/engine/workload/spec.ts';
import type { LinkParams } from '../src/runtime/embedded/link.ts';
import { type EmbeddedResult, runEmbedded, TOTALS_ONLY } from '../src/runtime/embedded/run.ts';
import { onlineHotSetBound, runFloors } from './floor.ts';
import type { BenchOptions, BenchResult, BenchRow } from './harness.ts';

const MIB = 2 ** 20;
/** One simulated hour, ms: the span the issue's speed target is read over. */
export const HOUR_MS = 3_600_000;
const GIB = 2 ** 30;

/** The grid's workloads on a 1 GiB guest (262 144 pages); rates in pages per second of guest time. */
export const GRID_WORKLOADS: readonly { name: string; spec: WorkloadSpec }[] = [
  { name: 'idle', spec: { kind: 'idle' } },
  { name: 'uniform', spec: { kind: 'uniform', rate: 20_000 } },
  { name: 'hot/cold', spec: { kind: 'hotcold', hotPages: 4096, hotRate: 4000, coldRate: 2500 } },
  { name: 'zipf', spec: { kind: 'zipf', rate: 20_000, exponent: 1.1 } },
  { name: 'sequential', spec: { kind: 'sequential', rate: 20_000 } },
  { name: 'buffered-io', spec: { kind: 'buffered-io', rate: 20_000, hotPages: 32_768, tail: 0.02 } },
  // fio-like buffered writes: a 512 MiB file's page cache rewritten front to back at 100 MiB/s.
  { name: 'fio', spec: { kind: 'sequential', rate: 25_600, spanPages: 131_072 } },
];

/** Links of the grid, Gbit/s. */
export const GRID_LINKS_GBIT: readonly number[] = [1, 10, 25];
/** Policies of the grid. */
export const GRID_POLICIES: readonly PolicyName[] = ['none', 'fixed', 'adaptive'];

/** One run of one cell on one seed. */
interface SeedRun {
  downtimes: number[];
  floors: number[];
  checkpointBytes: number;
  backgroundBytes: number;
  wastedBytes: number;
  simulatedMs: number;
  wallMs: number;
  cpuMs: number;
}

/** A cell's figures over its seeds. */
export interface Cell {
  workload: string;
  gbit: number;
  policy: PolicyName;
  p50: number;
  p99: number;
  floorP99: number;
  /** Checkpoints pooled over seeds. */
  checkpoints: number;
  /** Seeds run. */
  seeds: number;
  /** Per run (mean over seeds), MiB. */
  checkpointMiB: number;
  backgroundMiB: number;
  wastedMiB: number;
  /** Simulated seconds per wall second. */
  speed: number;
  /** Simulated seconds per CPU second of this process (less sensitive to a shared machine's load). */
  cpuSpeed: number;
  /**
   * Simulated time, ms, of the run the two speeds come from: one run of the first seed made for them alone
   * (the issue's target is over a simulated hour; a run's first minutes are slower), or the seeds' runs
   * together when none was made.
   */
  speedMs: number;
}

/** Parameters of a grid run. */
export function gridParams(spec: WorkloadSpec, policy: PolicyName, seed: number): ColoParams {
  return { ...DEFAULT_PARAMS, guestBytes: GIB, workload: spec, policy, seed, payload: 'modelled' };
}

/** A link of `gbit` Gbit/s with the default 0.1 ms latency. */
export function gridLink(gbit: number): LinkParams {
  return { bandwidthBytesPerSec: (gbit * 1e9) / 8, latencyMs: 0.1 };
}

/**
 * Runs the embedded runtime and records the guest running time at every checkpoint stop (what the floor is
 * computed from); the wall time covers the run only.
 */
export function runWithStops(
  params: ColoParams,
  link: LinkParams,
  durationMs: number,
): { result: EmbeddedResult; guestStops: number[]; wallMs: number; cpuMs: number } {
  const stops = new Map<number, number>();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const result = runEmbedded({
    params,
    link,
    durationMs,
    observe: (_at, p) => {
      if (p.txn && !Number.isNaN(p.txn.stopAt) && !stops.has(p.epoch)) stops.set(p.epoch, p.guestTime);
    },
  });
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const guestStops = result.checkpoints.map((c) => stops.get(c.epoch) ?? Number.NaN);
  return { result, guestStops, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function runSeed(
  spec: WorkloadSpec,
  gbit: number,
  policy: PolicyName,
  seed: number,
  durationMs: number,
): SeedRun {
  const params = gridParams(spec, policy, seed);
  const link = gridLink(gbit);
  const { result, guestStops, wallMs, cpuMs } = runWithStops(params, link, durationMs);
  // Bytes of completed epochs only (a run's last, unfinished epoch has background rounds but no checkpoint).
  const sum = (f: (c: (typeof result.checkpoints)[number]) => number) =>
    result.checkpoints.reduce((a, c) => a + f(c), 0);
  return {
    downtimes: result.checkpoints.map((c) => c.downtimeMs),
    floors: runFloors(params, link, guestStops).map((f) => f.floorMs),
    checkpointBytes: sum((c) => c.bytes),
    backgroundBytes: sum((c) => c.backgroundBytes),
    wastedBytes: sum((c) => c.wastedBytes),
    simulatedMs: durationMs,
    wallMs,
    cpuMs,
  };
}

/** Which cells of the grid to run (every one when a field is absent). */
export interface GridFilter {
  workloads?: readonly string[];
  links?: readonly number[];
  policies?: readonly string[];
  /** Cells as `workload:gbit:policy`; `*` (or an empty part) matches any. */
  cells?: readonly string[];
}

/** True when the cell pattern `workload:gbit:policy` names this cell. */
export function cellMatches(pattern: string, workload: string, gbit: number, policy: string): boolean {
  const [w = '*', g = '*', p = '*'] = pattern.split(':');
  const any = (x: string) => x === '*' || x === '';
  return (any(w) || w === workload) && (any(g) || Number(g) === gbit) && (any(p) || p === policy);
}

/**
 * Engine speed of one cell over `durationMs` of simulated time on `seed`: simulated ms per wall ms and per
 * CPU ms of this process.
 */
export function cellSpeed(
  spec: WorkloadSpec,
  gbit: number,
  policy: PolicyName,
  seed: number,
  durationMs: number,
): { speed: number; cpuSpeed: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  runEmbedded({ params: gridParams(spec, policy, seed), link: gridLink(gbit), durationMs });
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return {
    speed: durationMs / Math.max(1e-9, wallMs),
    cpuSpeed: durationMs / Math.max(1e-9, (cpu.user + cpu.system) / 1000),
  };
}

/**
 * Runs every cell of the grid that `filter` lets through. With `speedMs`, each cell's speed comes from one
 * more run of the first seed that long (see {@link Cell.speedMs}); without, from the seeds' runs.
 */
export function runGrid(
  seeds: readonly number[],
  durationMs: number,
  filter: GridFilter = {},
  log: (line: string) => void = () => {},
  speedMs?: number,
): Cell[] {
  const cells: Cell[] = [];
  for (const w of GRID_WORKLOADS) {
    if (filter.workloads && !filter.workloads.includes(w.name)) continue;
    for (const gbit of GRID_LINKS_GBIT) {
      if (filter.links && !filter.links.includes(gbit)) continue;
      for (const policy of GRID_POLICIES) {
        if (filter.policies && !filter.policies.includes(policy)) continue;
        if (filter.cells && !filter.cells.some((c) => cellMatches(c, w.name, gbit, policy))) continue;
        const runs = seeds.map((seed) => runSeed(w.spec, gbit, policy, seed, durationMs));
        const downtimes = runs.flatMap((r) => r.downtimes);
        const mean = (f: (r: SeedRun) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
        const sim = runs.reduce((a, r) => a + r.simulatedMs, 0);
        const own =
          speedMs !== undefined && speedMs > 0
            ? cellSpeed(w.spec, gbit, policy, seeds[0] ?? 1, speedMs)
            : undefined;
        const cell: Cell = {
          workload: w.name,
          gbit,
          policy,
          p50: percentile(downtimes, 50),
          p99: percentile(downtimes, 99),
          floorP99: percentile(
            runs.flatMap((r) => r.floors),
            99,
          ),
          checkpoints: downtimes.length,
          seeds: seeds.length,
          checkpointMiB: mean((r) => r.checkpointBytes) / MIB,
          backgroundMiB: mean((r) => r.backgroundBytes) / MIB,
          wastedMiB: mean((r) => r.wastedBytes) / MIB,
          speed:
            own?.speed ??
            sim /
              Math.max(
                1e-9,
                runs.reduce((a, r) => a + r.wallMs, 0),
              ),
          cpuSpeed:
            own?.cpuSpeed ??
            sim /
              Math.max(
                1e-9,
                runs.reduce((a, r) => a + r.cpuMs, 0),
              ),
          speedMs: own ? (speedMs as number) : sim,
        };
        cells.push(cell);
        log(
          `${w.name} ${gbit}G ${policy}: p99 ${cell.p99.toFixed(1)} ms (floor ${cell.floorP99.toFixed(1)}), ` +
            `${cell.speed.toFixed(0)}x wall, ${cell.cpuSpeed.toFixed(0)}x CPU`,
        );
      }
    }
  }
  return cells;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const pct = (n: number) =>
  Number.isFinite(n) ? `${n >= 0 ? '' : '−'}${Math.abs(n * 100).toFixed(0)} %` : '–';

/** The grid as a Markdown table, one row per cell. */
export function gridTable(cells: readonly Cell[]): string {
  const head = [
    'workload',
    'link',
    'policy',
    'p50 ms',
    'p99 ms',
    'floor p99 ms',
    'p99 ÷ floor',
    'p99 cut vs none',
    'MiB ckpt',
    'MiB bg',
    'MiB wasted',
    'bytes vs none',
    'sim s / wall s',
    'sim s / CPU s',
  ];
  const rows = cells.map((c) => {
    const none = cells.find((n) => n.workload === c.workload && n.gbit === c.gbit && n.policy === 'none');
    const total = c.checkpointMiB + c.backgroundMiB;
    const noneTotal = none ? none.checkpointMiB + none.backgroundMiB : Number.NaN;
    return [
      c.workload,
      `${c.gbit} Gbit/s`,
      c.policy,
      fmt(c.p50),
      fmt(c.p99),
      fmt(c.floorP99),
      fmt(c.p99 / c.floorP99, 2),
      none && c.policy !== 'none' ? pct(1 - c.p99 / none.p99) : '',
      fmt(c.checkpointMiB),
      fmt(c.backgroundMiB),
      fmt(c.wastedMiB),
      none && c.policy !== 'none' ? fmt(total / noneTotal, 3) : '',
      fmt(c.speed, 0),
      fmt(c.cpuSpeed, 0),
    ];
  });
  const right = new Set([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(3, ...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    `| ${r.map((v, i) => (right.has(i) ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (right.has(i) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

/** How the grid meets the issue's targets, one line each. */
export function gridVerdicts(cells: readonly Cell[]): string[] {
  const out: string[] = [];
  const get = (w: string, g: number, p: PolicyName) =>
    cells.find((c) => c.workload === w && c.gbit === g && c.policy === p);
  const fits = cells.filter((c) => c.policy === 'adaptive' && c.floorP99 <= 300);
  const overFloor = fits.filter((c) => c.p99 > 1.15 * c.floorP99);
  out.push(
    `adaptive p99 ≤ 1.15 × floor where the floor fits 300 ms: ${fits.length - overFloor.length} of ${fits.length} cells` +
      (overFloor.length
        ? ` (over: ${overFloor.map((c) => `${c.workload} ${c.gbit}G ${fmt(c.p99 / c.floorP99, 2)}×`).join(', ')})`
        : ''),
  );
  // Only cells that ran `none` or `fixed` beside `adaptive` can be judged (a `--policies` slice may not).
  const adaptive = cells.filter(
    (c) => c.policy === 'adaptive' && (get(c.workload, c.gbit, 'none') || get(c.workload, c.gbit, 'fixed')),
  );
  const worse = adaptive.filter((c) => {
    const best = Math.min(
      get(c.workload, c.gbit, 'none')?.p99 ?? Infinity,
      get(c.workload, c.gbit, 'fixed')?.p99 ?? Infinity,
    );
    return c.p99 > best * 1.02 + 0.5;
  });
  out.push(
    `adaptive p99 ≤ best of none and fixed (2 % + 0.5 ms tolerance): ${adaptive.length - worse.length} of ${adaptive.length} cells` +
      (worse.length ? ` (worse: ${worse.map((c) => `${c.workload} ${c.gbit}G`).join(', ')})` : ''),
  );
  for (const w of ['hot/cold', 'fio']) {
    const cuts = GRID_LINKS_GBIT.map((g) => {
      const a = get(w, g, 'adaptive');
      const n = get(w, g, 'none');
      return a && n ? `${g}G ${pct(1 - a.p99 / n.p99)}` : '';
    }).filter(Boolean);
    if (cuts.length) out.push(`adaptive p99 cut vs none on ${w} (target ≥ 60 %): ${cuts.join(', ')}`);
  }
  const bio = GRID_LINKS_GBIT.map((g) => {
    const a = get('buffered-io', g, 'adaptive');
    const n = get('buffered-io', g, 'none');
    if (!a || !n) return '';
    const over = ((a.checkpointMiB + a.backgroundMiB) / (n.checkpointMiB + n.backgroundMiB) - 1) * 100;
    // Two decimals and the verdict: a figure just over the target must not round to it.
    return `${g}G ${fmt(over, 2)} % (${over <= 5 ? 'met' : 'not met'})`;
  }).filter(Boolean);
  if (bio.length) out.push(`adaptive bytes over none on buffered-io (target ≤ 5 %): ${bio.join(', ')}`);
  const bounds = GRID_LINKS_GBIT.map((g) => {
    const n = get('buffered-io', g, 'none');
    const a = get('buffered-io', g, 'adaptive');
    return n && a ? `${g}G ${hotSetBoundText(n, a.floorP99)}` : '';
  }).filter(Boolean);
  if (bounds.length) {
    out.push(
      `online bound on buffered-io (\`onlineHotSetBound\`, bench/floor.ts: no policy that knows only the past does better): ${bounds.join('; ')}`,
    );
  }
  const speeds = cells.map((c) => c.speed);
  if (speeds.length) {
    const slow = cells.filter((c) => c.speed < 200);
    const slowCpu = cells.filter((c) => c.cpuSpeed < 200);
    const spans = [...new Set(cells.map((c) => c.speedMs))];
    const over =
      spans.length === 1 && spans[0] === HOUR_MS
        ? 'one simulated hour per cell, as the target reads'
        : `over ${spans.map((m) => `${fmt(m / 1000, 0)} s`).join(' / ')} simulated per cell; the target reads one hour`;
    out.push(
      `modelled speed ≥ 200× real time in every cell (${over}): min ${fmt(Math.min(...speeds), 0)}× wall ` +
        `(${slow.length} of ${cells.length} cells below), min ${fmt(Math.min(...cells.map((c) => c.cpuSpeed)), 0)}× ` +
        `per CPU second (${slowCpu.length} below)`,
    );
  }
  return out;
}

/**
 * The buffered-IO cell's online bound as text: the least mean downtime at ≤ 5 % more bytes than `none`, and
 * the least extra bytes for a downtime of 1.15 × the floor (`floorMs`), from `onlineHotSetBound` on the
 * grid's hot set (non-zero pages only: a zero page costs a header either way).
 */
function hotSetBoundText(none: Cell, floorMs: number): string {
  const spec = GRID_WORKLOADS.find((w) => w.name === 'buffered-io')?.spec;
  if (spec?.kind !== 'buffered-io') return '';
  const pageBytes = PAGE_SIZE + PAGE_HEADER_WIRE_BYTES;
  const params = gridParams(spec, 'none', 1);
  const linkBytesPerMs = gridLink(none.gbit).bandwidthBytesPerSec / 1000;
  const sendPagesPerMs = Math.min(linkBytesPerMs, params.costs.applyBytesPerMs) / pageBytes;
  const pages = spec.hotPages * (1 - params.contentMix.zero);
  const bound = onlineHotSetBound(
    pages,
    (spec.rate * (1 - spec.tail)) / spec.hotPages / 1000,
    sendPagesPerMs,
  );
  const noneBytesPerCheckpoint =
    ((none.checkpointMiB + none.backgroundMiB) * MIB) / (none.checkpoints / none.seeds);
  const wasteBudget = (0.05 * noneBytesPerCheckpoint) / pageBytes;
  const meanAt5 = floorMs + (bound.residualFor(wasteBudget) * pageBytes) / linkBytesPerMs;
  const residualAllowed = (0.15 * floorMs * linkBytesPerMs) / pageBytes;
  const bytesFor = (bound.wasteFor(residualAllowed) * pageBytes) / noneBytesPerCheckpoint;
  return `at ≤ 5 % more bytes mean downtime ≥ ${fmt(meanAt5)} ms (${fmt(meanAt5 / floorMs, 2)}× floor); p99 ≤ 1.15 × floor needs ≥ ${pct(bytesFor)} more bytes`;
}

// ---------------------------------------------------------------------------------------------------------
// Speed of the materialised path and memory over simulated time.

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/**
 * A materialised run (page bytes built, encoded, hashed, stored, decoded and verified) against a per-page
 * `Buffer.copy` of as many 4 KiB pages as the run moved, timed in the same process. Returns rows.
 */
export function materialisedRows(durationMs: number): BenchRow[] {
  const spec: WorkloadSpec = { kind: 'hotcold', hotPages: 4096, hotRate: 4000, coldRate: 2500 };
  const params: ColoParams = { ...gridParams(spec, 'fixed', 1), payload: 'materialised' };
  const link = gridLink(10);
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const t0 = performance.now();
  const u0 = cpu();
  const result = runEmbedded({ params, link, durationMs });
  const wallMs = performance.now() - t0;
  const cpuMs = cpu() - u0;
  const pages =
    result.checkpoints.reduce((a, c) => a + c.pages, 0) + result.rounds.reduce((a, r) => a + r.pages, 0);
  const modelled = runWithStops({ ...params, payload: 'modelled' }, link, durationMs);
  // Per-page Buffer.copy of the same number of pages, from a 64 MiB source into a 64 MiB target.
  const src = Buffer.alloc(64 * MIB, 7);
  const dst = Buffer.allocUnsafe(64 * MIB);
  const slots = (64 * MIB) / PAGE_SIZE;
  const c0 = performance.now();
  const v0 = cpu();
  for (let i = 0; i < pages; i++) {
    const off = (i % slots) * PAGE_SIZE;
    src.copy(dst, off, off, off + PAGE_SIZE);
  }
  const copyMs = performance.now() - c0;
  const copyCpuMs = cpu() - v0;
  const mibMoved = (pages * PAGE_SIZE) / MIB;
  return [
    {
      group: 'policies',
      name: `engine speed, modelled (hot/cold, fixed, 10 Gbit/s, ${durationMs / 1000} s simulated)`,
      value: durationMs / modelled.wallMs,
      unit: 'sim s/s',
      baseline: 'real time',
      baselineValue: 1,
    },
    {
      group: 'policies',
      name: `engine speed, materialised (same run)`,
      value: durationMs / wallMs,
      unit: 'sim s/s',
      baseline: 'real time',
      baselineValue: 1,
    },
    {
      group: 'policies',
      name: `materialised path, ${mibMoved.toFixed(0)} MiB of pages sent`,
      value: mibMoved / (wallMs / 1000),
      unit: 'MiB/s',
      baseline: 'per-page Buffer.copy, same pages',
      baselineValue: mibMoved / (copyMs / 1000),
    },
    {
      group: 'policies',
      name: `materialised path per CPU second (same run)`,
      value: mibMoved / (cpuMs / 1000),
      unit: 'MiB/s',
      baseline: 'per-page Buffer.copy per CPU second',
      baselineValue: mibMoved / (copyCpuMs / 1000),
    },
  ];
}

/** A cell whose memory {@link memoryRow} measures: the grid's memory row, and its heaviest record keeper. */
export interface MemoryCell {
  /** Workload name as the row prints it, and its spec. */
  name: string;
  spec: WorkloadSpec;
  policy: PolicyName;
  /** Link, Gbit/s. */
  gbit: number;
}

/** The cells of the memory rows: the steady hot/cold run, and `adaptive` on uniform at 1 Gbit/s (the most rounds). */
export const MEMORY_CELLS: readonly MemoryCell[] = [
  {
    name: 'hot/cold',
    spec: { kind: 'hotcold', hotPages: 4096, hotRate: 4000, coldRate: 2500 },
    policy: 'fixed',
    gbit: 10,
  },
  { name: 'uniform', spec: { kind: 'uniform', rate: 20_000 }, policy: 'adaptive', gbit: 1 },
];

/**
 * Memory of one modelled run (V8 heap used + array buffers after full collections, less what the process
 * held before it) at `early` and at `minutes` simulated minutes. The run keeps its records as `colo run`
 * does ({@link TOTALS_ONLY}: checkpoints and commits, and running totals of the rounds and messages, not the
 * per-event lists — ~100 bytes a round, pending check or message, which is what grew when they were kept).
 * Returns a row: the later figure against the earlier one, naming how many rounds and messages were counted.
 */
export function memoryRow(
  minutes = 60,
  early = 10,
  cell: MemoryCell = MEMORY_CELLS[0] as MemoryCell,
): BenchRow {
  const params = gridParams(cell.spec, cell.policy, 1);
  const samples = new Map<number, number>();
  const marks = [early * 60_000, minutes * 60_000 - 5_000];
  let next = 0;
  const measure = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    return (m.heapUsed + m.arrayBuffers) / MIB;
  };
  // What the process held before the run (earlier rows' leftovers) is not the run's: subtracted.
  const before = measure();
  const result = runEmbedded({
    params,
    link: gridLink(cell.gbit),
    durationMs: minutes * 60_000,
    keep: TOTALS_ONLY,
    observe: (at) => {
      const mark = marks[next];
      if (mark !== undefined && at >= mark) {
        samples.set(next, measure() - before);
        next++;
      }
    },
  });
  const counted = result.roundTotals.count + result.messagesSent;
  return {
    group: 'policies',
    name: `memory at ${minutes} simulated minutes (${cell.name}, ${cell.policy}, ${cell.gbit} Gbit/s; as \`colo run\`: ${counted.toLocaleString('en-US')} rounds and messages counted, not kept)`,
    value: samples.get(1) ?? Number.NaN,
    unit: 'MiB',
    baseline: `memory at ${early} simulated minutes`,
    baselineValue: samples.get(0) ?? Number.NaN,
  };
}

/**
 * The policy grid: default = 3 seeds × 300 s (14 checkpoints each) on every workload and link; `reduced` = one seed, 120 s,
 * 10 Gbit/s; `quick` (a smoke run of the harness) = one seed, 30 s, two workloads, 10 Gbit/s.
 */
export function policyBench(options: BenchOptions): BenchResult {
  const small = options.quick || options.reduced;
  const seeds = options.seeds ?? (small ? [1] : [1, 2, 3]);
  const durationMs =
    options.seconds !== undefined
      ? options.seconds * 1000
      : options.quick
        ? 30_000
        : options.reduced
          ? 120_000
          : 300_000;
  const workloads = options.workloads ?? (options.quick ? ['idle', 'hot/cold'] : undefined);
  const links = options.links ?? (small && !options.cells ? [10] : undefined);
  gridFilterErrors(workloads, links, options.policies, options.cells);
  // The speed target is over a simulated hour: the default run measures each cell's speed that long.
  const speedMs = options.speedSeconds !== undefined ? options.speedSeconds * 1000 : small ? 0 : HOUR_MS;
  const cells = options.materialisedOnly
    ? []
    : runGrid(
        seeds,
        durationMs,
        {
          ...(workloads ? { workloads } : {}),
          ...(links ? { links } : {}),
          ...(options.policies ? { policies: options.policies } : {}),
          ...(options.cells ? { cells: options.cells } : {}),
        },
        (l) => process.stderr.write(`${l}\n`),
        speedMs,
      );
  const rows = [
    ...(options.gridOnly ? [] : materialisedRows(options.quick ? 21_000 : small ? 30_000 : 60_000)),
    ...(options.gridOnly || options.materialisedOnly
      ? []
      : MEMORY_CELLS.map((cell) => (options.quick ? memoryRow(2, 1, cell) : memoryRow(60, 10, cell)))),
  ];
  const verdicts = gridVerdicts(cells);
  const section = [
    '## Policy grid',
    '',
    `1 GiB guest, checkpoint every 20 s, ${durationMs / 1000} s simulated × seed${seeds.length > 1 ? 's' : ''} ` +
      `${seeds.join(', ')}, modelled payloads, 0.1 ms latency. Downtime percentiles pool every checkpoint of every ` +
      'seed; the floor is the clairvoyant floor of the same checkpoints (`bench/floor.ts`); MiB are per run ' +
      '(mean over seeds) and count completed epochs only, in wire bytes (a zero page is its 16-byte header everywhere); "bytes vs none" is ' +
      'checkpoint + background bytes against `none`; "sim s / wall s" is the engine\'s speed on that cell ' +
      (speedMs > 0
        ? `over one more run of seed ${seeds[0] ?? 1}, ${speedMs / 1000} s simulated `
        : 'over the runs above ') +
      '("per CPU s": the same over the process\'s CPU time, steadier on a shared machine). ' +
      'Against the targets of issue 14:',
    '',
    ...verdicts.map((v) => `- ${v}`),
    '',
    gridTable(cells),
    '',
    '![p99 downtime over the clairvoyant floor](img/bench-policies.png)',
  ].join('\n');
  return {
    notes: [
      `policies: 1 GiB guest, checkpoint every 20 s, ${durationMs / 1000} s simulated × seeds ${seeds.join(', ')}, modelled payloads`,
    ],
    rows,
    section,
    charts: (page) => gridCharts(cells, page),
  };
}

/**
 * Why cell patterns (`workload:gbit:policy`, `*` or empty for any part) name no cell of the grid: a part
 * the grid does not have, or more than three parts; '' when every pattern names at least one cell.
 */
export function cellPatternErrors(patterns: readonly string[]): string {
  const bad = patterns.filter((c) => {
    if (c.split(':').length > 3) return true;
    return !GRID_WORKLOADS.some((w) =>
      GRID_LINKS_GBIT.some((g) => GRID_POLICIES.some((p) => cellMatches(c, w.name, g, p))),
    );
  });
  return bad.length
    ? `cell pattern(s) ${bad.join(', ')} name no cell (workload:gbit:policy; workloads ${GRID_WORKLOADS.map((w) => w.name).join(', ')}; links ${GRID_LINKS_GBIT.join(', ')}; policies ${GRID_POLICIES.join(', ')}; * for any)`
    : '';
}

/** Refuses names the grid does not have, with one line naming the known ones (exit 2). */
function gridFilterErrors(
  workloads: readonly string[] | undefined,
  links: readonly number[] | undefined,
  policies: readonly string[] | undefined,
  cells?: readonly string[],
): void {
  const bad = (
    given: readonly (string | number)[] | undefined,
    known: readonly (string | number)[],
    what: string,
  ) => {
    const unknown = (given ?? []).filter((g) => !known.includes(g));
    return unknown.length ? `unknown ${what} ${unknown.join(', ')} (known: ${known.join(', ')})` : '';
  };
  const errors = [
    bad(
      workloads,
      GRID_WORKLOADS.map((w) => w.name),
      'workload(s)',
    ),
    bad(links, GRID_LINKS_GBIT, 'link(s)'),
    bad(policies, GRID_POLICIES, 'policy(ies)'),
    cellPatternErrors(cells ?? []),
  ].filter(Boolean);
  if (errors.length) {
    console.error(errors.join('; '));
    process.exit(2);
  }
}

/** Renders the grid's chart next to the written page (`img/bench-policies.*`): p99 ÷ floor per cell. */
export async function gridCharts(cells: readonly Cell[], page: string): Promise<void> {
  const { renderChart } = await import('../experiments/chart.ts');
  const { dirname, join } = await import('node:path');
  const { mkdirSync } = await import('node:fs');
  const dir = join(dirname(page), 'img');
  mkdirSync(dir, { recursive: true });
  const values = cells.map((c) => ({
    workload: c.workload,
    link: `${c.gbit} Gbit/s`,
    policy: c.policy,
    overFloor: c.p99 / c.floorP99,
  }));
  await renderChart(
    {
      $schema: 'vega-lite/v6.json',
      title: 'Checkpoint downtime p99 ÷ clairvoyant floor (1 GiB guest, 20 s checkpoints; 1 = the floor)',
      data: { values },
      facet: { column: { field: 'link', type: 'nominal', title: null } },
      spec: {
        width: 220,
        height: 200,
        mark: { type: 'point', filled: true, size: 70 },
        encoding: {
          y: { field: 'workload', type: 'nominal', title: null },
          x: { field: 'overFloor', type: 'quantitative', title: 'p99 ÷ floor', scale: { type: 'log' } },
          color: { field: 'policy', type: 'nominal', title: 'policy' },
        },
      },
    },
    join(dir, 'bench-policies'),
  );
}
