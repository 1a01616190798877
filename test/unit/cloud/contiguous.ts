/** The channel-order check the cloud-runtime tests share. */
import { expect } from 'vitest';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';

/**
 * Every message of one direction exactly once, in sequence order, no gaps; a heartbeat (outside the
 * sequence) carries the next unused number and a number of its own, strictly increasing (what lets the
 * secondary refuse a replay), each sent once.
 */
export function expectContiguous(history: readonly ColoMessage[]): void {
  const colo = history.filter((m) => m.type !== 'heartbeat');
  expect(colo.map((m) => m.seq)).toEqual(colo.map((_, i) => i));
  let next = 0;
  let lastBeat = 0;
  for (const m of history) {
    if (m.type !== 'heartbeat') next = m.seq + 1;
    else {
      expect(m.seq).toBe(next);
      expect(m.beat).toBeGreaterThan(lastBeat);
      lastBeat = m.beat;
    }
  }
}
