/**
 * State I/O of the cloud runtime, before (whole documents, format 1) and after (the lean layout: hot document
 * + page-array chunks) on the same recorded run: GETs, PUTs and bytes of the state store per invocation and
 * per VM-hour, and their ratios. An embedded run of the scenario is recorded and replayed on the cloud
 * runtime in this process over in-memory ports, with a counting wrapper around the state store (every engine
 * step of the schedule is one invocation). Payloads are modelled (the delta store is not what is measured).
 *
 *   npm run bench:state                  default scenario (256 MiB guest, 60 s) and a 64 GiB guest (25 s: one checkpoint)
 *   npm run bench:state -- --only 64     only the scenarios whose name contains "64"
 *   npm run bench:state -- --large-seconds 30   guest time of the 64 GiB run, s
 *   npm run bench:state -- --quick       small sizes: checks the script end to end
 *
 * Not a test: nothing here passes or fails on the figures.
 */
import { parseArgs } from 'node:util';
import { type ColoParams, DEFAULT_PARAMS } from '../src/engine/params.ts';
import {
  ChunkCache,
  CountingStateStore,
  MemoryChannel,
  MemoryDeltaStore,
  MemoryStateStore,
  type StateIo,
  type StateLayout,
} from '../src/runtime/cloud/index.ts';
import { DEFAULT_LINK } from '../src/runtime/embedded/link.ts';
import { memoryInbox } from '../src/runtime/localstack/compare.ts';
import { inProcessStepper, type ReplayPorts, replaySchedule } from '../src/runtime/localstack/replay.ts';
import { recordEmbedded, type ScheduledStep } from '../src/runtime/localstack/schedule.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'large-seconds': { type: 'string', default: '25' },
  },
});
const GiB = 1024 * 1024 * 1024;

interface Scenario {
  name: string;
  params: ColoParams;
  durationMs: number;
  /** Steps the whole layout replays (it is slow for a large guest); all when undefined. */
  wholeSteps?: number;
}

const scenarios: Scenario[] = values.quick
  ? [
      {
        name: 'quick 16 MiB',
        params: { ...DEFAULT_PARAMS, vmId: 'q', guestBytes: 16 * 1024 * 1024, payload: 'modelled' },
        durationMs: 5000,
      },
    ]
  : [
      {
        name: 'default (256 MiB guest)',
        params: { ...DEFAULT_PARAMS, vmId: 'bench-default', payload: 'modelled' },
        durationMs: 60_000,
      },
      {
        name: '64 GiB guest (modelled)',
        params: { ...DEFAULT_PARAMS, vmId: 'bench-64g', guestBytes: 64 * GiB, payload: 'modelled' },
        durationMs: Number(values['large-seconds']) * 1000,
        wholeSteps: 16,
      },
    ];

/** Steps not counted: the first invocations create both documents (and, lean, write every chunk once). */
const WARM_UP_STEPS = 4;

function minus(x: StateIo, y: StateIo): StateIo {
  return {
    gets: x.gets - y.gets,
    puts: x.puts - y.puts,
    deletes: x.deletes - y.deletes,
    bytesIn: x.bytesIn - y.bytesIn,
    bytesOut: x.bytesOut - y.bytesOut,
  };
}

interface Measured {
  steps: number;
  io: StateIo;
  node: StateIo;
  chunk: StateIo;
  wallMs: number;
  consistent: boolean;
}

