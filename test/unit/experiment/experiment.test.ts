/**
 * `colo experiment`: a tiny grid end to end (every output), resumption after an interruption and after a
 * line cut short, cell keys, worker threads giving the same cells as this thread, bad files → one clear
 * line each and exit 1, the published JSON Schema, the statistics.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../../src/cli/outcome.ts';
import type { CellRow } from '../../../src/experiment/cell-run.ts';
import { readExperimentFile } from '../../../src/experiment/file.ts';
import { expandExperiment } from '../../../src/experiment/grid.ts';
import { EXPERIMENT_JSON_SCHEMA_PATH, experimentJsonSchema } from '../../../src/experiment/json-schema.ts';
import { type CellRunner, inProcessCellRunner, workerCellRunner } from '../../../src/experiment/pool.ts';
import { estimate, tQuantile95 } from '../../../src/experiment/stats.ts';
import { cli } from '../cli/run-cli.ts';
import { countMarks } from '../report/svg-marks.ts';

const dir = mkdtempSync(join(tmpdir(), 'colo-experiment-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 2 thresholds × 2 policies × 2 seeds = 8 cells of 30 simulated seconds on a 16 MiB guest. */
const TINY = `
name: tiny
description: A tiny grid.
base:
  guest: 16MiB
  duration: 30s
  checkpointDelay: 5s
  payload: modelled
  workload: hotcold:hotPages=256,hotRate=2000,coldRate=500
grid:
  threshold: [512KiB, 8MiB]
  policy: [none, fixed]
seeds: 2
`;

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

/** A runner in this thread that counts the cells it started and can interrupt after `stopAfter` of them. */
function countingRunner(counter: { started: number }, afterStart?: (n: number) => void): () => CellRunner {
  return () => {
    const inner = inProcessCellRunner();
    return {
      ...inner,
      start: (job, progress) => {
        counter.started++;
        afterStart?.(counter.started);
        return inner.start(job, progress);
      },
    };
  };
}

