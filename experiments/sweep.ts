/**
 * Scaling experiment: how downtime, checkpoint traffic and waste behave as the guest's dirty pattern
 * changes, for each policy. Runs the embedded runtime in modelled payload mode (bytes counted, not built),
 * writes experiments/results/sweep.json and charts in docs/img/.
 *
 *   npx tsx experiments/sweep.ts            # full sweep (about a minute on 2 cores)
 *   npx tsx experiments/sweep.ts --quick    # fewer points
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { runScenario } from '../src/cli/run-command.ts';
import { resolveScenario } from '../src/cli/scenario.ts';
import { POLICY_NAMES } from '../src/engine/params.ts';
import { renderChart } from './chart.ts';

const quick = process.argv.includes('--quick');

/** One measured point. */
interface Point {
  sweep: string;
  x: number;
  policy: string;
  downtimeP50Ms: number;
  downtimeP99Ms: number;
  checkpointMiB: number;
  backgroundMiB: number;
  wastedMiB: number;
  consistent: boolean;
}

const points: Point[] = [];

function measure(sweep: string, x: number, scenario: Record<string, unknown>): void {
  const report = runScenario(
    resolveScenario({ payload: 'modelled', policies: [...POLICY_NAMES], ...scenario }),
  );
  for (const r of report.runs) {
    points.push({
      sweep,
      x,
      policy: r.policy,
      downtimeP50Ms: r.summary.downtimeMs.p50,
      downtimeP99Ms: r.summary.downtimeMs.p99,
      checkpointMiB: r.summary.checkpointMiB / r.summary.checkpoints,
      backgroundMiB: r.summary.backgroundMiB / r.summary.checkpoints,
      wastedMiB: r.summary.wastedMiB / r.summary.checkpoints,
      consistent: r.verification.consistent,
    });
  }
  process.stderr.write(`${sweep} ${x} done\n`);
}

// Sweep 1: cold first touches per second (cold-dominated guest), 4 GiB, 1 Gbit/s.
const coldRates = quick ? [1000, 5000, 20000] : [500, 1000, 2500, 5000, 10000, 20000];
for (const coldRate of coldRates) {
  measure('cold-rate', coldRate, {
    name: `cold-${coldRate}`,
    guest: '4GiB',
    duration: '120s',
    workload: { kind: 'hotcold', hotPages: 4096, hotRate: 4000, coldRate },
  });
}

// Sweep 2: buffered IO — share of writes outside the constantly rewritten hot set.
const tails = quick ? [0, 0.1, 0.5] : [0, 0.02, 0.05, 0.1, 0.25, 0.5];
for (const tail of tails) {
  measure('hot-tail', tail, {
    name: `tail-${tail}`,
    guest: '4GiB',
    duration: '120s',
    workload: { kind: 'buffered-io', rate: 20000, hotPages: 32768, tail },
  });
}

mkdirSync('experiments/results', { recursive: true });
mkdirSync('docs/img', { recursive: true });
writeFileSync('experiments/results/sweep.json', `${JSON.stringify(points, null, 2)}\n`);

const extent = (sweep: string): [number, number] => {
  const xs = points.filter((p) => p.sweep === sweep).map((p) => p.x);
  return [Math.min(...xs), Math.max(...xs)];
};

const layer = (
  sweep: string,
  xTitle: string,
  field: keyof Point,
  yTitle: string,
  xScale: 'log' | 'linear',
) => ({
  data: { values: points.filter((p) => p.sweep === sweep) },
  mark: { type: 'line' as const, point: true },
  encoding: {
    x: {
      field: 'x',
      type: 'quantitative' as const,
      title: xTitle,
      scale: { type: xScale, nice: false, domain: extent(sweep) },
    },
    y: { field, type: 'quantitative' as const, title: yTitle },
    color: { field: 'policy', type: 'nominal' as const, title: 'policy' },
  },
  width: 300,
  height: 200,
});

await renderChart(
  {
    $schema: 'vega-lite/v6.json',
    title: 'Cold-dominated guest (4 GiB, 1 Gbit/s, checkpoint every 20 s)',
    hconcat: [
      layer('cold-rate', 'cold first touches (pages/s)', 'downtimeP50Ms', 'downtime p50 (ms)', 'log'),
      layer('cold-rate', 'cold first touches (pages/s)', 'wastedMiB', 'wasted MiB per checkpoint', 'log'),
    ],
  },
  'docs/img/cold-rate',
);
await renderChart(
  {
    $schema: 'vega-lite/v6.json',
    title: 'Buffered IO (32 768-page hot set rewritten at 20 000 pages/s)',
    hconcat: [
      layer(
        'hot-tail',
        'share of writes outside the hot set',
        'downtimeP50Ms',
        'downtime p50 (ms)',
        'linear',
      ),
      layer(
        'hot-tail',
        'share of writes outside the hot set',
        'wastedMiB',
        'wasted MiB per checkpoint',
        'linear',
      ),
    ],
  },
  'docs/img/hot-tail',
);
console.log(`${points.length} points, all consistent: ${points.every((p) => p.consistent)}`);