async function measure(
  s: Scenario,
  steps: readonly ScheduledStep[],
  layout: Partial<StateLayout>,
): Promise<Measured> {
  const counting = new CountingStateStore(new MemoryStateStore());
  const p2s = new MemoryChannel();
  const s2p = new MemoryChannel();
  const ports: ReplayPorts = {
    state: counting,
    deltas: new MemoryDeltaStore(),
    p2s: { send: p2s, inbox: memoryInbox(p2s) },
    s2p: { send: s2p, inbox: memoryInbox(s2p) },
  };
  // One warm container for the run (a Lambda's cache lives as long as its container).
  const chunkCache = new ChunkCache(512 * 1024 * 1024);
  const stepper = inProcessStepper(ports, s.params, { invocation: { stateLayout: layout, chunkCache } });
  // Counted from after the warm-up steps (both documents created, every chunk written once) to the last
  // step (not the replay's own read-back of the final documents).
  const snap = () => ({
    total: counting.total(),
    node: { ...counting.io.node },
    chunk: { ...counting.io.chunk },
  });
  let a = snap();
  let b = a;
  const onProgress = (done: number, total: number) => {
    if (done === WARM_UP_STEPS) a = snap();
    if (done === total) b = snap();
  };
  const r = await replaySchedule(steps, s.params, ports, {
    drainWaitMs: 0,
    receiveWaitMs: 0,
    stepper,
    onProgress,
  });
  const consistent =
    r.divergence === null &&
    r.commits.every((c) => r.checkpoints.some((k) => k.epoch === c.epoch && k.digest === c.digest));
  return {
    steps: r.steps - WARM_UP_STEPS,
    io: minus(b.total, a.total),
    node: minus(b.node, a.node),
    chunk: minus(b.chunk, a.chunk),
    wallMs: r.wallMs,
    consistent,
  };
}

const per = (m: Measured, v: number) => v / Math.max(1, m.steps);
const fmt = (n: number, d = 2) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(d));
const kib = (b: number) => `${fmt(b / 1024)} KiB`;

for (const s of scenarios.filter((x) => !values.only || x.name.includes(values.only))) {
  const recorded = recordEmbedded({ params: s.params, link: DEFAULT_LINK, durationMs: s.durationMs });
  const steps = recorded.steps;
  const wholeSteps = steps.slice(0, s.wholeSteps ?? steps.length);
  const before = await measure(s, wholeSteps, { kind: 'whole' });
  const after = await measure(s, steps, { kind: 'lean' });
  // Invocations per hour of this scenario × the per-invocation figure.
  const hourFactor = (m: Measured) => (3600_000 / s.durationMs) * (steps.length / Math.max(1, m.steps));
  console.log(
    `\n## ${s.name}: ${steps.length} invocations in ${s.durationMs / 1000} s of guest time (${recorded.result.checkpoints.length} checkpoints)`,
  );
  console.log(
    `not counting the first ${WARM_UP_STEPS} invocations, whole layout counted ${before.steps} (${fmt(before.wallMs / 1000, 1)} s), lean ${after.steps} (${fmt(after.wallMs / 1000, 1)} s); consistent: ${before.consistent} / ${after.consistent}`,
  );
  const rows: [string, number, number, (n: number) => string][] = [
    ['state GETs per invocation', per(before, before.io.gets), per(after, after.io.gets), (n) => fmt(n)],
    ['state PUTs per invocation', per(before, before.io.puts), per(after, after.io.puts), (n) => fmt(n)],
    ['  of which chunk PUTs', per(before, before.chunk.puts), per(after, after.chunk.puts), (n) => fmt(n)],
    ['  of which chunk GETs', per(before, before.chunk.gets), per(after, after.chunk.gets), (n) => fmt(n, 3)],
    ['bytes read per invocation', per(before, before.io.bytesIn), per(after, after.io.bytesIn), kib],
    ['bytes written per invocation', per(before, before.io.bytesOut), per(after, after.io.bytesOut), kib],
    [
      'node document PUT size (mean)',
      before.node.bytesOut / Math.max(1, before.node.puts),
      after.node.bytesOut / Math.max(1, after.node.puts),
      kib,
    ],
    [
      'GETs per VM-hour',
      before.io.gets * hourFactor(before),
      after.io.gets * hourFactor(after),
      (n) => fmt(n, 0),
    ],
    [
      'PUTs per VM-hour',
      before.io.puts * hourFactor(before),
      after.io.puts * hourFactor(after),
      (n) => fmt(n, 0),
    ],
    [
      'GiB moved per VM-hour',
      ((before.io.bytesIn + before.io.bytesOut) * hourFactor(before)) / GiB,
      ((after.io.bytesIn + after.io.bytesOut) * hourFactor(after)) / GiB,
      (n) => fmt(n, 3),
    ],
  ];
  console.log('| figure | before (whole) | after (lean) | after / before |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [name, b, a, f] of rows)
    console.log(`| ${name} | ${f(b)} | ${f(a)} | ${b > 0 ? `${fmt(a / b, 4)}` : '—'} |`);
}
