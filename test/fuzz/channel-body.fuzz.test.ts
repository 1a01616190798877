/**
 * Fuzz: ≥ 100 000 bodies to parseBody — what the cloud runtime does first with every channel record the
 * `primary` and `secondary-apply` functions consume (size, JSON, duplicate keys, the envelope used to spot
 * duplicates). Its contract is to never throw: a body that is not a message comes back as
 * `{ ok: false, error }` with a ColoError `invalid-message`, and the engine refuses it without blocking
 * the FIFO group. Half the bodies come from the parseMessage fuzz mix, half from the generic JSON mutator
 * (which adds keys such as `toString`).
 */
import { describe, it } from 'vitest';
import { ColoError } from '../../src/engine/errors.ts';
import { parseBody } from '../../src/runtime/cloud/inbound.ts';
import { type Json, nextJsonText } from './json-mutate.ts';
import { messageSeeds, nextMessageBody } from './message-inputs.ts';
import { Rng } from './mutate.ts';
import { check, FUZZ_TIMEOUT_MS, forInputs, Tally } from './oracle.ts';

const INPUTS = 100_000;

describe('channel body fuzz', () => {
  it(
    `parseBody survives ${INPUTS} bodies without throwing`,
    () => {
      const pool = messageSeeds();
      const json = pool as unknown as Json[];
      // No error is documented: every outcome is a value. Refusals are counted by their reason.
      const tally = new Tally('channel body', { is: () => false, categories: [] });
      const reasons = new Map<string, number>();
      let envelopes = 0;
      const rng = new Rng(0x5eed_0501);
      tally.stats = forInputs(INPUTS, (i) => {
        const body = i % 2 === 0 ? nextMessageBody(rng, pool) : nextJsonText(rng, json);
        let parsed: ReturnType<typeof parseBody>;
        try {
          parsed = parseBody(body);
        } catch (error) {
          tally.reject(error, i, () => JSON.stringify(body.slice(0, 300)));
          return;
        }
        tally.accept();
        if (!parsed.ok) {
          check(
            parsed.error instanceof ColoError && parsed.error.code === 'invalid-message',
            () => `refusal ${String(parsed.ok || parsed.error)}`,
          );
          const m = parsed.error.message;
          const reason = /exceeds/.test(m)
            ? 'too-large'
            : /not JSON/.test(m)
              ? 'not-json'
              : /twice/.test(m)
                ? 'duplicate-key'
                : 'other';
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
          return;
        }
        if (parsed.envelope) {
          envelopes++;
          const e = parsed.envelope;
          check(
            typeof e.type === 'string' && Number.isSafeInteger(e.seq) && e.seq >= 0,
            () => `envelope of ${body}`,
          );
        }
      });
      console.log(
        `channel body: ${INPUTS} bodies, ${envelopes} with an envelope; refusals ${JSON.stringify(Object.fromEntries(reasons))}`,
      );
      tally.assertCoverage({ minAccepted: 1, shallow: [], minDeep: 1, mustSee: [] });
      check(envelopes >= INPUTS / 4, () => `only ${envelopes} bodies reached the envelope`);
      for (const r of ['too-large', 'not-json', 'duplicate-key'])
        check((reasons.get(r) ?? 0) > 0, () => `no ${r}`);
    },
    FUZZ_TIMEOUT_MS,
  );
});
