/**
 * Fuzz: ≥ 100 000 bodies to parseTick — the decoder of every record the tick consumers (`checkpoint-timer`,
 * `pending-check-timer`, `heartbeat-monitor`) take off their tick queues. Oracle: a tick (version 1, a valid
 * VM id and timer, non-negative safe integers) or an `Error` of exactly that class with one of its own
 * messages — a body that is not JSON included.
 */
import { describe, it } from 'vitest';
import { isStackTimer, STACK_CHAIN_ID, TIMER_NAMES, VM_ID_PATTERN } from '../../lambda/adapters/contract.ts';
import { parseTick } from '../../lambda/adapters/sqs-tick-queue.ts';
import { type Json, nextJsonText } from './json-mutate.ts';
import { Rng } from './mutate.ts';
import { check, exactly, FUZZ_TIMEOUT_MS, forInputs, Tally } from './oracle.ts';

const INPUTS = 100_000;

const SEEDS: Json[] = TIMER_NAMES.flatMap((timer, k) => [
  { v: 1, vmId: 'vm-0', timer, generation: 1, seq: 1, dueAt: 1_760_000_000_000 },
  { v: 1, vmId: `colo-${k}`, timer, generation: 7 + k, seq: 4096, dueAt: 1_760_000_123_456 + k },
  { dueAt: 0, seq: 0, generation: 0, timer, vmId: 'a', v: 1 },
]);

describe('tick message fuzz', () => {
  it(
    `parseTick survives ${INPUTS} bodies`,
    () => {
      const tally = new Tally('tick message', {
        is: exactly(Error),
        categories: [
          ['not-json', /^tick body is not JSON: /],
          ['not-object', /^tick body is not an object$/],
          ['version', /^tick version must be 1, got /],
          ['vmId', /^tick vmId is malformed$/],
          ['timer', /^unknown tick timer /],
          ['number', /^tick (generation|seq|dueAt) must be a non-negative integer$/],
        ],
      });
      const rng = new Rng(0x5eed_0301);
      tally.stats = forInputs(INPUTS, (i) => {
        const body = nextJsonText(rng, SEEDS);
        let t: ReturnType<typeof parseTick>;
        try {
          t = parseTick(body);
        } catch (error) {
          tally.reject(error, i, () => JSON.stringify(body.slice(0, 300)));
          return;
        }
        tally.accept();
        check(
          t.v === 1 &&
            ((VM_ID_PATTERN.test(t.vmId) && (TIMER_NAMES as readonly string[]).includes(t.timer)) ||
              (t.vmId === STACK_CHAIN_ID && isStackTimer(t.timer))) &&
            [t.generation, t.seq, t.dueAt].every((n) => Number.isSafeInteger(n) && n >= 0),
          () => `accepted ${body}`,
        );
      });
      tally.assertCoverage({
        minAccepted: 0.1,
        shallow: ['not-json', 'not-object'],
        minDeep: 0.5,
        mustSee: ['not-json', 'not-object', 'version', 'vmId', 'timer', 'number'],
      });
    },
    FUZZ_TIMEOUT_MS,
  );
});
