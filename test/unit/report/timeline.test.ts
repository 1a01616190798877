/**
 * `colo run --timeline FILE` and `--trace FILE`: the SVG has a mark per checkpoint, phase, round and waste
 * bar, the threshold only where it applies, a failover where one happened; the trace file's lines parse
 * and carry QEMU's event names; bad paths are refused before anything runs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../../src/cli/outcome.ts';
import type { RunReport } from '../../../src/cli/report.ts';
import { PendingSampler } from '../../../src/report/timeline.ts';
import { PHASES } from '../../../src/report/timeline-chart.ts';
import type { TraceLine } from '../../../src/report/trace-lines.ts';
import { cli } from '../cli/run-cli.ts';
import { countMarks, hasMark } from './svg-marks.ts';

const dir = mkdtempSync(join(tmpdir(), 'colo-timeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SMALL = ['--guest', '16MiB', '--duration', '30s', '--checkpoint-delay', '5s', '--payload', 'modelled'];

/** QEMU's trace-event names the engine uses (src/engine/effects.ts). */
const QEMU_EVENTS = new Set([
  'colo_send_message',
  'colo_receive_message',
  'colo_vm_state_change',
  'colo_flush_ram_cache_begin',
  'colo_flush_ram_cache_end',
  'colo_need_migrate_ram_background',
  'colo_background_round_end',
  'colo_background_round_abandoned',
  'colo_checkpoint_coalesced',
  'colo_failover_set_state',
  'colo_reject',
  'colo_exit',
]);

describe('colo run --timeline / --trace', () => {
  it('draws one group of panels per policy with a mark per checkpoint, phase, round and waste bar', async () => {
    const svgPath = join(dir, 'two.svg');
    const tracePath = join(dir, 'two.jsonl');
    const jsonPath = join(dir, 'two.json');
    const r = await cli([
      'run',
      ...SMALL,
      '--threshold',
      '1MiB',
      '--policy',
      'none,fixed',
      '--timeline',
      svgPath,
      '--trace',
      tracePath,
      '--json',
      jsonPath,
    ]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.err).toMatch(/^timeline written to .*two\.svg$/m);
    const svg = readFileSync(svgPath, 'utf8');
    const report = JSON.parse(readFileSync(jsonPath, 'utf8')) as RunReport;
    expect(svg.startsWith('<svg')).toBe(true);
    for (const run of report.runs) {
      const p = run.policy;
      const n = run.summary.checkpoints;
      expect(n).toBeGreaterThan(3);
      expect(countMarks(svg, `checkpoints_${p}`)).toBe(n);
      expect(countMarks(svg, `downtime_${p}`)).toBe(n * PHASES.length);
      expect(countMarks(svg, `wasted_${p}`)).toBe(n);
      expect(countMarks(svg, `rounds_${p}`)).toBe(run.summary.rounds);
      expect(countMarks(svg, `pending_${p}`)).toBe(1);
      expect(hasMark(svg, `failover_${p}`)).toBe(false);
    }
    expect(countMarks(svg, 'rounds_fixed')).toBeGreaterThan(0);
    expect(countMarks(svg, 'rounds_none')).toBe(0);
    // The threshold drives `fixed` only.
    expect(countMarks(svg, 'threshold_fixed')).toBe(1);
    expect(hasMark(svg, 'threshold_none')).toBe(false);

    const lines = readFileSync(tracePath, 'utf8').trimEnd().split('\n');
    const events = lines.map((l) => JSON.parse(l) as TraceLine);
    expect(events.length).toBeGreaterThan(100);
    for (const e of events) {
      expect(QEMU_EVENTS.has(e.event)).toBe(true);
      expect(['primary', 'secondary']).toContain(e.node);
      expect(typeof e.ts_ms).toBe('number');
    }
    for (const run of report.runs) {
      const mine = events.filter((e) => e.policy === run.policy);
      // Every checkpoint stops and resumes the PVM (plus the first resume after checkpoint-ready).
      const stops = mine.filter(
        (e) => e.event === 'colo_vm_state_change' && e.node === 'primary' && e.args.new === 'stop',
      );
      expect(stops.length).toBe(run.summary.checkpoints);
      const flushes = mine.filter((e) => e.event === 'colo_flush_ram_cache_end');
      expect(flushes.length).toBe(run.summary.checkpoints);
      expect(mine.map((e) => e.ts_ms)).toEqual([...mine.map((e) => e.ts_ms)].sort((a, b) => a - b));
    }
    const rounds = events.filter((e) => e.event === 'colo_background_round_end');
    expect(rounds.every((e) => e.policy === 'fixed')).toBe(true);
    expect(rounds.length).toBe(report.runs.find((x) => x.policy === 'fixed')?.summary.rounds);
  });

  it('marks a failover, and writes a PNG when the file says .png', async () => {
    const svgPath = join(dir, 'failover.svg');
    const r = await cli([
      'run',
      ...SMALL,
      '--policy',
      'fixed',
      '--faults',
      'outage=primary@12s+15s',
      '--timeline',
      svgPath,
      '--quiet',
    ]);
    expect(r.code).toBe(EXIT.failedOver);
    const svg = readFileSync(svgPath, 'utf8');
    expect(countMarks(svg, 'failover_fixed')).toBe(1);
    expect(svg).toMatch(/failover: secondary took the VM/);
    const pngPath = join(dir, 'one.png');
    expect((await cli(['run', ...SMALL, '--policy', 'none', '--timeline', pngPath, '--quiet'])).code).toBe(0);
    expect([...readFileSync(pngPath).subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });

  it.each([
    [
      ['--timeline', join(tmpdir(), 'no-such-dir-colo', 'x.svg')],
      /^colo: --timeline: cannot write .*does not exist$/m,
    ],
    [['--timeline', 'timeline.pdf'], /^colo: --timeline: timeline\.pdf: name an \.svg or a \.png file$/m],
    [
      ['--trace', join(tmpdir(), 'no-such-dir-colo', 'x.jsonl')],
      /^colo: --trace: cannot write .*does not exist$/m,
    ],
    [['--trace', '-'], /^colo: --trace: name a file/m],
  ])('refuses %j before running', async (flags, message) => {
    const r = await cli(['run', ...SMALL, ...flags]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });
});

describe('PendingSampler', () => {
  it('keeps one sample per step and every drop', () => {
    const s = new PendingSampler(100);
    for (const [at, bytes] of [
      [0, 0],
      [10, 5],
      [100, 50],
      [150, 80],
      [160, 10],
      [160, 0],
      [200, 30],
      [260, 40],
    ] as const)
      s.offer(at, bytes);
    expect(s.samples).toEqual([
      { atMs: 0, bytes: 0 },
      { atMs: 100, bytes: 50 },
      { atMs: 160, bytes: 10 },
      { atMs: 260, bytes: 40 },
    ]);
  });
});
