/**
 * `colo experiment` and `colo run --timeline/--trace` against the outside review of issue 11: repeated
 * values and seeds, a huge grid, signals while outputs are written, two runs into one folder, unusable
 * folders and files, JSON duplicate keys, messages, hand-edited cells.jsonl lines, stale images.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../../src/cli/outcome.ts';
import type { CellRow } from '../../../src/experiment/cell-run.ts';
import { LOCK_FILE } from '../../../src/experiment/lock.ts';
import { cli } from '../cli/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'colo-review-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Base B of the review: a 64 MiB guest for 5 s, modelled payload. */
const B = 'base: { guest: 64MiB, duration: 5s, payload: modelled }\n';
/** B with checkpoints every second, so that a cell measures something (exit 0). */
const B1 = 'base: { guest: 64MiB, duration: 5s, checkpointDelay: 1s, payload: modelled }\n';

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A pid that is not alive: a process that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

/** Runs `colo experiment` on `text`; the output folder is `bad-<name>`. */
async function refused(name: string, text: string, argv: string[] = []) {
  const out = join(dir, `bad-${name}`);
  const r = await cli(['experiment', write(name, text), '--out', out, ...argv]);
  return { ...r, out };
}

describe('refused before anything runs: one line, exit 1, no folder', () => {
  const cases: [string, string, RegExp][] = [
    [
      'dup-threshold.yaml',
      `name: x\n${B}grid: { threshold: [4MiB, 4MiB, 4194304] }\n`,
      /: grid\.threshold\[1\]: 4MiB is the same value as grid\.threshold\[0\] \(4MiB\): remove one$/,
    ],
    [
      'dup-threshold-bytes.yaml',
      `name: x\n${B}grid: { threshold: [4MiB, 4194304] }\n`,
      /: grid\.threshold\[1\]: 4194304 is the same value as grid\.threshold\[0\]/,
    ],
    [
      'dup-seeds.yaml',
      `name: x\n${B}seeds: [1, 1]\n`,
      /: seeds: 1 appears twice \(seeds\[0\] and seeds\[1\]\)$/,
    ],
    [
      'dup-policy.yaml',
      `name: x\n${B}grid: { policy: [none, none] }\n`,
      /: grid\.policy\[1\]: none is the same value as grid\.policy\[0\]: remove one$/,
    ],
    ['nan.yaml', 'name: x\nbase: { duration: .nan }\n', /: base\.duration: NaN is not a finite number$/],
    [
      'inf.yaml',
      `name: x\n${B}grid: { threshold: [.inf] }\n`,
      /: grid\.threshold\[0\]: Infinity is not a finite/,
    ],
    [
      'proto.yaml',
      `name: x\nbase: { __proto__: { polluted: 1 }, guest: 64MiB }\n`,
      /: base\.__proto__: "__proto__" is not a key$/,
    ],
    [
      'control.yaml',
      `name: x\ndescription: "a\\0b"\n${B}`,
      /: description: must not hold control characters \(tabs and line breaks are fine\)$/,
    ],
    [
      'long.yaml',
      `name: x\ndescription: ${'a'.repeat(4001)}\n${B}`,
      /: description: must be at most 4000 characters$/,
    ],
    ['metrics.yaml', `name: x\n${B}chart: { metrics: [] }\n`, /: chart\.metrics: give at least one metric: /],
    [
      'dup.json',
      '{"name": "x", "seeds": 2, "name": "y"}',
      /: a key is written twice in one object \(line 1, column 27\)$/,
    ],
    [
      'proto.json',
      '{"name": "x", "base": {"__proto__": {"a": 1}}}',
      /: base\.__proto__: "__proto__" is not a key$/,
    ],
    [
      'yaml-body.json',
      'name: x\ngrid: { threshold: [1MiB] }\n',
      /is not valid JSON: Unexpected token .*"name: x\\ngri/,
    ],
  ];
  it.each(cases)('%s', async (name, text, message) => {
    const r = await refused(name, text);
    expect(r.err).toMatch(new RegExp(message.source, 'm'));
    expect(r.code).toBe(EXIT.usage);
    expect(
      r.err
        .trimEnd()
        .split('\n')
        .every((l) => l.startsWith('colo: ')),
    ).toBe(true);
    expect(existsSync(r.out)).toBe(false);
  });

  it('a grid of 27 M combinations is refused by its count (the product is never built)', async () => {
    const values = (unit: string, from: number) =>
      Array.from({ length: 300 }, (_, i) => `${i + from}${unit}`).join(', ');
    const text = `name: x\n${B}grid: { latency: [${values('ms', 0)}], bandwidth: [${values('Mbit', 1)}], checkpointDelay: [${values('ms', 1000)}] }\n`;
    const r = await refused('huge.yaml', text);
    expect(r.err).toMatch(/: the grid has \d+ cells \(at most 100000\): fewer values or seeds$/m);
    expect(r.code).toBe(EXIT.usage);
  });

  it('a file that is not a regular file (a device, a FIFO)', async () => {
    const r = await cli(['experiment', '/dev/zero', '--out', join(dir, 'bad-zero')]);
    expect(r.err).toMatch(/^colo: experiment file \/dev\/zero is not a regular file/m);
    expect(r.code).toBe(EXIT.usage);
    const fifo = join(dir, 'fifo.yaml');
    spawnSync('mkfifo', [fifo]);
    if (existsSync(fifo)) {
      const f = await cli(['experiment', fifo, '--out', join(dir, 'bad-fifo')]);
      expect(f.err).toMatch(/is not a regular file/);
    }
  });

  it('a file over 1 MiB', async () => {
    const r = await refused('big.yaml', `name: x\n# ${'x'.repeat(1024 * 1024)}\n`);
    expect(r.err).toMatch(/is larger than 1 MiB \(\d+ bytes\)$/m);
  });

  it('--out "" and --out under a file', async () => {
    const file = write('ok.yaml', `name: ok\n${B}`);
    const empty = await cli(['experiment', file, '--out', '']);
    expect(empty.err).toBe('colo: --out: the path is empty: name a folder\n');
    expect(empty.code).toBe(EXIT.usage);
    const under = await cli(['experiment', file, '--out', join(file, 'x')]);
    expect(under.err).toMatch(
      /^colo: --out: cannot use .*ok\.yaml\/x as the experiment's folder: a file is in the way at .*ok\.yaml$/m,
    );
    expect(under.code).toBe(EXIT.usage);
  });

  // sysfs takes no new files even from root: the folder is probed before any cell runs.
  it.skipIf(!existsSync('/sys/fs'))('--out on a folder that takes no files', async () => {
    let cells = 0;
    const r = await cli(['experiment', write('ro.yaml', `name: ro\n${B}`), '--out', '/sys/fs'], {
      cellRunner: () => ({
        slots: 1,
        start: () => {
          cells++;
          throw new Error('no cell may run');
        },
        close: async () => {},
      }),
    });
    expect(r.err).toMatch(
      /^colo: --out: cannot use \/sys\/fs as the experiment's folder: \/sys\/fs is not writable$/m,
    );
    expect(r.code).toBe(EXIT.usage);
    expect(cells).toBe(0);
    const deeper = await cli([
      'experiment',
      write('ro2.yaml', `name: ro\n${B}`),
      '--out',
      '/sys/fs/colo-x/y',
    ]);
    expect(deeper.err).toMatch(
      /^colo: --out: cannot use \/sys\/fs\/colo-x\/y as the experiment's folder: \/sys\/fs is not writable$/m,
    );
    expect(deeper.code).toBe(EXIT.usage);
  });

  it('a repeated value on the Step Functions backend is refused before the stack is looked for', async () => {
    let looked = 0;
    const r = await cli(
      [
        'experiment',
        write('sfn-dup.yaml', `name: x\n${B}grid: { threshold: [4MiB, 4194304] }\n`),
        '--backend',
        'stepfunctions',
      ],
      {
        stepFunctionsRunner: async () => {
          looked++;
          throw new Error('the stack must not be looked for');
        },
      },
    );
    expect(r.err).toMatch(/: grid\.threshold\[1\]: 4194304 is the same value as grid\.threshold\[0\]/);
    expect(r.code).toBe(EXIT.usage);
    expect(looked).toBe(0);
  });
});

