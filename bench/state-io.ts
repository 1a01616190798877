/**
 * State I/O of the cloud runtime, whole documents (format 1) against the lean layout (hot document + overlay
 * segments + page-array chunks) on the same recorded run: GETs, PUTs and bytes of the state store per
 * invocation (mean and worst), per save (the bound: PUTs and bytes one hot-document save costs) and per
 * VM-hour. An embedded run of the scenario is recorded and replayed on the cloud runtime in this process
 * (src/runtime/localstack/state-io.ts), every engine step one invocation, payloads modelled.
 *
 *   npm run bench:state                  in memory: default scenario (256 MiB, 60 s) and a 64 GiB guest (25 s)
 *   npm run bench:state -- --s3          over real S3 and SQS on LocalStack (AWS_ENDPOINT_URL, default
 *                                        127.0.0.1:4566): a 1 GiB and a 64 GiB guest, 35 s, 3 checkpoints with
 *                                        background rounds; buckets and queues `lean64-bench-…`, deleted after
 *   npm run bench:state -- --only 64     only the scenarios whose name contains "64"
 *   npm run bench:state -- --large-seconds 30   guest time of the 64 GiB run, s
 *   npm run bench:state -- --whole-steps 40     invocations the whole layout replays of a 64 GiB run (slow)
 *   npm run bench:state -- --quick       small sizes: checks the script end to end
 *
 * Not a test: nothing here passes or fails on the figures.
 */
import { parseArgs } from 'node:util';
import { type ColoParams, DEFAULT_PARAMS } from '../src/engine/params.ts';
import type { StateIo, StateLayout } from '../src/runtime/cloud/index.ts';
import { DEFAULT_LINK } from '../src/runtime/embedded/link.ts';
import {
  checkLocalStack,
  clientsFor,
  createScratchResources,
  deleteScratchResources,
  endpointFromEnv,
} from '../src/runtime/localstack/aws.ts';
import { recordEmbedded } from '../src/runtime/localstack/schedule.ts';
import {
  localStackStateIoPorts,
  measureStateIo,
  memoryStateIoPorts,
  type StateIoMeasure,
  type StateIoPorts,
} from '../src/runtime/localstack/state-io.ts';

/** One line on stderr and exit 1: bad input or LocalStack down is not a crash. */
const die = (line: string): never => {
  process.stderr.write(`bench:state: ${line}\n`);
  process.exit(1);
};
const { values } = (() => {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        s3: { type: 'boolean', default: false },
        only: { type: 'string' },
        'large-seconds': { type: 'string' },
        'whole-steps': { type: 'string', default: '16' },
      },
    });
  } catch (e) {
    return die(e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e));
  }
})();
/** A positive whole number given as `--name`, or its default. */
const positive = (name: 'large-seconds' | 'whole-steps', fallback?: number): number | undefined => {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 86_400)
    die(`--${name} must be an integer in [1, 86400], got ${raw}`);
  return n;
};
const largeSeconds = positive('large-seconds');
const GiB = 1024 * 1024 * 1024;
const tag = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;

interface Scenario {
  name: string;
  params: ColoParams;
  durationMs: number;
  /** Steps the whole layout replays (it is slow for a large guest); all when undefined. */
  wholeSteps?: number;
}

const wholeSteps = positive('whole-steps', 16) as number;
const large = (seconds: number, extra: Partial<ColoParams> = {}): Scenario => ({
  name: '64 GiB guest (modelled)',
  params: {
    ...DEFAULT_PARAMS,
    vmId: `bench-64g-${tag}`,
    guestBytes: 64 * GiB,
    payload: 'modelled',
    ...extra,
  },
  durationMs: (largeSeconds ?? seconds) * 1000,
  wholeSteps,
});
// Over S3: checkpoints every 10 s so that 35 s of guest time hold 3 of them, with background rounds between.
const s3Extra: Partial<ColoParams> = { checkpointDelayMs: 10_000 };
const scenarios: Scenario[] = values.quick
  ? [
      {
        name: 'quick 16 MiB',
        params: { ...DEFAULT_PARAMS, vmId: `q-${tag}`, guestBytes: 16 * 1024 * 1024, payload: 'modelled' },
        durationMs: 5000,
      },
    ]
  : values.s3
    ? [
        {
          name: '1 GiB guest (modelled)',
          params: {
            ...DEFAULT_PARAMS,
            vmId: `bench-1g-${tag}`,
            guestBytes: GiB,
            payload: 'modelled',
            ...s3Extra,
          },
          durationMs: (largeSeconds ?? 35) * 1000,
        },
        large(35, s3Extra),
      ]
    : [
        {
          name: 'default (256 MiB guest)',
          params: { ...DEFAULT_PARAMS, vmId: `bench-default-${tag}`, payload: 'modelled' },
          durationMs: 60_000,
        },
        large(25),
      ];

const endpoint = (() => {
  try {
    return endpointFromEnv();
  } catch (e) {
    return die(e instanceof Error ? e.message : String(e));
  }
})();
const clients = values.s3 ? clientsFor(endpoint) : undefined;
if (values.s3)
  await checkLocalStack(endpoint).catch((e: unknown) => die(e instanceof Error ? e.message : String(e)));

/** Fresh ports for one measurement: in memory, or a new bucket and two FIFO queues on LocalStack. */
async function portsFor(s: Scenario, layout: string): Promise<StateIoPorts> {
  if (!clients) return memoryStateIoPorts();
  const name = `lean64-bench-${layout}-${tag}`.slice(0, 60);
  const resources = await createScratchResources(clients, name);
  const ports = localStackStateIoPorts(clients, resources, s.params);
  return { ...ports, release: () => deleteScratchResources(clients, resources) };
}

