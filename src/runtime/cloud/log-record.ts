/** Records of the metrics/trace log: what a client reads to follow a replicated VM. */
import type { Effect } from '../../engine/effects.ts';
import type { CheckpointRecord, PendingCheckRecord, RoundRecord } from '../../engine/metrics/records.ts';
import type { NodeRole } from './keys.ts';
import { type MAX_REASON_CHARS, truncateText } from './text.ts';

/** Fields every record has. */
export interface LogHead {
  /** Record number, per node, from 0, +1 per record (gap-free). */
  n: number;
  /** When the step that produced it ran, ms (runtime clock). */
  at: number;
  /** Node that produced it. */
  node: NodeRole;
}

/** One log record. `data` is the engine's own record where it has one. */
export type LogRecord = LogHead &
  (
    | { type: 'checkpoint'; data: CheckpointRecord }
    | { type: 'round'; data: RoundRecord }
    | { type: 'pending-check'; data: PendingCheckRecord }
    | { type: 'commit'; data: { epoch: number; flushedPages: number; digest: string } }
    | { type: 'colo-exit'; data: { reason: 'error' | 'failover' | 'fenced'; detail: string } }
    | {
        type: 'send-retired';
        data: { epoch: number; seq: number; kind: string; sendId: number; reason: string };
      }
    | { type: 'log-dropped'; data: { dropped: number; first: number; last: number; error: string } }
  );

/** Record types. */
export type LogRecordType = LogRecord['type'];

/** All record types. */
export const LOG_RECORD_TYPES: readonly LogRecordType[] = [
  'checkpoint',
  'round',
  'pending-check',
  'commit',
  'colo-exit',
  'send-retired',
  'log-dropped',
];

/** A record before it is numbered. */
export type UnnumberedRecord = LogRecord extends infer R
  ? R extends LogRecord
    ? Omit<R, 'n'>
    : never
  : never;

/**
 * The log records among a step's effects (checkpoint, round, pending-check, commit, colo-exit). A refused
 * input has none: it changes nothing stored (its evidence is the consumer's log line, metric and dead
 * letter). Error texts are cut to {@link MAX_REASON_CHARS} characters: a hostile input must not buy log space.
 */
export function recordsOf(effects: readonly Effect[], node: NodeRole, at: number): UnnumberedRecord[] {
  const out: UnnumberedRecord[] = [];
  for (const e of effects) {
    switch (e.type) {
      case 'checkpoint':
        out.push({ at, node, type: 'checkpoint', data: e.record });
        break;
      case 'round':
        out.push({ at, node, type: 'round', data: e.record });
        break;
      case 'pending-check':
        out.push({ at, node, type: 'pending-check', data: e.record });
        break;
      case 'commit':
        out.push({
          at,
          node,
          type: 'commit',
          data: { epoch: e.epoch, flushedPages: e.flushedPages, digest: e.digest },
        });
        break;
      case 'colo-exit':
        out.push({ at, node, type: 'colo-exit', data: { reason: e.reason, detail: truncateText(e.detail) } });
        break;
      default:
        break;
    }
  }
  return out;
}
