/** The table `colo vm list` prints: one line per registered VM, what it is doing and since when. */
import type { VmListEntry } from '../runtime/localstack/vm-list.ts';

/** How long ago `thenMs` was at `nowMs`, in the largest whole unit (`4 s ago`, `3 min ago`, `2 h ago`). */
export function ago(thenMs: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - thenMs) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.floor(s / 60)} min ago`;
  if (s < 172_800) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** What the NOTE column says of an entry. */
function note(e: VmListEntry, nowMs: number): string {
  const parts: string[] = [];
  if (e.state === 'failed-over') parts.push(`fence won by the ${e.owner}`);
  if (e.reason !== undefined) parts.push(e.reason);
  if (e.at !== undefined && e.state !== 'replicating') parts.push(`since ${ago(e.at, nowMs)}`);
  if (e.hint !== undefined) parts.push(e.hint);
  if (e.waiting) parts.push("waiting for its secondary's first checkpoint-ready");
  if (e.failures !== undefined) parts.push(`its last ${e.failures} pulse step(s) failed`);
  if (e.steppedAt === undefined && e.state === 'replicating') parts.push('not stepped by the pulse yet');
  return parts.join('; ');
}

/**
 * The lines of `colo vm list` (header first; "no VMs registered" alone for an empty stack), each newline-
 * terminated by the caller. `nowMs` is the local clock, for the ages.
 */
export function formatVmList(entries: readonly VmListEntry[], nowMs: number): string[] {
  if (entries.length === 0) return ['no VMs registered'];
  const rows = entries.map((e) => [
    e.vmId,
    e.state,
    e.epoch === undefined ? '-' : String(e.epoch),
    e.steppedAt === undefined ? '-' : ago(e.steppedAt, nowMs),
    note(e, nowMs),
  ]);
  const all = [['VM', 'STATE', 'EPOCH', 'STEPPED', 'NOTE'], ...rows];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return all.map((r) =>
    r
      .map((cell, c) =>
        c === 4 ? cell : c === 2 ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0),
      )
      .join('  ')
      .trimEnd(),
  );
}
