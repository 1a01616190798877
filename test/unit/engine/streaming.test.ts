/** The checkpoint's RAM is streamed: one chunk per step, the next when the previous one's send completed. */
import { describe, expect, it } from 'vitest';
import { memoryDigest } from '../../../src/engine/memory/digest.ts';
import { decodePrimaryState, encodePrimaryState } from '../../../src/runtime/cloud/index.ts';
import { sent, testParams } from '../../helpers/engine.ts';
import { Pair } from '../../helpers/pair.ts';

describe('streaming checkpoint RAM', () => {
  it('sends one chunk per step, from the stop’s versions, and commits the PVM image', () => {
    // 256 pages in chunks of 16, everything dirty.
    const params = testParams({ policy: 'none', maxDeltaBytes: 16 * 4096 });
    const pair = new Pair(params);
    pair.until(() => pair.primary.phase === 'running');
    pair.primary.versions.fill(7);
    for (let p = 0; p < pair.primary.versions.length; p++) pair.primary.dirty.set(p);
    pair.until(() => pair.primary.phase === 'ckpt-wait-received');

    const stopFx = pair.effects.filter((e) => e.node === 'primary').map((e) => e.effect);
    const atStop = sent(
      stopFx.slice(stopFx.findLastIndex((e) => e.type === 'send' && e.message.type === 'vmstate-send')),
    );
    expect(atStop.map((m) => m.type)).toEqual(['vmstate-send', 'delta']);
    const txn = pair.primary.txn;
    expect(txn?.pages).toBe(256);
    expect(txn?.ramRest.length).toBe(240);
    const digestAtStop = memoryDigest(params.seed, pair.primary.versions);
    const versionsAtStop = pair.primary.versions.slice();
    expect(txn?.digest).toBe(digestAtStop);

    // The transfer state survives the cloud codec (it lives in the state document between invocations).
    const decoded = decodePrimaryState(encodePrimaryState(pair.primary), 256);
    expect(decoded.txn?.ramRest).toEqual(txn?.ramRest);

    // Each chunk's completion sends exactly the next; the last brings vmstate-size and the device state.
    const chunks: number[] = [];
    for (let i = 0; i < 40 && pair.primary.phase === 'ckpt-wait-received'; i++) {
      const next = pair.queue.findIndex(
        (q) => q.to === 'primary' && q.sendId === pair.primary.txn?.ramSendId,
      );
      if (next < 0) break;
      const [q] = pair.queue.splice(next, 1);
      if (!q) break;
      const out = sent(pair.deliver(q));
      if (out.length === 0) break;
      chunks.push(out.length);
      expect(out[0]?.type).toBe('delta');
    }
    // 15 more chunks: 14 alone, the last with vmstate-size and the device state.
    expect(chunks).toEqual([...Array.from({ length: 14 }, () => 1), 3]);
    expect(pair.primary.versions).toEqual(versionsAtStop); // stopped: no writes meanwhile

    pair.until(() => pair.primary.phase === 'running');
    const ckpt = pair.effects.find((e) => e.effect.type === 'checkpoint')?.effect;
    const commit = pair.effects.find((e) => e.effect.type === 'commit')?.effect;
    expect(ckpt?.type === 'checkpoint' && ckpt.record.pages).toBe(256);
    expect(ckpt?.type === 'checkpoint' && ckpt.record.digest).toBe(digestAtStop);
    expect(commit?.type === 'commit' && commit.digest).toBe(digestAtStop);
  });
});
