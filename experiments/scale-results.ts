/** The scale measurements (experiments/scale.ts) read back, and their tables for docs/experiments.md. */
import { existsSync, readFileSync } from 'node:fs';
import { PAGE_SIZE } from '../src/engine/protocol/delta.ts';
import { formatBytes } from '../src/parameters/units.ts';

/** Where experiments/scale.ts writes its measurements. */
export const SCALE_FILE = 'experiments/results/scale.json';

/** One measurement (experiments/scale-child.ts). */
export interface ScaleRow {
  /** A guest of `size` bytes, or a fleet of `size` VMs. */
  kind: 'guest' | 'fleet';
  size: number;
  /** Simulated and wall-clock time, ms. */
  simulatedMs: number;
  wallMs: number;
  /** Resident memory before the run and at the process's peak, bytes. */
  rssBefore: number;
  rssPeak: number;
  /**
   * Array buffers held at the end of the run, after full collections (typed arrays: page versions, bitmaps,
   * classes, the colo cache, the message log's page columns), bytes.
   */
  arrayBuffers: number;
  /** Simulation events. */
  events: number;
}

/** The measurements on disk, or none. */
export function readScale(): ScaleRow[] {
  if (!existsSync(SCALE_FILE)) return [];
  return (JSON.parse(readFileSync(SCALE_FILE, 'utf8')) as { rows: ScaleRow[] }).rows;
}

const fixed = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '—');

/** The guest-size table: bytes per page (resident, held) and wall time per simulated hour, vs 1 GiB. */
export function guestTable(rows: readonly ScaleRow[]): string[] {
  const g = rows.filter((r) => r.kind === 'guest');
  const base = g[0];
  if (!base) return [];
  const perHour = (r: ScaleRow) => (r.wallMs / r.simulatedMs) * 3600;
  const out = [
    '| guest | pages | resident bytes / page | held bytes / page | peak resident | wall s per simulated hour | × the smallest guest |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of g) {
    const pages = r.size / PAGE_SIZE;
    out.push(
      `| ${formatBytes(r.size)} | ${pages.toLocaleString('en')} | ${fixed((r.rssPeak - r.rssBefore) / pages)} | ` +
        `${fixed(r.arrayBuffers / pages)} | ${formatBytes(Math.round(r.rssPeak / 2 ** 20) * 2 ** 20)} | ` +
        `${fixed(perHour(r), 0)} | ${fixed(perHour(r) / perHour(base), 2)} |`,
    );
  }
  return out;
}

/** The fleet table: simulated s per wall s and VM-seconds per wall second vs one VM; memory. */
export function fleetTable(rows: readonly ScaleRow[]): string[] {
  const f = rows.filter((r) => r.kind === 'fleet');
  const base = f[0];
  if (!base) return [];
  const vmRate = (r: ScaleRow) => (r.size * r.simulatedMs) / r.wallMs;
  const out = [
    '| VMs | simulated s / wall s | VM-s / wall s | × one VM | events / wall s | peak resident | resident per VM |',
    '|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of f) {
    out.push(
      `| ${r.size.toLocaleString('en')} | ${fixed(r.simulatedMs / r.wallMs, 2)} | ${fixed(vmRate(r), 0)} | ` +
        `${fixed(vmRate(r) / vmRate(base), 2)} | ${fixed((r.events * 1000) / r.wallMs, 0)} | ` +
        `${formatBytes(Math.round(r.rssPeak / 2 ** 20) * 2 ** 20)} | ${formatBytes(Math.round((r.rssPeak - r.rssBefore) / r.size / 1024) * 1024)} |`,
    );
  }
  return out;
}
