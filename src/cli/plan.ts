/**
 * Figures derived from a scenario before anything runs (`colo run --dry-run`), the warnings they justify,
 * and the words that explain a failover after a run. Estimates use the same cost model as the engine
 * (src/engine/params.ts): link time is wire bytes / bandwidth, plus latency, prep and device load.
 */

import { type ColoParams, MESSAGE_WIRE_BYTES, PAGE_HEADER_WIRE_BYTES, pageCount } from '../engine/params.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import { checkpointWaitMs } from '../engine/secondary/secondary.ts';
import type { WorkloadSpec } from '../engine/workload/spec.ts';
import { timeoutOrderWarning } from '../parameters/timeout-order.ts';
import { durationFlag, formatBandwidth, formatBytes, formatDuration } from '../parameters/units.ts';
import { formatWorkload } from '../parameters/workload.ts';
import { formatFaultSpec } from './fault-spec.ts';
import { flagOfKey } from './options.ts';
import type { Scenario } from './scenario.ts';

/** What a scenario implies, computed without running it. Sizes in bytes, times in ms. */
export interface Figures {
  /** Guest RAM, pages. */
  guestPages: number;
  /** The background-round threshold, pages. */
  thresholdPages: number;
  /** Time background rounds carrying `threshold` bytes hold the link, ms. */
  thresholdRoundMs: number;
  /** The largest delta object (one round, or one chunk of a checkpoint), bytes. */
  objectBytes: number;
  /** Time one such object holds the link (messages behind it wait), ms. */
  objectMs: number;
  /** Time the device state holds the link, ms. */
  deviceStateMs: number;
  /** Timer checkpoints that fall within the run (adaptive may add early ones). */
  expectedCheckpoints: number;
  /**
   * Physical floor of a checkpoint's downtime, ms: stop and save (prep), device state over the link, one
   * latency each way, device load — what a checkpoint with no RAM left to send costs.
   */
  floorMs: number;
  /** Longest single wait of the secondary inside a checkpoint with no RAM to send, ms. */
  stepMs: number;
  /** Estimated distinct pages the guest dirties per checkpoint interval (an upper bound for zipf). */
  dirtyPagesPerInterval: number;
  /** Their modelled wire bytes (headers, non-zero pages), bytes. */
  dirtyBytesPerInterval: number;
  /** Estimated downtime of upstream COLO (`none`): the floor plus the interval's dirty RAM over the link, ms. */
  noneDowntimeMs: number;
}

/** Distinct pages `n` random writes touch among `pages` (expected value). */
function distinct(pages: number, writes: number): number {
  if (pages <= 0) return 0;
  return pages * (1 - Math.exp(-writes / pages));
}

/** Estimated distinct pages a workload dirties in `ms` of guest time on a guest of `pages` pages. */
export function dirtyPages(w: WorkloadSpec, pages: number, ms: number): number {
  const t = ms / 1000;
  switch (w.kind) {
    case 'idle':
      return 0;
    case 'uniform':
      return distinct(pages, w.rate * t);
    case 'hotcold': {
      const hot = Math.min(w.hotPages, pages);
      return distinct(hot, w.hotRate * t) + Math.min(w.coldRate * t, pages - hot);
    }
    case 'zipf':
      return Math.min(w.rate * t, pages);
    case 'sequential':
      return Math.min(w.rate * t, pages);
    case 'buffered-io': {
      const hot = Math.min(w.hotPages, pages);
      return distinct(hot, w.rate * (1 - w.tail) * t) + distinct(pages - hot, w.rate * w.tail * t);
    }
  }
}