describe('colo experiment: a tiny grid', () => {
  const file = write('tiny.yaml', TINY);
  const out = join(dir, 'tiny-out');

  it('runs every cell and writes the folder', async () => {
    const counter = { started: 0 };
    const r = await cli(['experiment', file, '--out', out], { cellRunner: countingRunner(counter) });
    expect(r.err).not.toMatch(/internal error/);
    expect(r.code).toBe(EXIT.ok);
    expect(counter.started).toBe(8);
    expect(r.err).toMatch(
      /^experiment tiny: 8 cells \(4 per seed × 2 seeds\); 8 to run on 1 thread; writing to/m,
    );
    expect(r.err).toMatch(/\[tiny\] 8\/8 cells, 100%, done in/);
    for (const f of [
      'experiment.json',
      'cells.jsonl',
      'cells.csv',
      'summary.csv',
      'summary.md',
      'report.html',
      'chart-downtimeP99Ms.svg',
      'chart-downtimeP99Ms.png',
      'chart-wastedMiB.svg',
      'timeline.svg',
      'timeline.png',
    ])
      expect(existsSync(join(out, f)), f).toBe(true);

    const rows = lines(join(out, 'cells.jsonl')).map((l) => JSON.parse(l) as CellRow);
    expect(rows).toHaveLength(8);
    expect(new Set(rows.map((x) => x.key)).size).toBe(8);
    expect(rows.every((x) => x.verdict === 'consistent' && x.metrics.checkpoints === 5)).toBe(true);
    const fixed = rows.filter((x) => x.policy === 'fixed');
    const none = rows.filter((x) => x.policy === 'none');
    expect(fixed.every((x) => x.metrics.rounds > 0)).toBe(true);
    expect(none.every((x) => x.metrics.rounds === 0 && x.metrics.backgroundMiB === 0)).toBe(true);
    // A lower threshold starts more rounds.
    const roundsAt = (t: string) =>
      fixed.filter((x) => x.values.threshold === t).reduce((a, x) => a + x.metrics.rounds, 0);
    expect(roundsAt('512KiB')).toBeGreaterThan(roundsAt('8MiB'));

    const csv = lines(join(out, 'cells.csv'));
    expect(csv).toHaveLength(9);
    expect(csv[0]).toMatch(/^key,threshold,policy,seed,verdict,outcome,checkpoints,downtimeP50Ms,/);
    const summaryCsv = lines(join(out, 'summary.csv'));
    expect(summaryCsv).toHaveLength(5);
    expect(summaryCsv[0]).toMatch(/^threshold,policy,seeds,checkpoints_mean,checkpoints_ci95,/);

    const md = readFileSync(join(out, 'summary.md'), 'utf8');
    expect(md).toMatch(/^# Experiment tiny$/m);
    expect(md).toMatch(/^\| threshold \| policy \| seeds \| downtime p99 \(ms\) \|/m);
    // Four groups; two seeds give a ± half-width where the seeds differ.
    expect(md.match(/^\| (512KiB|8MiB) \| (none|fixed) \| 2 \|/gm)).toHaveLength(4);
    expect(md).toMatch(/\d ± \d/);

    const svg = readFileSync(join(out, 'chart-downtimeP99Ms.svg'), 'utf8');
    expect(countMarks(svg, 'points_downtimeP99Ms')).toBe(4);
    expect(countMarks(svg, 'ci_downtimeP99Ms')).toBe(4);
    const config = JSON.parse(readFileSync(join(out, 'experiment.json'), 'utf8')) as {
      cells: { key: string }[];
    };
    expect(config.cells.map((c) => c.key).sort()).toEqual(rows.map((x) => x.key).sort());

    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script[^>]+src=|<link\b|@import|url\(http/);
    expect(html.match(/<div class="chart" /g)).toHaveLength(4);
    expect(html).toContain('data-metric="downtimeP99Ms" data-points="4" data-error-bars="4"');
    expect(html.length).toBeGreaterThan(400_000); // vega inlined
    // The run timelines: the first threshold, seed 1, one panel group per policy.
    expect(html).toContain(
      '<div class="timeline" id="timeline" data-checkpoints="{&quot;none&quot;:5,&quot;fixed&quot;:5}">',
    );
    const timeline = readFileSync(join(out, 'timeline.svg'), 'utf8');
    expect(timeline).toContain('run timelines: threshold=512KiB seed=1');
    expect(countMarks(timeline, 'checkpoints_none')).toBe(5);
    expect(countMarks(timeline, 'checkpoints_fixed')).toBe(5);
    expect(countMarks(timeline, 'rounds_fixed')).toBeGreaterThan(0);
  });

  it('a rerun runs nothing and rewrites the same tables', async () => {
    const before = readFileSync(join(out, 'summary.csv'), 'utf8');
    const counter = { started: 0 };
    const r = await cli(['experiment', file, '--out', out], { cellRunner: countingRunner(counter) });
    expect(r.code).toBe(EXIT.ok);
    expect(counter.started).toBe(0);
    expect(r.err).toMatch(/8 already in .*cells\.jsonl; nothing to run/);
    expect(lines(join(out, 'cells.jsonl'))).toHaveLength(8);
    expect(readFileSync(join(out, 'summary.csv'), 'utf8')).toBe(before);
  });

  it('--dry-run lists the cells and runs nothing', async () => {
    const r = await cli(['experiment', file, '--out', join(dir, 'dry'), '--dry-run']);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toMatch(/^experiment tiny: 8 cells .* 8 to run \(dry run: nothing was run\)$/m);
    expect(r.out.match(/^ {2}[0-9a-f]{16} {2}todo {2}threshold=/gm)).toHaveLength(8);
    expect(existsSync(join(dir, 'dry'))).toBe(false);
  });
});

describe('colo experiment: resumption', () => {
  it('an interrupted run keeps its finished cells and a rerun runs only the rest', async () => {
    const file = write('resume.yaml', TINY.replace('name: tiny', 'name: resume'));
    const out = join(dir, 'resume-out');
    let interrupt: () => void = () => {};
    const first = { started: 0 };
    // Ctrl-C while the fourth cell is starting: three have finished (in this thread, one at a time).
    const r1 = await cli(['experiment', file, '--out', out, '--quiet'], {
      cellRunner: countingRunner(first, (n) => n === 4 && interrupt()),
      onInterrupt: (h) => {
        interrupt = h;
        return () => {};
      },
    });
    expect(r1.code).toBe(EXIT.interrupted);
    expect(r1.err).toMatch(
      /^colo: interrupted: \d of 8 cells finished \(kept in .*\); run the same command again/m,
    );
    const kept = lines(join(out, 'cells.jsonl')).map((l) => (JSON.parse(l) as CellRow).key);
    expect(kept.length).toBeGreaterThanOrEqual(3);
    expect(kept.length).toBeLessThan(8);

    // A crash mid-write leaves a line cut short: that cell runs again, the rest are kept.
    appendFileSync(join(out, 'cells.jsonl'), '{"key":"0123456789abcdef","metr');
    const second = { started: 0 };
    const r2 = await cli(['experiment', file, '--out', out], { cellRunner: countingRunner(second) });
    expect(r2.code).toBe(EXIT.ok);
    expect(r2.err).toMatch(/warning: 1 line\(s\) of .*cells\.jsonl could not be read/);
    expect(second.started).toBe(8 - kept.length);
    const all = lines(join(out, 'cells.jsonl')).flatMap((l) => {
      try {
        return [(JSON.parse(l) as CellRow).key];
      } catch {
        return [];
      }
    });
    expect(new Set(all).size).toBe(8);
    expect(all.slice(0, kept.length)).toEqual(kept);
  });

  it('keys cells by what they run, not how the file spells it', () => {
    const a = expandExperiment('a.yaml', readExperimentFile(write('a.yaml', TINY)));
    const spelled = TINY.replace('[512KiB, 8MiB]', '[524288, "8MiB"]').replace('30s', '30000');
    const b = expandExperiment('b.yaml', readExperimentFile(write('b.yaml', spelled)));
    expect(b.cells.map((c) => c.key)).toEqual(a.cells.map((c) => c.key));
    const changed = expandExperiment(
      'c.yaml',
      readExperimentFile(write('c.yaml', TINY.replace('checkpointDelay: 5s', 'checkpointDelay: 6s'))),
    );
    expect(changed.cells.some((c) => a.cells.some((x) => x.key === c.key))).toBe(false);
  });
});

describe('colo experiment: worker threads', () => {
  it('two threads give the same cells as this thread', async () => {
    const text = TINY.replace('name: tiny', 'name: threads').replace('seeds: 2', 'seeds: 1');
    const file = write('threads.yaml', text);
    const viaWorkers = join(dir, 'threads-workers');
    const inThread = join(dir, 'threads-in');
    const w = await cli(['experiment', file, '--out', viaWorkers, '--jobs', '2', '--quiet', '--no-png'], {
      cellRunner: (jobs) => workerCellRunner(jobs),
    });
    expect(w.err).toBe('');
    expect(w.code).toBe(EXIT.ok);
    const t = await cli(['experiment', file, '--out', inThread, '--quiet', '--no-png']);
    expect(t.code).toBe(EXIT.ok);
    const read = (d: string) =>
      lines(join(d, 'cells.jsonl'))
        .map((l) => JSON.parse(l) as CellRow)
        .map(({ key, metrics: { simPerWall: _, ...m }, verdict }) => ({ key, m, verdict }))
        .sort((x, y) => x.key.localeCompare(y.key));
    expect(read(viaWorkers)).toEqual(read(inThread));
    expect(existsSync(join(viaWorkers, 'chart-downtimeP99Ms.png'))).toBe(false);
  });
});

describe('colo experiment: bad files', () => {
  const cases: [string, string, RegExp][] = [
    [
      'unknown-key.yaml',
      `${TINY}\nruns: 3\n`,
      /: unknown key "runs": use name, description, base, grid, seeds, chart$/,
    ],
    ['no-name.yaml', 'grid: { threshold: [1MiB] }\n', /: name: expected a name$/],
    ['bad-name.yaml', 'name: My Test\n', /: name: must be 1-64 lower-case letters/],
    [
      'axis.yaml',
      'name: x\ngrid: { treshold: [1MiB] }\n',
      /: grid: unknown axis "treshold" \(did you mean threshold\?\)/,
    ],
    [
      'wl-axis.yaml',
      'name: x\ngrid: { workload.colRate: [1] }\n',
      /: grid: "workload.colRate" is not a workload key \(did you mean coldRate\?\)/,
    ],
    [
      'unit.yaml',
      'name: x\ngrid: { threshold: [1MiB, 10Mb] }\n',
      /: grid\.threshold\[1\]: .*did you mean 10MB or 10MiB\?/,
    ],
    [
      'policy.yaml',
      'name: x\ngrid: { policy: [none, greedy] }\n',
      /: grid\.policy\[1\]: "greedy" is not a policy: use none, fixed, adaptive$/,
    ],
    ['empty.yaml', 'name: x\ngrid: { threshold: [] }\n', /: grid\.threshold: give at least one value$/],
    ['seeds.yaml', 'name: x\nseeds: 0\n', /: seeds: a count of seeds must be 1 or more$/],
    ['base-seed.yaml', 'name: x\nbase: { seed: 3 }\n', /: base\.seed: seeds are set by seeds/],
    [
      'base-key.yaml',
      'name: x\nbase: { gust: 1GiB }\n',
      /: base: unknown key "gust" \(did you mean guest\?\)/,
    ],
    ['base-range.yaml', 'name: x\nbase: { guest: 1GB }\n', /: base\.guest: .*use MiB, GiB/],
    [
      'chart.yaml',
      'name: x\ngrid: { threshold: [1MiB] }\nchart: { x: bandwidth }\n',
      /: chart\.x: "bandwidth" is not an axis of the grid/,
    ],
    [
      'combo.yaml',
      'name: x\ngrid: { heartbeatTimeout: [2s], heartbeatInterval: [1s, 3s] }\n',
      /: cell heartbeatTimeout=2s heartbeatInterval=3s policy=none seed=42: heartbeatTimeout: the heartbeat timeout \(2s\) must exceed the heartbeat interval \(3s\)/,
    ],
    ['yaml.yaml', 'name: x\ngrid: { threshold: [1MiB\n', /is not valid YAML: .*\(line \d+, column \d+\)$/],
    [
      'timeline.yaml',
      'name: x\ngrid: { threshold: [1MiB] }\nchart: { timeline: { bandwidth: 1Gbit } }\n',
      /: chart\.timeline: "bandwidth" is not an axis of the grid/,
    ],
    [
      'timeline-value.yaml',
      'name: x\ngrid: { threshold: [1MiB] }\nchart: { timeline: { threshold: 2MiB } }\n',
      /: chart\.timeline: no cell has threshold=2MiB$/,
    ],
    ['json.json', '{"name": "x",}', /is not valid JSON: /],
    ['list.yaml', '- 1\n- 2\n', /: must be an object with name, base, grid and seeds$/],
  ];
  it.each(cases)('%s', async (name, text, message) => {
    const r = await cli(['experiment', write(name, text), '--out', join(dir, `bad-${name}`)]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(new RegExp(message.source, 'm'));
    for (const line of r.err.trimEnd().split('\n')) expect(line).toMatch(/^colo: /);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, `bad-${name}`))).toBe(false);
  });

  it.each([
    [['experiment'], /^colo: missing required argument 'file'; see colo experiment --help$/m],
    [['experiment', 'x.yaml', '--bogus'], /^colo: unknown option '--bogus'; see colo experiment --help$/m],
    [['experiment', 'x.yaml', '--jobs', '0'], /^colo: --jobs: "0" is not a whole number from 1 to 999$/m],
  ])('usage %j', async (argv, message) => {
    const r = await cli(argv);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(message);
  });

  it('a missing file', async () => {
    const r = await cli(['experiment', join(dir, 'nope.yaml')]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(/^colo: experiment file .*nope\.yaml does not exist$/m);
  });
});

