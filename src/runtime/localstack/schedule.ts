/**
 * Recording an embedded run's schedule — which node got which input at which virtual time — so that the
 * same run can be replayed, input for input and instant for instant, on the cloud runtime over real
 * S3 and SQS (`replay.ts`). docs/conformance.md explains why the schedule, not the link model, is shared.
 */
import type { PrimaryInput } from '../../engine/primary/primary.ts';
import type { ColoMessage } from '../../engine/protocol/messages.ts';
import type { SecondaryInput } from '../../engine/secondary/secondary.ts';
import { type EmbeddedOptions, type EmbeddedResult, type Node, runEmbedded } from '../embedded/run.ts';

/** A protocol message as the conformance test compares it: direction, type, epoch, sequence number. */
export interface MessageKey {
  /** Sending node (the direction: primary = P → S). */
  from: Node;
  /** Message type. */
  type: ColoMessage['type'];
  /** Epoch the sender was in. */
  epoch: number;
  /** Per-direction sequence number. */
  seq: number;
}

/** One engine step of the schedule. */
export type ScheduledStep =
  | {
      /** Virtual time of the step, ms since the start of the run. */
      at: number;
      /** Node stepped. */
      node: Node;
      /** Input kind without data: the start, a timer tick, a failover request. */
      input: 'start' | 'tick' | 'failover';
    }
  | {
      at: number;
      node: Node;
      /** A message delivered from the other node's channel. */
      input: 'message';
      /** Which message (read from the channel when replayed, and checked against this). */
      message: MessageKey;
    }
  | {
      at: number;
      node: 'primary';
      /** A send of the primary finished leaving (the modelled link's completion time). */
      input: 'send-complete';
      /** Engine send id. */
      sendId: number;
      /** Set when the send failed. */
      error?: string;
    };

/** An embedded run together with its schedule. */
export interface RecordedRun {
  /** What the embedded runtime produced. */
  result: EmbeddedResult;
  /** Every engine step, in the order the embedded runtime took them. */
  steps: ScheduledStep[];
}

/** The comparable key of a message from the other node, or undefined when it is not a message at all. */
export function messageKey(from: Node, raw: unknown): MessageKey | undefined {
  const m = raw as Partial<ColoMessage> | null;
  if (typeof m !== 'object' || m === null) return undefined;
  if (typeof m.type !== 'string' || typeof m.epoch !== 'number' || typeof m.seq !== 'number')
    return undefined;
  return { from, type: m.type, epoch: m.epoch, seq: m.seq };
}

/** `P→S checkpoint-request e2 s7`: a message key for error messages and diffs. */
export function formatKey(k: MessageKey): string {
  return `${k.from === 'primary' ? 'P→S' : 'S→P'} ${k.type} e${k.epoch} s${k.seq}`;
}

/** Equal direction, type, epoch and sequence number. */
export function sameKey(a: MessageKey, b: MessageKey): boolean {
  return a.from === b.from && a.type === b.type && a.epoch === b.epoch && a.seq === b.seq;
}

/**
 * Converts one embedded-runtime step into a schedule entry (copying what it needs: the engine mutates
 * inputs it parses).
 *
 * @throws Error for an input the replay cannot reproduce (`progress`, `request-checkpoint`, a message that
 *   is not an object with type, epoch and seq — fault injection the conformance scenario does not use).
 */
export function scheduledStep(at: number, node: Node, input: PrimaryInput | SecondaryInput): ScheduledStep {
  switch (input.type) {
    case 'start':
    case 'tick':
    case 'failover':
      return { at, node, input: input.type };
    case 'send-complete':
      if (node !== 'primary') throw new Error('send-complete for the secondary');
      return input.error === undefined
        ? { at, node, input: 'send-complete', sendId: input.sendId }
        : { at, node, input: 'send-complete', sendId: input.sendId, error: input.error };
    case 'message': {
      const key = messageKey(node === 'primary' ? 'secondary' : 'primary', input.message);
      if (!key) throw new Error(`cannot schedule a delivery of a malformed message at ${at} ms`);
      return { at, node, input: 'message', message: key };
    }
    default:
      throw new Error(`the conformance replay cannot reproduce a ${input.type} input (at ${at} ms)`);
  }
}

/**
 * Runs the embedded runtime and records its schedule.
 *
 * @param options - As for `runEmbedded`; `onStep` is taken (and chained to a caller's own hook).
 */
export function recordEmbedded(options: EmbeddedOptions): RecordedRun {
  const steps: ScheduledStep[] = [];
  const result = runEmbedded({
    ...options,
    onStep: (at, node, input) => {
      steps.push(scheduledStep(at, node, input));
      options.onStep?.(at, node, input);
    },
  });
  return { result, steps };
}

/** The messages of an embedded run in send order, as comparable keys. */
export function sentKeys(result: EmbeddedResult): MessageKey[] {
  return result.messages.map((m) => ({ from: m.from, type: m.type, epoch: m.epoch, seq: m.seq }));
}

/** The messages a schedule delivers, in delivery order. */
export function deliveredKeys(steps: readonly ScheduledStep[]): MessageKey[] {
  const out: MessageKey[] = [];
  for (const s of steps) if (s.input === 'message') out.push(s.message);
  return out;
}
