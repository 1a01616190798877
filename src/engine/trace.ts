import type { TraceEffect } from './effects.ts';

/** Builds a trace effect (named as QEMU's trace-events where QEMU has the event). */
export function trace(at: number, name: TraceEffect['name'], fields: TraceEffect['fields']): TraceEffect {
  return { type: 'trace', name, at, fields };
}
