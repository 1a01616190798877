/**
 * Fuzz: ≥ 100 000 random and mutated bodies to parseMessage. Every body must either parse to a message that
 * re-serializes and re-parses to itself, or throw a WireError `invalid-message` / `too-large`. Behaviour only:
 * the time per body and the slowest body are figures of `bench/fuzz.ts` (`npm run bench`), not assertions here.
 */
import { describe, expect, it } from 'vitest';
import { WireError } from '../../src/wire/errors.ts';
import { parseMessage, serializeMessage } from '../../src/wire/message-schema.ts';
import { MESSAGE_FUZZ_SEED, messageSeeds, nextMessageBody } from './message-inputs.ts';
import { Rng } from './mutate.ts';

const INPUTS = 110_000;

describe('parseMessage fuzz', () => {
  it(`survives ${INPUTS} random and mutated bodies`, () => {
    const rng = new Rng(MESSAGE_FUZZ_SEED);
    const pool = messageSeeds();
    const codes = new Map<string, number>();
    let accepted = 0;
    for (let i = 0; i < INPUTS; i++) {
      const body = nextMessageBody(rng, pool);
      try {
        const m = parseMessage(body);
        accepted++;
        expect(parseMessage(serializeMessage(m))).toEqual(m);
      } catch (error) {
        if (
          !(error instanceof WireError) ||
          (error.code !== 'invalid-message' && error.code !== 'too-large')
        ) {
          throw new Error(`body #${i} ${JSON.stringify(body.slice(0, 300))} threw ${String(error)}`);
        }
        codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
      }
    }
    console.log(
      `parseMessage fuzz: ${INPUTS} bodies, ${accepted} accepted; rejections ${JSON.stringify(Object.fromEntries(codes))}`,
    );
    expect(accepted).toBeGreaterThan(INPUTS / 20);
    expect(codes.get('too-large') ?? 0).toBeGreaterThan(0);
  });
});