describe('the published JSON Schema', () => {
  it('docs/experiment-schema.json is current (npx tsx src/experiment/json-schema.ts)', () => {
    expect(JSON.parse(readFileSync(EXPERIMENT_JSON_SCHEMA_PATH, 'utf8'))).toEqual(experimentJsonSchema());
  });

  it('names the axes and the scenario keys of base', () => {
    const s = experimentJsonSchema() as {
      properties: { grid: { propertyNames: { anyOf: { enum?: string[] }[] } }; base: { properties: object } };
      required: string[];
    };
    expect(s.required).toEqual(['name']);
    expect(s.properties.grid.propertyNames.anyOf[0]?.enum).toEqual(
      expect.arrayContaining(['policy', 'threshold', 'bandwidth']),
    );
    expect(Object.keys(s.properties.base.properties)).toEqual(
      expect.arrayContaining(['guest', 'workload', 'faults']),
    );
    expect(Object.keys(s.properties.base.properties)).not.toContain('seed');
  });
});

describe('statistics over seeds', () => {
  it("Student's t quantiles and intervals", () => {
    expect(tQuantile95(1)).toBe(12.706);
    expect(tQuantile95(4)).toBe(2.776);
    expect(tQuantile95(1000)).toBe(1.96);
    const e = estimate([10, 12, 14]);
    expect(e.mean).toBe(12);
    // sd 2, n 3: 4.303 × 2 / √3
    expect(e.ci95).toBeCloseTo((4.303 * 2) / Math.sqrt(3), 10);
    expect(Number.isNaN(estimate([5]).ci95)).toBe(true);
    expect(estimate([5]).mean).toBe(5);
  });
});
