/**
 * `colo run --trace FILE.jsonl`: the engine's trace events, one JSON object per line, named as QEMU's
 * trace-events name them (`colo_send_message`, `colo_vm_state_change`, `colo_flush_ram_cache_begin`, …).
 */
import type { TraceEffect } from '../engine/effects.ts';

/** A trace event as the runtime recorded it: the engine's event and the node that emitted it. */
export type RecordedTrace = TraceEffect & { node: 'primary' | 'secondary' };

/** One line of a trace file. */
export interface TraceLine {
  /** Simulated time, ms. */
  ts_ms: number;
  /** The policy of the run the event belongs to. */
  policy: string;
  /** The node that emitted it. */
  node: 'primary' | 'secondary';
  /** QEMU's trace-event name. */
  event: TraceEffect['name'];
  /** The event's fields, as the engine gave them. */
  args: Record<string, string | number | boolean>;
}

/** The lines of one run's trace, in the order the events happened. */
export function traceLines(policy: string, events: readonly RecordedTrace[]): TraceLine[] {
  return events.map((e) => ({ ts_ms: e.at, policy, node: e.node, event: e.name, args: e.fields }));
}

/** JSON Lines text: one object per line, each line ending in a newline. */
export function toJsonLines(lines: readonly object[]): string {
  return lines.map((l) => `${JSON.stringify(l)}\n`).join('');
}
