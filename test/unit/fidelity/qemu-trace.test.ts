import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cutCheckpoints } from '../../../src/fidelity/checkpoints.ts';
import { qemuFigures } from '../../../src/fidelity/figures.ts';
import type { LinkChunk } from '../../../src/fidelity/link-meter.ts';
import { parseQemuTrace } from '../../../src/fidelity/qemu-trace.ts';

/** Recorded with QEMU 7.2.22 (Debian 12, TCG, patched copy): 256 pages, x-checkpoint-delay 500 ms. */
const traces = join(import.meta.dirname, 'traces');
const primaryLog = readFileSync(join(traces, 'primary-256p-500ms.trace'), 'utf8');
const secondaryLog = readFileSync(join(traces, 'secondary-256p-500ms.trace'), 'utf8');
const failoverLog = readFileSync(join(traces, 'secondary-failover.trace'), 'utf8');

describe('QEMU 7.2 colo_* trace parser', () => {
  it('reads every line of a recorded trace into the engine vocabulary, times in ms', () => {
    const { events, skipped } = parseQemuTrace(primaryLog);
    expect(skipped).toBe(0);
    expect(events).toHaveLength(40);
    expect(events[0]).toEqual({
      type: 'trace',
      name: 'colo_receive_message',
      at: 1796021041905.915,
      fields: { msg: 'checkpoint-ready' },
    });
    expect(events[1]?.fields).toEqual({ old: 'stop', new: 'run' });
  });

  it('reads the flush count and the failover states', () => {
    const s = parseQemuTrace(secondaryLog).events;
    const flush = s.filter((e) => e.name === 'colo_flush_ram_cache_begin').map((e) => e.fields.dirty_pages);
    expect(flush.slice(0, 3)).toEqual([450, 256, 256]);
    const f = parseQemuTrace(failoverLog);
    expect(f.events.filter((e) => e.name === 'colo_failover_set_state').map((e) => e.fields.state)).toEqual([
      'require',
      'active',
      'completed',
    ]);
    expect(f.skipped).toBe(0);
  });

  it('refuses a known event whose arguments do not parse, naming the line', () => {
    expect(() => parseQemuTrace('1@1.000000:colo_send_message Sent it\n')).toThrow(
      /^trace line 1: colo_send_message/,
    );
    expect(() => parseQemuTrace('x\n1@2.000001:colo_flush_ram_cache_begin dirty_pages many')).toThrow(
      /trace line 2/,
    );
  });

  it('skips other log lines and unknown colo events', () => {
    const t = parseQemuTrace('hello\n1@1.000000:colo_compare_main x\n2026-11-30T06:44:08Z qemu: oops\n');
    expect(t).toEqual({ events: [], skipped: 3 });
  });
});

describe('checkpoints of a recorded trace', () => {
  const p = cutCheckpoints(parseQemuTrace(primaryLog).events, 'primary');
  const s = cutCheckpoints(parseQemuTrace(secondaryLog).events, 'secondary');

  it('QEMU primary: request, reply, stop, vmstate-send, vmstate-size, received, loaded, run', () => {
    expect(p.startup).toEqual(['recv:checkpoint-ready', 'run']);
    expect(p.checkpoints[0]?.steps).toEqual([
      'send:checkpoint-request',
      'recv:checkpoint-reply',
      'stop',
      'send:vmstate-send',
      'send:vmstate-size',
      'recv:vmstate-received',
      'recv:vmstate-loaded',
      'run',
    ]);
    expect(p.checkpoints.filter((c) => c.complete)).toHaveLength(4);
    expect(p.checkpoints.at(-1)?.complete).toBe(false);
  });

  it('QEMU secondary: stops before replying, resumes before vmstate-loaded', () => {
    expect(s.startup).toEqual(['run', 'send:checkpoint-ready']);
    expect(s.checkpoints[1]?.steps).toEqual([
      'recv:checkpoint-request',
      'stop',
      'send:checkpoint-reply',
      'recv:vmstate-send',
      'recv:vmstate-size',
      'send:vmstate-received',
      'flush',
      'run',
      'send:vmstate-loaded',
    ]);
  });

  it('figures: pause, send, flush, reply time, and bytes between one request and the next', () => {
    const c0 = p.checkpoints[0];
    const c1 = p.checkpoints[1];
    if (!c0 || !c1) throw new Error('recorded trace too short');
    const link: LinkChunk[] = [
      { at: c0.requestAt - 1, dir: 'p2s', bytes: 1000 }, // before: precopy
      { at: c0.requestAt + 0.5, dir: 'p2s', bytes: 4 },
      { at: c0.stopAt + 1, dir: 'p2s', bytes: 10_000 },
      { at: c0.stopAt + 1, dir: 's2p', bytes: 4 },
      { at: c1.requestAt, dir: 'p2s', bytes: 7 },
    ];
    const figs = qemuFigures(p, s, link);
    expect(figs).toHaveLength(3); // the secondary snippet holds three whole checkpoints
    expect(figs[0]?.bytes).toBe(10_004);
    expect(figs[1]?.bytes).toBe(7);
    expect(figs[0]?.pages).toBe(450);
    expect(figs[1]?.pages).toBe(256);
    // 42.433484 → 42.493457, and the stop 19.18 ms after the request (42.414304).
    expect(figs[0]?.pauseMs).toBeCloseTo(59.973, 2);
    expect(figs[0]?.replyMs).toBeCloseTo(19.18, 2);
    expect(figs[0]?.sendMs).toBeCloseTo(5.053, 2);
    expect(figs[0]?.flushMs).toBeCloseTo(0.365, 2);
  });
});
