/**
 * Comparing an embedded run with its replay on the cloud runtime: the protocol messages (direction, type,
 * epoch, seq) as sent and as delivered, what the channels still held, the checkpoint, round and commit
 * records, and the final memory digests.
 */
import type { MessageChannel } from '../../engine/ports.ts';
import type { ColoMessage } from '../../engine/protocol/messages.ts';
import type { MemoryChannel } from '../cloud/memory-ports.ts';
import type { Node } from '../embedded/run.ts';
import type { Inbox, ReplayResult } from './replay.ts';
import {
  deliveredKeys,
  formatKey,
  type MessageKey,
  type RecordedRun,
  sameKey,
  sentKeys,
} from './schedule.ts';

/** The first difference between two message sequences, or undefined when they are equal. */
export function firstDifference(
  what: string,
  want: readonly MessageKey[],
  got: readonly MessageKey[],
): string | undefined {
  const n = Math.max(want.length, got.length);
  for (let i = 0; i < n; i++) {
    const a = want[i];
    const b = got[i];
    if (a && b && sameKey(a, b)) continue;
    return (
      `${what}: message ${i} differs: embedded ${a ? formatKey(a) : '(none)'}, cloud ${b ? formatKey(b) : '(none)'}` +
      ` (embedded ${want.length} messages, cloud ${got.length})`
    );
  }
  return undefined;
}

function direction(keys: readonly MessageKey[], from: Node): MessageKey[] {
  return keys.filter((k) => k.from === from);
}

/** Fields of two records that differ (shallow, nested objects compared as JSON). */
function recordDiff(a: object, b: object): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out: string[] = [];
  for (const k of keys) {
    const x = JSON.stringify((a as Record<string, unknown>)[k]);
    const y = JSON.stringify((b as Record<string, unknown>)[k]);
    if (x !== y) out.push(`${k}: embedded ${x}, cloud ${y}`);
  }
  return out;
}

function compareRecords<T extends object>(
  what: string,
  want: readonly T[],
  got: readonly T[],
  problems: string[],
): void {
  if (want.length !== got.length) {
    problems.push(`${what}: embedded ${want.length}, cloud ${got.length}`);
    return;
  }
  want.forEach((w, i) => {
    const diff = recordDiff(w, got[i] as T);
    if (diff.length > 0) problems.push(`${what} ${i}: ${diff.join('; ')}`);
  });
}

/**
 * Everything that differs between the embedded run and its replay, one line each (empty: they conform).
 * Checks: the replay ran every step without diverging or refusing an input; the same messages were sent in
 * the same order; the same messages were delivered from the channels in the same order; each channel
 * carried exactly what was sent on it (delivered, then still queued at the end — nothing lost, duplicated
 * or reordered); the same checkpoint, round and commit records; the same final digests.
 */
export function compareRuns(recorded: RecordedRun, replay: ReplayResult): string[] {
  const problems: string[] = [];
  const { result, steps } = recorded;
  if (replay.divergence) problems.push(`replay diverged ${replay.divergence}`);
  if (replay.steps !== steps.length)
    problems.push(`replayed ${replay.steps} of ${steps.length} scheduled steps`);
  for (const a of replay.anomalies) {
    problems.push(`${a.node} at ${a.at} ms: input ${a.status} ${a.code ?? ''} ${a.detail ?? ''}`.trim());
  }
  const sent = sentKeys(result);
  const delivered = deliveredKeys(steps);
  for (const d of [
    firstDifference('sent', sent, replay.sent),
    firstDifference('delivered', delivered, replay.delivered),
  ]) {
    if (d) problems.push(d);
  }
  for (const from of ['primary', 'secondary'] as const) {
    const carried = [...direction(replay.delivered, from), ...direction(replay.leftover, from)];
    const d = firstDifference(
      `channel ${from === 'primary' ? 'P→S' : 'S→P'} (delivered + left over vs sent)`,
      direction(replay.sent, from),
      carried,
    );
    if (d) problems.push(d);
  }
  compareRecords('checkpoint', result.checkpoints, replay.checkpoints, problems);
  compareRecords('round', result.rounds, replay.rounds, problems);
  compareRecords(
    'commit',
    result.commits.map((c) => ({ epoch: c.epoch, digest: c.digest })),
    replay.commits,
    problems,
  );
  for (const k of ['primaryDigest', 'committedDigest', 'runningDigest', 'committedEpoch'] as const) {
    if (result.final[k] !== replay.final[k])
      problems.push(`final ${k}: embedded ${result.final[k]}, cloud ${replay.final[k]}`);
  }
  return problems;
}

/** An {@link Inbox} over an in-memory channel (unit tests of the replay). */
export function memoryInbox(channel: MemoryChannel): Inbox {
  return {
    receive: async () => channel.take(1)[0]?.body,
  };
}

/**
 * A channel wrapper for negative checks: `mutate` sees each batch before it is sent and returns what to
 * send instead (drop, reorder, duplicate).
 */
export function tamperedChannel(
  inner: MessageChannel,
  mutate: (batch: readonly ColoMessage[]) => readonly ColoMessage[],
): MessageChannel {
  return { send: (messages) => inner.send(mutate(messages)) };
}
