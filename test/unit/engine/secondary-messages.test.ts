import { describe, expect, it } from 'vitest';
import {
  COLO_MESSAGE_TYPES,
  type ColoMessage,
  type DeltaKind,
} from '../../../src/engine/protocol/messages.ts';
import { secondaryStep } from '../../../src/engine/secondary/secondary.ts';
import type { SecondaryPhase } from '../../../src/engine/secondary/state.ts';
import { fingerprint, messageOf, rejections, testParams } from '../../helpers/engine.ts';
import { Pair, type Queued } from '../../helpers/pair.ts';

// Small objects, so a checkpoint is sent in several RAM chunks.
const params = testParams({ maxDeltaBytes: 16 * 4096 });

/** Drives a fresh pair until the secondary is in `phase`. */
function pairIn(phase: SecondaryPhase): Pair {
  const pair = new Pair(params);
  if (phase === 'starting') return new Pair(params, false);
  if (phase === 'failed-over' || phase === 'claiming' || phase === 'fenced') {
    pair.until(() => pair.primary.phase === 'running');
    if (phase === 'fenced') pair.control = 'primary';
    pair.record('secondary', secondaryStep(pair.secondary, params, pair.now, { type: 'failover' }));
    if (phase === 'claiming') pair.queue.length = 0;
    else pair.until(() => pair.secondary.phase === phase);
    return pair;
  }
  return pair.until(() => pair.secondary.phase === phase);
}

type Variant = { label: string; type: ColoMessage['type']; kind?: DeltaKind };
const variants: Variant[] = COLO_MESSAGE_TYPES.flatMap((type): Variant[] =>
  type === 'delta'
    ? (['background-ram', 'checkpoint-ram', 'device-state'] as const).map((kind) => ({
        label: `delta(${kind})`,
        type,
        kind,
      }))
    : [{ label: type, type }],
);

/** What each phase accepts, and the phase it moves to. */
const ACCEPTS: Record<SecondaryPhase, Record<string, SecondaryPhase>> = {
  starting: {},
  idle: {
    'checkpoint-request': 'ckpt-wait-vmstate-send',
    'migrate-ram-background': 'bg-loading',
    heartbeat: 'idle',
    skip: 'idle',
  },
  'bg-loading': { 'delta(background-ram)': 'idle', heartbeat: 'bg-loading', skip: 'idle' },
  'ckpt-wait-vmstate-send': { 'vmstate-send': 'ckpt-wait-ram' },
  // A retired piece of the epoch means it can never commit: the secondary claims the VM.
  'ckpt-wait-ram': { 'delta(checkpoint-ram)': 'ckpt-wait-vmstate-size', skip: 'claiming' },
  'ckpt-wait-vmstate-size': {
    'delta(checkpoint-ram)': 'ckpt-wait-vmstate-size',
    'vmstate-size': 'ckpt-wait-device',
    skip: 'claiming',
  },
  'ckpt-wait-device': { 'delta(device-state)': 'committing', skip: 'claiming' },
  committing: {},
  claiming: {},
  'failed-over': {},
  fenced: {},
};

function build(pair: Pair, v: Variant): ColoMessage {
  const m = messageOf(v.type, params.vmId, pair.secondary.epoch, pair.secondary.inSeq);
  if (m.type === 'delta' && v.kind) {
    m.kind = v.kind;
    m.round = v.kind === 'background-ram' ? Math.max(1, pair.secondary.loadingRound) : 0;
  }
  return m;
}

describe('secondary: every message in every state', () => {
  for (const phase of Object.keys(ACCEPTS) as SecondaryPhase[]) {
    for (const v of variants) {
      const target = ACCEPTS[phase][v.label];
      if (target) {
        it(`${phase}: accepts ${v.label} and moves to ${target}`, () => {
          const pair = pairIn(phase);
          // Checkpoint RAM is streamed: the next chunk leaves once the primary learns the previous one did.
          const streamed = phase === 'ckpt-wait-vmstate-size';
          for (
            let i = pair.queue.findIndex((q) => q.to === 'primary');
            streamed && !pair.peek('secondary') && i >= 0;
          ) {
            pair.deliver(pair.queue.splice(i, 1)[0] as Queued);
            i = pair.queue.findIndex((q) => q.to === 'primary');
          }
          // The genuine next message (with its real payload) when the primary has sent one, else a built one.
          const queued = pair.peek('secondary');
          const genuine =
            queued &&
            queued.message.type === v.type &&
            (v.kind === undefined || (queued.message.type === 'delta' && queued.message.kind === v.kind));
          const fx = genuine
            ? pair.deliver(queued)
            : pair.record(
                'secondary',
                secondaryStep(pair.secondary, params, pair.now, { type: 'message', message: build(pair, v) }),
              );
          expect(rejections(fx)).toEqual([]);
          expect(pair.secondary.phase).toBe(target);
        });
      } else {
        it(`${phase}: rejects ${v.label} and changes nothing`, () => {
          const pair = pairIn(phase);
          const before = fingerprint(pair.secondary);
          const fx = secondaryStep(pair.secondary, params, pair.now, {
            type: 'message',
            message: build(pair, v),
          });
          const errors = rejections(fx);
          expect(errors).toHaveLength(1);
          const expected =
            phase === 'starting' || phase === 'failed-over' || phase === 'claiming' || phase === 'fenced'
              ? /^exited: /
              : phase === 'bg-loading' && v.kind && v.kind !== 'background-ram'
                ? /^not-ram: background transfer carries/
                : new RegExp(
                    `^unexpected-message: unexpected message ${v.label.replace(/[()]/g, '\\$&')}, expected `,
                  );
          expect(errors[0]).toMatch(expected);
          expect(fingerprint(pair.secondary).equals(before)).toBe(true);
        });
      }
    }
  }
});

describe('secondary: envelope checks', () => {
  it('rejects a wrong sequence, epoch or VM with both values named', () => {
    const pair = pairIn('idle');
    const before = fingerprint(pair.secondary);
    const base = messageOf('checkpoint-request', params.vmId, pair.secondary.epoch, pair.secondary.inSeq);
    const cases: [ColoMessage, RegExp][] = [
      [{ ...base, seq: base.seq + 5 }, /wrong-sequence: .*sequence \d+, expected \d+/],
      [{ ...base, epoch: base.epoch + 1 }, /wrong-epoch: .*epoch 2, expected 1/],
      [{ ...base, vmId: 'vm-other' }, /wrong-vm: .*VM vm-other, this is VM vm-0/],
    ];
    for (const [m, re] of cases) {
      const fx = secondaryStep(pair.secondary, params, pair.now, { type: 'message', message: m });
      expect(rejections(fx)[0]).toMatch(re);
    }
    for (const junk of [null, 42, 'x', { type: 'checkpoint-request' }, { ...base, extra: 1 }]) {
      const fx = secondaryStep(pair.secondary, params, pair.now, { type: 'message', message: junk });
      expect(rejections(fx)[0]).toMatch(/^invalid-message: /);
    }
    expect(fingerprint(pair.secondary).equals(before)).toBe(true);
  });
});
