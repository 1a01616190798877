// Authenticity in the embedded runtime (src/runtime/embedded/run.ts), which seals and opens with a key from
// its seed using the cloud's code: what someone with channel and store access but without the key does on
// the wire is refused before the node is stepped (messages) or before the object is decoded (objects), and
// replication stays consistent; the same changes made by a primary that holds the key reach the engine.
import { describe, expect, it } from 'vitest';
import { runEmbedded } from '../../../src/runtime/embedded/run.ts';
import { verifyRun } from '../../../src/runtime/verify.ts';
import { deriveVmKey } from '../../../src/wire/replication-key.ts';
import { openMessage, readSealedHeader, sealMessageBody } from '../../../src/wire/sealed-message.ts';
import { testParams } from '../../helpers/engine.ts';

const link = { bandwidthBytesPerSec: 125e6, latencyMs: 1 };
const WRONG = deriveVmKey('not the seed secret, but 32+ bytes of text', 'vm-0');

describe('embedded runtime: sealed on the wire', () => {
  it('a clean run seals and opens everything: nothing is refused', () => {
    const params = testParams({ policy: 'fixed' });
    const result = runEmbedded({ params, link, durationMs: 6000 });
    expect(result.rejections).toEqual([]);
    expect(result.commits.length).toBeGreaterThan(0);
  });

  it('forgeries injected before genuine messages (another key, one byte changed, an altered object) are refused; nothing else changes', () => {
    const params = testParams({ policy: 'fixed' });
    const clean = runEmbedded({ params, link, durationMs: 8000 });
    let n = 0;
    const hit = { resealed: 0, altered: 0, object: 0 };
    const result = runEmbedded({
      params,
      link,
      durationMs: 8000,
      faults: {
        onWireToSecondary: (d) => {
          n++;
          const h = readSealedHeader(d.body);
          if (!h) throw new Error('unsealed body on the wire');
          const body = d.body.slice(d.body.indexOf('\n') + 1);
          // The attacker's copy goes first, at the very epoch and sequence number of the genuine message.
          if (n % 3 === 0) {
            hit.resealed++;
            return [{ body: sealMessageBody(WRONG, { ...h, type: 'heartbeat' }, body) }, d];
          }
          if (n % 3 === 1) {
            hit.altered++;
            const i = d.body.length - 2;
            const changed =
              d.body.slice(0, i) + String.fromCharCode(d.body.charCodeAt(i) ^ 1) + d.body.slice(i + 1);
            return [{ body: changed }, d];
          }
          if (d.payload instanceof Uint8Array && hit.object === 0) {
            hit.object++;
            const bytes = d.payload.slice();
            bytes[40] = (bytes[40] as number) ^ 1;
            return [{ body: d.body, payload: bytes }, d];
          }
          return d;
        },
      },
    });
    expect(hit.resealed).toBeGreaterThan(0);
    expect(hit.altered).toBeGreaterThan(0);
    expect(hit.object).toBe(1);
    // Every forgery refused as unauthenticated (the altered object by the engine, unread); nothing else.
    expect(result.rejections.map((r) => r.error.code)).toEqual(
      Array(hit.resealed + hit.altered + hit.object).fill('unauthenticated'),
    );
    expect(
      result.rejections.filter((r) => /delta object refused before decoding: bad-mac/.test(r.error.message)),
    ).toHaveLength(1);
    // The genuine stream was not disturbed: same messages, same commits as the clean run.
    expect(result.messages).toEqual(clean.messages);
    expect(result.commits).toEqual(clean.commits);
    expect(verifyRun(result, params, true).problems).toEqual([]);
  });

  it('the same change made by a primary holding the key reaches the engine (toSecondary sees opened deliveries)', () => {
    const params = testParams({ policy: 'none' });
    let checked = 0;
    const result = runEmbedded({
      params,
      link,
      durationMs: 3000,
      faults: {
        toSecondary: (d, m) => {
          checked++;
          expect(() => JSON.parse(d.body)).not.toThrow();
          return m.type === 'heartbeat' && checked === 3
            ? { body: d.body.replace('"heartbeat"', '"heartbeaT"') }
            : d;
        },
      },
    });
    expect(result.rejections[0]?.error.code).toBe('invalid-message');
  });

  it('uses the given keys: a run sealed with other keys than the seed’s still opens its own messages', () => {
    const params = testParams({ policy: 'none' });
    const keys = { vmId: 'vm-0', signing: WRONG, accepted: [WRONG] };
    const result = runEmbedded({ params, link, durationMs: 3000, keys });
    expect(result.rejections).toEqual([]);
    expect(openMessage(keys, 'x').ok).toBe(false);
  });
});
