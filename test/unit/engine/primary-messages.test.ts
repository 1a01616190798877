import { describe, expect, it } from 'vitest';
import { primaryStep } from '../../../src/engine/primary/primary.ts';
import type { PrimaryPhase } from '../../../src/engine/primary/state.ts';
import { COLO_MESSAGE_TYPES } from '../../../src/engine/protocol/messages.ts';
import { secondaryStep } from '../../../src/engine/secondary/secondary.ts';
import { fingerprint, messageOf, rejections, testParams } from '../../helpers/engine.ts';
import { Pair } from '../../helpers/pair.ts';

const params = testParams({ policy: 'none' });

function pairIn(phase: PrimaryPhase): Pair {
  const pair = new Pair(params);
  if (phase === 'wait-ready') return pair;
  if (phase === 'exited') {
    // The secondary never answers vmstate-received: the primary's checkpoint deadline expires.
    pair.until(() => pair.primary.phase === 'ckpt-wait-received');
    pair.queue.length = 0;
    pair.now = (pair.primary.txn?.deadline ?? 0) + 1;
    pair.tick('primary');
    return pair.until(() => pair.primary.phase === 'exited');
  }
  if (phase === 'claiming') {
    pair.until(() => pair.primary.phase === 'ckpt-wait-received');
    pair.queue.length = 0;
    pair.now = (pair.primary.txn?.deadline ?? 0) + 1;
    pair.tick('primary');
    pair.queue.length = 0;
    return pair;
  }
  if (phase === 'fenced') {
    pair.until(() => pair.primary.phase === 'running');
    pair.control = 'secondary';
    pair.record('secondary', secondaryStep(pair.secondary, params, pair.now, { type: 'failover' }));
    return pair.until(() => pair.primary.phase === 'fenced');
  }
  return pair.until(() => pair.primary.phase === phase);
}

const ACCEPTS: Record<PrimaryPhase, Record<string, PrimaryPhase>> = {
  'wait-ready': { 'checkpoint-ready': 'running' },
  running: {},
  'ckpt-wait-reply': { 'checkpoint-reply': 'ckpt-wait-received' },
  'ckpt-wait-received': { 'vmstate-received': 'ckpt-wait-loaded' },
  'ckpt-wait-loaded': { 'vmstate-loaded': 'running' },
  claiming: {},
  exited: {},
  fenced: {},
};

describe('primary: every message in every state', () => {
  for (const phase of Object.keys(ACCEPTS) as PrimaryPhase[]) {
    for (const type of COLO_MESSAGE_TYPES) {
      const target = ACCEPTS[phase][type];
      if (target) {
        it(`${phase}: accepts ${type} and moves to ${target}`, () => {
          const pair = pairIn(phase);
          pair.until(() => pair.peek('primary')?.message.type === type);
          const queued = pair.peek('primary');
          expect(queued?.message.type).toBe(type);
          const fx = pair.deliver(queued as NonNullable<typeof queued>);
          expect(rejections(fx)).toEqual([]);
          expect(pair.primary.phase).toBe(target);
        });
      } else {
        it(`${phase}: rejects ${type} and changes nothing`, () => {
          const pair = pairIn(phase);
          const before = fingerprint(pair.primary);
          const m = messageOf(type, params.vmId, pair.primary.epoch, pair.primary.inSeq);
          const errors = rejections(
            primaryStep(pair.primary, params, pair.now, { type: 'message', message: m }),
          );
          expect(errors).toHaveLength(1);
          expect(errors[0]).toMatch(
            phase === 'exited' || phase === 'claiming' || phase === 'fenced'
              ? /^exited: /
              : new RegExp(`^unexpected-message: unexpected message ${type}, expected `),
          );
          expect(fingerprint(pair.primary).equals(before)).toBe(true);
        });
      }
    }
  }

  it('rejects a send-complete for a send it never made', () => {
    const pair = pairIn('running');
    const before = fingerprint(pair.primary);
    const errors = rejections(
      primaryStep(pair.primary, params, pair.now, { type: 'send-complete', sendId: 999 }),
    );
    expect(errors[0]).toMatch(/^unknown-send: /);
    expect(fingerprint(pair.primary).equals(before)).toBe(true);
  });

  it('rejects a checkpoint-reply naming a round it never sent', () => {
    const pair = pairIn('ckpt-wait-reply');
    const before = fingerprint(pair.primary);
    const m = {
      ...messageOf('checkpoint-reply', params.vmId, pair.primary.epoch, pair.primary.inSeq),
      appliedRounds: [3],
    };
    const errors = rejections(primaryStep(pair.primary, params, pair.now, { type: 'message', message: m }));
    expect(errors[0]).toMatch(/unknown round 3/);
    expect(fingerprint(pair.primary).equals(before)).toBe(true);
  });
});