/** The figures of a scenario (see {@link Figures}). */
export function figuresOf(s: Scenario): Figures {
  const p = s.params;
  const bw = s.link.bandwidthBytesPerSec;
  const linkMs = (bytes: number) => (bytes * 1000) / bw;
  const guestPages = pageCount(p);
  const objectBytes = Math.min(p.maxDeltaBytes, p.guestBytes);
  const deviceStateMs = linkMs(p.deviceStateBytes + MESSAGE_WIRE_BYTES);
  const floorMs =
    p.costs.prepMs +
    linkMs(p.deviceStateBytes + 4 * MESSAGE_WIRE_BYTES) +
    2 * s.link.latencyMs +
    p.costs.deviceLoadMs;
  const dirty = dirtyPages(p.workload, guestPages, p.checkpointDelayMs);
  const perPage = PAGE_HEADER_WIRE_BYTES + (1 - p.contentMix.zero) * PAGE_SIZE;
  const dirtyBytes = dirty * perPage;
  return {
    guestPages,
    thresholdPages: Math.ceil(p.thresholdBytes / PAGE_SIZE),
    thresholdRoundMs: linkMs(p.thresholdBytes),
    objectBytes,
    objectMs: linkMs(objectBytes),
    deviceStateMs,
    expectedCheckpoints: Math.max(0, Math.ceil(s.durationMs / p.checkpointDelayMs) - 1),
    floorMs,
    stepMs: Math.max(p.costs.prepMs, deviceStateMs) + s.link.latencyMs,
    dirtyPagesPerInterval: dirty,
    dirtyBytesPerInterval: dirtyBytes,
    noneDowntimeMs: floorMs + linkMs(dirtyBytes) + (dirty * PAGE_SIZE) / p.costs.flushBytesPerMs,
  };
}

const flag = (key: string) => flagOfKey(key) ?? key;

/** Warnings a scenario earns before it runs: runs that would measure nothing, or cannot work as set. */
export function planWarnings(s: Scenario, f: Figures = figuresOf(s)): string[] {
  const p = s.params;
  const out: string[] = [];
  if (f.expectedCheckpoints === 0) {
    out.push(
      `no checkpoint falls within the run: ${flag('duration')} ${durationFlag(s.durationMs)} ends before the first ` +
        `at ${durationFlag(p.checkpointDelayMs)} (${flag('checkpointDelay')}), so downtime will not be measured`,
    );
  }
  // The engine caps a page count at the guest's pages; a bigger one is a typo or a guest that shrank.
  const w = p.workload as { hotPages?: number; spanPages?: number };
  for (const key of ['hotPages', 'spanPages'] as const) {
    const n = w[key];
    if (n !== undefined && n > f.guestPages) {
      out.push(
        `${flag('workload')} ${key}=${n} is more than the guest's ${f.guestPages} pages (${flag('guest')} ` +
          `${formatBytes(p.guestBytes)}): the workload uses all of RAM instead`,
      );
    }
  }
  if (checkpointWaitMs(p) <= f.stepMs) {
    out.push(
      `${waitFlag(p)} is shorter than one step of a checkpoint needs ` +
        `here (${formatDuration(f.stepMs)}: stop the VM, send ${formatBytes(p.deviceStateBytes)} of device state at ` +
        `${formatBandwidth(s.link.bandwidthBytesPerSec)}): expect the secondary to time out and take over at the first checkpoint`,
    );
  }
  const order = timeoutOrderWarning(p, flag);
  if (order !== undefined) out.push(order);
  if (f.noneDowntimeMs > p.checkpointDelayMs && p.workload.kind !== 'idle') {
    out.push(
      `the link is too slow for this guest: it dirties about ${formatBytes(f.dirtyBytesPerInterval)} per checkpoint ` +
        `interval (${durationFlag(p.checkpointDelayMs)}), which takes ${formatDuration(f.noneDowntimeMs)} to cross at ` +
        `${formatBandwidth(s.link.bandwidthBytesPerSec)}: expect very long downtimes or a failover`,
    );
  }
  const vms = s.fleet?.vms ?? 1;
  const fleetMs = ((vms * f.dirtyBytesPerInterval) / s.link.bandwidthBytesPerSec) * 1000;
  if (vms > 1 && fleetMs > p.checkpointDelayMs && f.noneDowntimeMs <= p.checkpointDelayMs) {
    out.push(
      `the shared link is too slow for this fleet: ${vms} VMs dirty about ${formatBytes(vms * f.dirtyBytesPerInterval)} ` +
        `per checkpoint interval (${durationFlag(p.checkpointDelayMs)}), which takes ${formatDuration(fleetMs)} to cross at ` +
        `${formatBandwidth(s.link.bandwidthBytesPerSec)}: expect checkpoints to queue behind each other and failovers`,
    );
  }
  return out;
}