describe('the output folder', () => {
  it('a folder locked by a live process is refused; a dead one’s lock is taken over and released', async () => {
    const file = write('lock.yaml', `name: lock\n${B1}grid: { policy: [none] }\n`);
    const out = join(dir, 'lock-out');
    mkdirSync(out);
    writeFileSync(join(out, LOCK_FILE), `${process.pid}\n`);
    const held = await cli(['experiment', file, '--out', out, '--quiet', '--no-png']);
    expect(held.err).toMatch(
      new RegExp(
        `^colo: --out: .*lock-out is in use by another colo experiment \\(pid ${process.pid}\\)`,
        'm',
      ),
    );
    expect(held.code).toBe(EXIT.usage);
    expect(existsSync(join(out, 'cells.jsonl'))).toBe(false);

    writeFileSync(join(out, LOCK_FILE), `${deadPid()}\n`);
    const taken = await cli(['experiment', file, '--out', out, '--quiet', '--no-png']);
    expect(taken.err).toBe('');
    expect(taken.code).toBe(EXIT.ok);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
  });

  it('a rerun with fewer charts and --no-png removes the images it no longer writes', async () => {
    const out = join(dir, 'stale-out');
    const text = `name: stale\n${B1}grid: { policy: [none] }\n`;
    const first = await cli(['experiment', write('stale.yaml', text), '--out', out, '--quiet']);
    expect(first.code).toBe(EXIT.ok);
    expect(readdirSync(out).filter((f) => f.endsWith('.png')).length).toBeGreaterThan(1);
    const fewer = `${text}chart: { metrics: [downtimeP99Ms], timeline: false }\n`;
    const second = await cli(['experiment', write('stale.yaml', fewer), '--out', out, '--quiet', '--no-png']);
    expect(second.code).toBe(EXIT.ok);
    const images = readdirSync(out).filter((f) => /\.(svg|png)$/.test(f));
    expect(images).toEqual(['chart-downtimeP99Ms.svg']);
  });

  it('a hand-edited line of a real key is not a finished cell: it reruns, with one warning', async () => {
    const out = join(dir, 'edit-out');
    const file = write('edit.yaml', `name: edit\n${B1}grid: { policy: [none] }\n`);
    expect((await cli(['experiment', file, '--out', out, '--quiet', '--no-png'])).code).toBe(EXIT.ok);
    const log = join(out, 'cells.jsonl');
    const key = (JSON.parse(readFileSync(log, 'utf8').trim()) as CellRow).key;
    writeFileSync(log, `${JSON.stringify({ key, metrics: {} })}\n`);
    const r = await cli(['experiment', file, '--out', out, '--no-png']);
    expect(r.err).toMatch(/^experiment edit: 1 cells \(1 per seed × 1 seed\); 1 to run/m);
    expect(
      r.err.match(/warning: 1 line\(s\) of .*cells\.jsonl could not be read as finished cells/g),
    ).toHaveLength(1);
    expect(r.code).toBe(EXIT.ok);
  });

  it('an empty grid says it is one combination', async () => {
    const r = await cli(['experiment', write('empty-grid.yaml', `name: eg\n${B}grid: {}\n`), '--dry-run']);
    expect(r.out).toMatch(
      /^experiment eg: 2 cells \(2 per seed × 1 seed; the grid has no axes: one combination\)/m,
    );
  });
});

