/**
 * Parses QEMU 7.2's `colo_*` trace events (the `log` backend with `-msg timestamp=on`:
 * `PID@SECONDS.MICROS:name args`) into the engine's trace vocabulary (src/engine/effects.ts `TraceEffect`),
 * so both sides are compared in one language. Times become ms since the Unix epoch.
 */
import type { TraceEffect } from '../engine/effects.ts';
import { trace } from '../engine/trace.ts';

/** A parsed trace: the events in file order and how many lines were not COLO events. */
export interface ParsedTrace {
  /** COLO events, in file order. */
  events: TraceEffect[];
  /** Lines that are not trace events of the COLO vocabulary (other log output). */
  skipped: number;
}

const LINE = /^(\d+)@(\d+)\.(\d{6}):(colo_\w+)(?: (.*))?$/;

/** Each QEMU event this parser knows: its argument pattern and the fields it yields. */
const EVENTS: Record<string, { args: RegExp; fields: (m: RegExpExecArray) => TraceEffect['fields'] }> = {
  colo_send_message: { args: /^Send '([\w-]+)' message$/, fields: (m) => ({ msg: m[1] as string }) },
  colo_receive_message: { args: /^Receive '([\w-]+)' message$/, fields: (m) => ({ msg: m[1] as string }) },
  colo_vm_state_change: {
    args: /^Change '(\w+)' => '(\w+)'$/,
    fields: (m) => ({ old: m[1] as string, new: m[2] as string }),
  },
  colo_flush_ram_cache_begin: { args: /^dirty_pages (\d+)$/, fields: (m) => ({ dirty_pages: Number(m[1]) }) },
  colo_flush_ram_cache_end: { args: /^$/, fields: () => ({}) },
  colo_failover_set_state: { args: /^new state (\w+)$/, fields: (m) => ({ state: m[1] as string }) },
};

/**
 * Parses one trace log. Lines that are not COLO trace events (or are COLO events the engine has no word
 * for, such as colo-compare's) are counted as skipped; a known event whose arguments do not parse is an
 * error naming the line, since it means the log is not what this parser was written against.
 */
export function parseQemuTrace(text: string): ParsedTrace {
  const events: TraceEffect[] = [];
  let skipped = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trimEnd();
    if (line === '') continue;
    const m = LINE.exec(line);
    const spec = m ? EVENTS[m[4] as string] : undefined;
    if (!m || !spec) {
      skipped++;
      continue;
    }
    const args = spec.args.exec(m[5] ?? '');
    if (!args) throw new Error(`trace line ${i + 1}: ${m[4]} with arguments "${m[5] ?? ''}" does not parse`);
    const at = Number(m[2]) * 1000 + Number(m[3]) / 1000;
    events.push(trace(at, m[4] as TraceEffect['name'], spec.fields(args)));
  }
  return { events, skipped };
}