/** The `--dry-run` text: the scenario, its derived figures and its warnings. */
export function renderPlan(s: Scenario, f: Figures = figuresOf(s), warnings = planWarnings(s, f)): string {
  const p = s.params;
  const bw = formatBandwidth(s.link.bandwidthBytesPerSec);
  const rows: [string, string][] = [
    ['policies', s.policies.join(', ')],
    ['guest', `${formatBytes(p.guestBytes)} = ${f.guestPages} pages of 4 KiB`],
    ['workload', formatWorkload(p.workload)],
    ['link', `${bw}, ${formatDuration(s.link.latencyMs)} one way`],
    ['run', `${formatDuration(s.durationMs)} simulated, seed ${p.seed}, ${p.payload} payloads`],
    [
      'checkpoints',
      `every ${formatDuration(p.checkpointDelayMs)}: ${f.expectedCheckpoints} expected (timer)`,
    ],
    [
      'threshold',
      `${formatBytes(p.thresholdBytes)} = ${f.thresholdPages} pages, ${formatDuration(f.thresholdRoundMs)} of link time at ${bw}`,
    ],
    [
      'largest object',
      `${formatBytes(f.objectBytes)} (${flag('maxDelta')}) holds the link ${formatDuration(f.objectMs)}; heartbeats wait behind it ` +
        `(heartbeat timeout ${p.heartbeatTimeoutMs > 0 ? formatDuration(p.heartbeatTimeoutMs) : 'off'})`,
    ],
    [
      'dirtied per interval',
      `about ${Math.round(f.dirtyPagesPerInterval)} pages, ${formatBytes(f.dirtyBytesPerInterval)} on the wire${p.workload.kind === 'zipf' ? ' (at most)' : ''}`,
    ],
    [
      'downtime floor',
      `${formatDuration(f.floorMs)}: stop ${formatDuration(p.costs.prepMs)}, ${formatBytes(p.deviceStateBytes)} device state ` +
        `${formatDuration(f.deviceStateMs)}, latency ${formatDuration(2 * s.link.latencyMs)}, device load ${formatDuration(p.costs.deviceLoadMs)}`,
    ],
    [
      'none downtime',
      `about ${formatDuration(f.noneDowntimeMs)} per checkpoint (all dirty RAM while stopped)`,
    ],
    [
      'timeouts',
      `apply ${formatDuration(p.applyTimeoutMs)}, checkpoint ${formatDuration(p.checkpointTimeoutMs)}, ` +
        `heartbeat every ${formatDuration(p.heartbeatIntervalMs)}`,
    ],
  ];
  if (s.faults) rows.push(['faults', formatFaultSpec(s.faults)]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return [
    `scenario ${s.name} (dry run: nothing was run)`,
    ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`),
    ...warnings.map((x) => `warning: ${x}`),
  ].join('\n');
}

/** What each wait is for, by the phase the engine names in a timeout. */
const WAITS: Record<string, string> = {
  'ckpt-wait-vmstate-send': 'the primary to stop its VM and start sending the checkpoint',
  'ckpt-wait-ram': "the next part of the checkpoint's RAM",
  'ckpt-wait-vmstate-size': "the checkpoint's device-state size",
  'ckpt-wait-device': "the checkpoint's device state",
  'bg-loading': "a background round's pages",
  'ckpt-wait-reply': "the secondary's reply to a checkpoint request",
  'ckpt-wait-received': 'the secondary to confirm it received the checkpoint',
  'ckpt-wait-loaded': 'the secondary to load and commit the checkpoint',
};
const PRIMARY_WAITS = new Set(['ckpt-wait-reply', 'ckpt-wait-received', 'ckpt-wait-loaded']);

/**
 * Why replication ended, in words, from the reason the engine gave and the scenario's figures; null when
 * the reason is not one it knows.
 */
export function explainReason(
  reason: string,
  at: number | null,
  s: Scenario,
  f: Figures = figuresOf(s),
): string | null {
  const p = s.params;
  const bw = formatBandwidth(s.link.bandwidthBytesPerSec);
  const silence = /^no message from the primary for ([0-9.e+]+) ms$/.exec(reason);
  if (silence) {
    const words = `the secondary heard nothing from the primary for ${formatDuration(Number(silence[1]))} (${flag('heartbeatTimeout')} ${durationFlag(p.heartbeatTimeoutMs)})`;
    const down =
      at === null
        ? undefined
        : s.faults?.outages?.find(
            (o) => o.node === 'primary' && o.from <= at && o.until + p.heartbeatTimeoutMs >= at,
          );
    if (down)
      return `${words}: the primary was down (injected outage from ${formatDuration(down.from)} to ${formatDuration(down.until)})`;
    if (f.objectMs > p.heartbeatTimeoutMs) {
      return (
        `${words}, though it was running: its heartbeats were queued behind page data — one ${formatBytes(f.objectBytes)} ` +
        `delta object takes ${formatDuration(f.objectMs)} at ${bw}. A faster link, a smaller ${flag('maxDelta')} or a longer ` +
        `${flag('heartbeatTimeout')} avoids it`
      );
    }
    if (s.faults) return `${words}: the injected faults lost or delayed its messages`;
    return words;
  }
  const timeout = /^timed out in ([a-z-]+) after ([0-9.e+]+) ms$/.exec(reason);
  if (timeout) {
    const phase = timeout[1] ?? '';
    const wait = WAITS[phase] ?? phase;
    if (PRIMARY_WAITS.has(phase)) {
      const slow = f.noneDowntimeMs > p.checkpointTimeoutMs && phase === 'ckpt-wait-received';
      return (
        `the primary waited longer than ${flag('checkpointTimeout')} (${durationFlag(p.checkpointTimeoutMs)}) for ${wait}` +
        (slow
          ? `; a checkpoint of about ${formatBytes(f.dirtyBytesPerInterval)} takes ${formatDuration(f.noneDowntimeMs)} at ${bw}`
          : '')
      );
    }
    const tooShort = checkpointWaitMs(p) <= f.stepMs;
    return (
      `the secondary waited longer than ${waitFlag(p, true)} for ${wait}` +
      (tooShort ? `; one step of a checkpoint needs ${formatDuration(f.stepMs)} here` : '')
    );
  }
  if (/^checkpoint send failed/.test(reason))
    return `the primary could not send a checkpoint (${reason.replace(/^checkpoint send failed: /, '')})`;
  if (/^checkpoint data retired/.test(reason))
    return 'a delta object of the checkpoint could not be stored, so the checkpoint could not complete';
  if (reason === 'requested') return 'failover was requested by an operator';
  return null;
}

/**
 * The flag whose value bounds the secondary's wait inside a checkpoint (the longer of the apply and the
 * heartbeat timeout, `checkpointWaitMs`), with that value: `--apply-timeout 1ms`, or `(1ms)` in parentheses.
 */
function waitFlag(p: ColoParams, parenthesised = false): string {
  const key = p.heartbeatTimeoutMs > p.applyTimeoutMs ? 'heartbeatTimeout' : 'applyTimeout';
  const value = durationFlag(checkpointWaitMs(p));
  return parenthesised ? `${flag(key)} (${value})` : `${flag(key)} ${value}`;
}
