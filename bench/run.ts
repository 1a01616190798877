/**
 * Runs every benchmark in `bench/` in one process and prints one table: each figure next to a baseline measured
 * in the same run on the same inputs, and their ratio. Not a test: nothing here passes or fails on speed.
 *
 *   npm run bench                                  default sizes (~25 minutes on 2 cores: each grid cell's
 *                                                  speed is measured over a simulated hour)
 *   npm run bench -- --quick                       tiny sizes: checks the harness end to end in seconds
 *   npm run bench -- --only wire,fuzz-delta        a subset of the groups
 *   npm run bench -- --write docs/benchmarks.md    also writes the figures as a Markdown page (and charts)
 *   npm run bench -- --only policies --reduced     the policy grid on one seed, 120 s, 10 Gbit/s only
 *   npm run bench -- --only policies --workloads fio,zipf --links 1,25    a slice of the grid
 *   npm run bench -- --only policies --cells uniform:1:adaptive,fio:*:fixed --seeds 1 --seconds 60 --grid-only
 *                                                  a few cells, quickly (speed work; `*` matches any)
 *   ... --speed-seconds 600                        each cell's speed run 600 s simulated (0: no speed runs)
 *   npm run bench -- --only policies --materialised-only   the materialised path's row alone
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { deltaFuzzBench, messageFuzzBench } from './fuzz.ts';
import { type BenchOptions, type BenchResult, formatTable } from './harness.ts';
import { policyBench } from './policies.ts';
import { wireBench } from './wire.ts';

/** The benchmark groups, in the order they run. */
const GROUPS: Record<string, (options: BenchOptions) => BenchResult> = {
  wire: wireBench,
  'fuzz-delta': deltaFuzzBench,
  'fuzz-message': messageFuzzBench,
  policies: policyBench,
};

/** `parseArgs`, with a bad command line (an unknown flag, a flag without its value) as one line and exit 2. */
function parseOrExit<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    console.error(
      `${e instanceof Error ? e.message : String(e)} (usage: the comment at the top of bench/run.ts)`,
    );
    process.exit(2);
  }
}

const { values } = parseOrExit({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    write: { type: 'string' },
    reduced: { type: 'boolean', default: false },
    workloads: { type: 'string' },
    links: { type: 'string' },
    policies: { type: 'string' },
    cells: { type: 'string' },
    seeds: { type: 'string' },
    seconds: { type: 'string' },
    'speed-seconds': { type: 'string' },
    'grid-only': { type: 'boolean', default: false },
    'materialised-only': { type: 'boolean', default: false },
  },
});
const list = (v: string | undefined) => v?.split(',').map((s) => s.trim());
const numbers = (name: string, v: string | undefined): number[] | undefined => {
  const out = list(v)?.map(Number);
  if (out?.some((n) => !Number.isFinite(n) || n <= 0)) {
    console.error(`--${name} takes positive numbers separated by commas, got ${v}`);
    process.exit(2);
  }
  return out;
};
const nonNegative = (name: string, v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) {
    console.error(`--${name} takes a number of seconds ≥ 0, got ${v}`);
    process.exit(2);
  }
  return n;
};
const only = values.only?.split(',').map((s) => s.trim()) ?? Object.keys(GROUPS);
const unknown = only.filter((g) => !(g in GROUPS));
if (unknown.length > 0) {
  console.error(
    `unknown benchmark group(s): ${unknown.join(', ')}; known: ${Object.keys(GROUPS).join(', ')}`,
  );
  process.exit(2);
}
const options: BenchOptions = {
  quick: values.quick,
  reduced: values.reduced,
  ...(values.workloads ? { workloads: values.workloads.split(',').map((w) => w.trim()) } : {}),
  ...(values.links ? { links: values.links.split(',').map(Number) } : {}),
  ...(values.policies ? { policies: list(values.policies) as string[] } : {}),
  ...(values.cells ? { cells: list(values.cells) as string[] } : {}),
  ...(values.seeds ? { seeds: numbers('seeds', values.seeds) as number[] } : {}),
  ...(values.seconds ? { seconds: (numbers('seconds', values.seconds) as number[])[0] as number } : {}),
  ...(values['speed-seconds'] !== undefined
    ? { speedSeconds: nonNegative('speed-seconds', values['speed-seconds']) }
    : {}),
  gridOnly: values['grid-only'],
  materialisedOnly: values['materialised-only'],
};