async function measure(
  s: Scenario,
  steps: Parameters<typeof measureStateIo>[0],
  layout: Partial<StateLayout> & { kind: 'whole' | 'lean' },
): Promise<StateIoMeasure> {
  const ports = await portsFor(s, layout.kind);
  try {
    return await measureStateIo(steps, s.params, ports, layout, { receiveWaitMs: clients ? 10_000 : 0 });
  } finally {
    await ports.release?.();
  }
}

const fmt = (n: number, d = 2) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(d));
const kib = (b: number) => `${fmt(b / 1024)} KiB`;
const per = (m: StateIoMeasure, k: keyof StateIo) => m.perInvocation.mean[k];

for (const s of scenarios.filter((x) => !values.only || x.name.includes(values.only))) {
  const recorded = recordEmbedded({ params: s.params, link: DEFAULT_LINK, durationMs: s.durationMs });
  const steps = recorded.steps;
  const before = await measure(s, steps.slice(0, s.wholeSteps ?? steps.length), { kind: 'whole' });
  const after = await measure(s, steps, { kind: 'lean' });
  // Invocations per hour of this scenario × the per-invocation figure.
  const hour = (m: StateIoMeasure, v: number) =>
    (v / Math.max(1, m.steps)) * (steps.length * (3600_000 / s.durationMs));
  const rounds = recorded.result.rounds.filter((r) => r.ok).length;
  console.log(
    `\n## ${s.name}${clients ? ' over S3/SQS (LocalStack)' : ' in memory'}: ${steps.length} invocations in ${s.durationMs / 1000} s of guest time (${recorded.result.checkpoints.length} checkpoints, ${rounds} background rounds)`,
  );
  console.log(
    `counted after the first 4 invocations: whole ${before.steps} (${fmt(before.wallMs / 1000, 1)} s), lean ${after.steps} (${fmt(after.wallMs / 1000, 1)} s); consistent: ${before.consistent} / ${after.consistent}; saves: whole ${before.saves.saves}, lean ${after.saves.saves}`,
  );
  const rows: [string, number, number, (n: number) => string][] = [
    ['state GETs per invocation (mean)', per(before, 'gets'), per(after, 'gets'), (n) => fmt(n)],
    [
      'state GETs per invocation (max)',
      before.perInvocation.max.gets,
      after.perInvocation.max.gets,
      (n) => fmt(n, 0),
    ],
    ['state PUTs per invocation (mean)', per(before, 'puts'), per(after, 'puts'), (n) => fmt(n)],
    [
      'state PUTs per invocation (max)',
      before.perInvocation.max.puts,
      after.perInvocation.max.puts,
      (n) => fmt(n, 0),
    ],
    [
      '  of which segment PUTs (mean)',
      before.segment.puts / Math.max(1, before.steps),
      after.segment.puts / Math.max(1, after.steps),
      (n) => fmt(n, 3),
    ],
    [
      '  of which chunk PUTs (mean)',
      before.chunk.puts / Math.max(1, before.steps),
      after.chunk.puts / Math.max(1, after.steps),
      (n) => fmt(n, 3),
    ],
    [
      '  chunk + segment GETs (mean, warm cache)',
      (before.chunk.gets + before.segment.gets) / Math.max(1, before.steps),
      (after.chunk.gets + after.segment.gets) / Math.max(1, after.steps),
      (n) => fmt(n, 3),
    ],
    ['bytes read per invocation (mean)', per(before, 'bytesIn'), per(after, 'bytesIn'), kib],
    [
      'bytes read per invocation (max)',
      before.perInvocation.max.bytesIn,
      after.perInvocation.max.bytesIn,
      kib,
    ],
    ['bytes written per invocation (mean)', per(before, 'bytesOut'), per(after, 'bytesOut'), kib],
    [
      'bytes written per invocation (max)',
      before.perInvocation.max.bytesOut,
      after.perInvocation.max.bytesOut,
      kib,
    ],
    [
      'PUTs per save (max: hot + segments + chunks)',
      before.saves.maxPuts,
      after.saves.maxPuts,
      (n) => fmt(n, 0),
    ],
    [
      '  segment PUTs per save (max)',
      before.saves.maxSegmentPuts,
      after.saves.maxSegmentPuts,
      (n) => fmt(n, 0),
    ],
    ['  chunk PUTs per save (max)', before.saves.maxChunkPuts, after.saves.maxChunkPuts, (n) => fmt(n, 0)],
    ['bytes per save (mean)', before.saves.meanBytes, after.saves.meanBytes, kib],
    ['bytes per save (max)', before.saves.maxBytes, after.saves.maxBytes, kib],
    ['GETs per VM-hour', hour(before, before.io.gets), hour(after, after.io.gets), (n) => fmt(n, 0)],
    ['PUTs per VM-hour', hour(before, before.io.puts), hour(after, after.io.puts), (n) => fmt(n, 0)],
    [
      'GiB moved per VM-hour',
      hour(before, before.io.bytesIn + before.io.bytesOut) / GiB,
      hour(after, after.io.bytesIn + after.io.bytesOut) / GiB,
      (n) => fmt(n, 3),
    ],
  ];
  console.log('| figure | whole | lean | lean / whole |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [name, b, a, f] of rows)
    console.log(`| ${name} | ${f(b)} | ${f(a)} | ${b > 0 ? `${fmt(a / b, 4)}` : '—'} |`);
}
