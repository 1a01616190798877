/**
 * Fuzz: 40 000 mutated sealed messages and 40 000 mutated sealed objects. Opening never throws; a mutation
 * that changes any byte is refused (nothing but the untouched input opens), and a message that opens is
 * exactly the one sealed.
 */
import { describe, expect, it } from 'vitest';
import type { ColoMessage } from '../../src/engine/protocol/messages.ts';
import { seedKeySet } from '../../src/wire/replication-key.ts';
import { openMessage, sealMessage } from '../../src/wire/sealed-message.ts';
import { type ObjectContext, openObject, sealObject } from '../../src/wire/sealed-object.ts';
import { Rng } from './mutate.ts';

const INPUTS = 40_000;
const keys = seedKeySet(5, 'vm-5');

function mutateText(rng: Rng, text: string): string {
  const i = rng.int(text.length + 1);
  switch (rng.int(4)) {
    case 0:
      return text.slice(0, i) + String.fromCharCode(rng.int(128)) + text.slice(i + 1);
    case 1:
      return text.slice(0, i) + text.slice(i + 1 + rng.int(8));
    case 2:
      return text.slice(0, i) + String.fromCharCode(32 + rng.int(95)) + text.slice(i);
    default:
      return text.slice(0, i) + text.slice(rng.int(text.length));
  }
}

describe('sealed frames fuzz', () => {
  it(`opening survives ${INPUTS} mutated messages: every change refused`, () => {
    const rng = new Rng(0x5ea1);
    const messages: ColoMessage[] = [
      { v: 1, vmId: 'vm-5', epoch: 3, seq: 9, type: 'heartbeat', beat: 0, sentAt: 0 },
      { v: 1, vmId: 'vm-5', epoch: 3, seq: 10, type: 'checkpoint-reply', appliedRounds: [1, 2, 5] },
      {
        v: 1,
        vmId: 'vm-5',
        epoch: 3,
        seq: 11,
        type: 'delta',
        kind: 'checkpoint-ram',
        round: 0,
        claim: { key: 'vm-5/3/11-checkpoint-ram', size: 70_000, sha256: 'cd'.repeat(32) },
      },
    ];
    const sealed = messages.map((m) => sealMessage(keys.signing, m));
    const failures = new Map<string, number>();
    for (let i = 0; i < INPUTS; i++) {
      const original = rng.pick(sealed);
      const text = mutateText(rng, original);
      const r = openMessage(keys, text);
      if (r.ok) expect(text, `input ${i}`).toBe(original);
      else failures.set(r.failure, (failures.get(r.failure) ?? 0) + 1);
    }
    console.log(
      `sealed message fuzz: ${INPUTS} inputs; refusals ${JSON.stringify(Object.fromEntries(failures))}`,
    );
    expect(failures.get('bad-mac') ?? 0).toBeGreaterThan(INPUTS / 10);
  });

  it(`opening survives ${INPUTS} mutated objects: every change refused`, () => {
    const rng = new Rng(0x0b1e);
    const ctx: ObjectContext = { vmId: 'vm-5', epoch: 3, seq: 11, kind: 'checkpoint-ram' };
    const original = sealObject(keys.signing, ctx, rng.bytes(300));
    const failures = new Map<string, number>();
    for (let i = 0; i < INPUTS; i++) {
      const bytes = Buffer.from(original);
      let input: Uint8Array = bytes;
      const at = rng.int(bytes.length);
      switch (rng.int(3)) {
        case 0:
          bytes[at] = (bytes[at] as number) ^ (1 + rng.int(255));
          break;
        case 1:
          input = bytes.subarray(0, at);
          break;
        default:
          input = Buffer.concat([bytes.subarray(0, at), rng.bytes(1 + rng.int(4)), bytes.subarray(at)]);
      }
      const r = openObject(keys, input, ctx);
      expect(r.ok, `input ${i}`).toBe(false);
      if (!r.ok) failures.set(r.failure, (failures.get(r.failure) ?? 0) + 1);
    }
    console.log(
      `sealed object fuzz: ${INPUTS} inputs; refusals ${JSON.stringify(Object.fromEntries(failures))}`,
    );
    expect(openObject(keys, original, ctx).ok).toBe(true);
  });
});