describe('a signal while the outputs are written', () => {
  /** An onInterrupt whose removal fires `signal` once, after noting whether `file` was written by then. */
  function lateSignal(file: string, signal?: 'SIGTERM') {
    const seen = { writtenAtRemoval: false };
    const onInterrupt = (h: (s?: 'SIGINT' | 'SIGTERM') => void) => () => {
      seen.writtenAtRemoval = existsSync(file);
      h(signal);
    };
    return { seen, onInterrupt };
  }

  it('colo experiment keeps its handler until report.html is written, then exits 130 with one line', async () => {
    const out = join(dir, 'sig-out');
    const { seen, onInterrupt } = lateSignal(join(out, 'report.html'));
    const file = write('sig.yaml', `name: sig\n${B1}grid: { policy: [none] }\n`);
    const r = await cli(['experiment', file, '--out', out, '--quiet', '--no-png'], { onInterrupt });
    expect(seen.writtenAtRemoval).toBe(true);
    expect(r.code).toBe(EXIT.interrupted);
    expect(r.err).toMatch(
      /^colo: interrupted: 1 of 1 cells finished \(kept in .*\); the outputs were written to /m,
    );
  });

  it('SIGTERM: exit 143 and a line that names it', async () => {
    const out = join(dir, 'term-out');
    const { onInterrupt } = lateSignal(join(out, 'report.html'), 'SIGTERM');
    const file = write('term.yaml', `name: term\n${B1}grid: { policy: [none] }\n`);
    const r = await cli(['experiment', file, '--out', out, '--quiet', '--no-png'], { onInterrupt });
    expect(r.code).toBe(EXIT.terminated);
    expect(r.err).toMatch(/^colo: stopped by SIGTERM: 1 of 1 cells finished/m);
  });

  it('colo run --timeline --trace keeps its handler until both are written', async () => {
    const timeline = join(dir, 'run-timeline.svg');
    const trace = join(dir, 'run-trace.txt');
    const { seen, onInterrupt } = lateSignal(timeline);
    const r = await cli(
      [
        'run',
        '--guest',
        '64MiB',
        '--duration',
        '5s',
        '--policy',
        'none',
        '--timeline',
        timeline,
        '--trace',
        trace,
        '--quiet',
      ],
      { onInterrupt },
    );
    expect(r.err).not.toMatch(/unknown option/);
    expect(seen.writtenAtRemoval).toBe(true);
    expect(existsSync(trace)).toBe(true);
    expect(r.code).toBe(EXIT.interrupted);
    expect(r.err).toMatch(
      /^colo: interrupted while writing the outputs: every policy finished and was written$/m,
    );
  });

  it('--trace "" and --trace - give the same advice', async () => {
    const empty = await cli(['run', '--trace', '']);
    const dash = await cli(['run', '--trace', '-']);
    expect(empty.err).toBe('colo: --trace: name a file (the path is empty)\n');
    expect(dash.err).toBe('colo: --trace: name a file (- is not supported: it cannot go to stdout)\n');
  });
});