const cpus = os.cpus();
const machine =
  `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
  `${os.type()} ${os.release()} ${os.arch()}, Node ${process.version}`;
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const startedAt = new Date();
const loadBefore = load();
const t0 = performance.now();

const notes: string[] = [];
const rows: BenchResult['rows'] = [];
const sections: string[] = [];
const charts: NonNullable<BenchResult['charts']>[] = [];
for (const group of only) {
  const run = GROUPS[group];
  if (!run) continue;
  const result = run(options);
  notes.push(...result.notes);
  rows.push(...result.rows);
  if (result.section) sections.push(result.section);
  if (result.charts) charts.push(result.charts);
}
const seconds = (performance.now() - t0) / 1000;
const loadAfter = load();
const table = formatTable(rows);

const context = [
  `machine: ${machine}`,
  `date: ${startedAt.toISOString()}; sizes: ${options.quick ? 'quick' : 'default'}; groups: ${only.join(', ')}; ` +
    `${seconds.toFixed(1)} s; load average (1, 5, 15 min) ${loadBefore} before, ${loadAfter} after`,
  ...notes,
];
console.log(context.join('\n'));
console.log('ratio = figure ÷ baseline: above 1 is faster for a rate, slower for ms, more memory for MiB');
console.log(table);
for (const section of sections) console.log(`\n${section}`);

if (values.write) {
  const argv = ['npm run bench --', ...process.argv.slice(2)].join(' ');
  const doc = `# Benchmarks

Generated by \`${argv}\` (\`bench/run.ts\`); regenerate the page with the same command rather than editing it.
Timed and memory figures live here, not in tests (tests assert behaviour only): these machines are shared and
noisy, so each figure stands next to a baseline measured in the same process and run, on the same inputs, and
the **ratio** (figure ÷ baseline) is the number to compare across runs and machines. For a rate (MiB/s,
inputs/s) a ratio above 1 is faster than the baseline; for a time (ms) or memory (MiB) it is more.

- Machine: ${machine}
- Date: ${startedAt.toISOString()}; whole run ${seconds.toFixed(1)} s
- Load average (1, 5, 15 min): ${loadBefore} before, ${loadAfter} after
- Sizes: ${options.quick ? '`--quick` (tiny; figures are not representative)' : 'default'}
${notes.map((n) => `- ${n}`).join('\n')}

${table}
${sections.map((x) => `\n${x}\n`).join('')}
## What each group measures

- **wire** (\`bench/wire.ts\`): encoding and decoding one large delta of mixed guest pages (20 % null, 25 % random,
  25 % text, 20 % sparse binary, 10 % half random), best of 3, MiB/s of guest pages, against a \`Buffer.copy\` of the
  same page bytes into a buffer allocated before timing.
- **fuzz-delta** (\`bench/fuzz.ts\`): \`decodeDelta\` on the input mix of \`test/fuzz/delta-decode.fuzz.test.ts\` (same
  seed, same count), each input timed alone, against \`sha256Hex\` of each input (the decoder hashes every object
  it frames). The peak of \`process.memoryUsage().arrayBuffers\` is sampled every 250 inputs in both passes, after a
  full collection, while the inputs of one 5 000-input chunk are held. The last row times the objects whose header declares a
  huge count or length, which must be refused by size arithmetic without allocating.
- **policies** (\`bench/policies.ts\`, \`bench/floor.ts\`): the policy grid described in its own section above;
  engine speed as simulated seconds per wall second against real time (1), the materialised path's MiB/s of
  pages sent against a per-page \`Buffer.copy\` of as many 4 KiB pages in the same process (per wall second,
  and per CPU second of the process: steadier on a shared machine), and memory (V8 heap
  used + array buffers after full collections) of one run at 60 simulated minutes against the same run at 10,
  keeping its records as \`colo run\` does (running totals of the rounds and messages, not every one).
- **fuzz-message** (\`bench/fuzz.ts\`): \`parseMessage\` on the body mix of \`test/fuzz/message-parse.fuzz.test.ts\`
  (same seed, same count), each body timed alone, against \`JSON.parse\` of each body (\`parseMessage\` refuses
  bodies over 256 KiB before parsing, then validates the parsed value); and the duplicate-key scan
  (\`duplicateKey\`, run by \`parseMessage\` after \`JSON.parse\`) on one body of 20 000 keys (271 KiB), best of 3,
  against \`JSON.parse\` of that body (its work is bounded, not timed, in \`test/unit/hostile-input/amplification.test.ts\`).

A slowest single input is one measurement and may include a garbage-collection pause; the fuzz tests still check
that every input is accepted or refused with a documented error, and vitest's per-test timeout still catches a
hang.
`;
  writeFileSync(values.write, doc);
  for (const render of charts) await render(values.write);
  console.log(`wrote ${values.write}`);
}
