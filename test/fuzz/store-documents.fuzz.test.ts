/**
 * Fuzz: ≥ 100 000 stored bytes each to the JSON documents the functions read from the state store besides
 * the node documents: the control document (`readControl`: the fence, read by every tick consumer and the
 * watchdog), the timer documents (`armChain` and `handleTick`: the tick chains), the armed-faults document
 * (`parseArmedFaults`: the default-off test hook) and the metrics log segments (`appendLog`, run by every
 * node invocation, then `readLog`). Oracle: a value, or the decoder's documented error — `Error` of exactly
 * that class naming the document ("… is malformed", "… is not JSON", "… is not a valid armed-faults
 * document") — and nothing at all from the log, which skips a segment it cannot read.
 */
import { describe, it } from 'vitest';
import { timerStateKey } from '../../lambda/adapters/contract.ts';
import {
  type ArmedFaultsInput,
  encodeArmedFaults,
  parseArmedFaults,
  testFaultsKey,
} from '../../lambda/handlers/common/test-hooks.ts';
import { armChain, handleTick } from '../../lambda/handlers/common/tick-chain.ts';
import type { StateStore } from '../../src/engine/ports.ts';
import { readControl } from '../../src/runtime/cloud/control.ts';
import { logSegmentKey } from '../../src/runtime/cloud/keys.ts';
import { LOG_RECORD_TYPES, type LogRecord } from '../../src/runtime/cloud/log-record.ts';
import { MemoryStateStore } from '../../src/runtime/cloud/memory-ports.ts';
import { appendLog, type LogLayout, readLog } from '../../src/runtime/cloud/metrics-log.ts';
import { buildCloudCorpus } from './cloud-corpus.ts';
import { type Json, nextJsonText } from './json-mutate.ts';
import { Rng } from './mutate.ts';
import { check, exactly, FUZZ_TIMEOUT_MS, forInputsAsync, Tally } from './oracle.ts';

const INPUTS = 100_000;
const VM = 'vm-0';
const NOW = 1_760_000_000_000;
const corpus = await buildCloudCorpus(8);
const text = (b: Uint8Array) => JSON.parse(Buffer.from(b).toString('utf8')) as Json;

/** A state store holding one document at `key` (every other key is missing); saves succeed. */
function oneDocument(key: string, bytes: Uint8Array): StateStore {
  return {
    load: async (k) => (k === key ? { value: bytes, etag: '1' } : undefined),
    save: async () => '2',
  };
}

/** JSON-text inputs from `seeds`, as UTF-8 bytes; one in 50 is random bytes (not UTF-8 either). */
function nextBytes(rng: Rng, seeds: readonly Json[]): Buffer {
  return rng.chance(0.02) ? rng.bytes(rng.int(200)) : Buffer.from(nextJsonText(rng, seeds), 'utf8');
}

/** JSON.parse's own words or zod's (a ZodError's message is its issues as JSON). */
const malformed = (prefix: string): [string, RegExp][] => [
  ['schema', new RegExp(`^${prefix} is malformed: \\[`)],
  ['not-json', new RegExp(`^${prefix} is malformed: `)],
];

describe('state-store document fuzz', () => {
  it(
    `readControl survives ${INPUTS} control documents`,
    async () => {
      const key = `${VM}/control.json`;
      const seeds: Json[] = [
        ...corpus.controlDocs.map(text),
        { failedOver: false, reason: null, at: null, owner: null },
        { failedOver: true, reason: 'operator stop', at: NOW },
        { failedOver: true, reason: 'x'.repeat(4096), at: 1.5, owner: 'primary' },
        { failedOver: false },
      ];
      const tally = new Tally('control document', {
        is: exactly(Error),
        categories: malformed('control document vm-0/control\\.json'),
      });
      const rng = new Rng(0x5eed_0401);
      tally.stats = await forInputsAsync(INPUTS, async (i) => {
        const bytes = nextBytes(rng, seeds);
        let c: Awaited<ReturnType<typeof readControl>>;
        try {
          c = await readControl(oneDocument(key, bytes), VM);
        } catch (error) {
          tally.reject(error, i, () => bytes.toString('hex'));
          return;
        }
        tally.accept();
        check(
          typeof c.failedOver === 'boolean' &&
            (c.reason === null || (typeof c.reason === 'string' && c.reason.length <= 4096)) &&
            (c.at === null || typeof c.at === 'number') &&
            (c.owner === null || c.owner === 'primary' || c.owner === 'secondary'),
          () => `accepted ${JSON.stringify(c)}`,
        );
      });
      tally.assertCoverage({
        minAccepted: 0.1,
        shallow: ['not-json'],
        minDeep: 0.5,
        mustSee: ['schema', 'not-json'],
      });
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `armChain and handleTick survive ${INPUTS} timer documents`,
    async () => {
      const key = timerStateKey(VM, 'checkpoint');
      const seeds: Json[] = [
        { generation: 1, seq: 3, dueAt: NOW, lastTickAt: NOW - 500, claimedBy: 'msg-3' },
        { generation: 1, seq: 0, dueAt: NOW, lastTickAt: NOW, claimedBy: null },
        { generation: 4, seq: 12, dueAt: NOW + 1000, lastTickAt: NOW - 90_000, claimedBy: 'msg-12' },
        { generation: 0, seq: 0, dueAt: 0.5, lastTickAt: -1, claimedBy: '' },
      ];
      const tally = new Tally('timer document', {
        is: exactly(Error),
        categories: malformed('timer document vm-0/timers/checkpoint\\.json'),
      });
      const ticks = { schedule: async () => 0 };
      const tick = JSON.stringify({ v: 1, vmId: VM, timer: 'checkpoint', generation: 1, seq: 4, dueAt: NOW });
      const verdicts = new Set([
        'armed',
        'healthy',
        'stopped',
        'raced',
        'claimed',
        'redelivered',
        'dropped',
        'early',
      ]);
      const rng = new Rng(0x5eed_0402);
      tally.stats = await forInputsAsync(INPUTS, async (i) => {
        const bytes = nextBytes(rng, seeds);
        const deps = {
          state: oneDocument(key, bytes),
          ticks,
          vmId: VM,
          timer: 'checkpoint' as const,
          periodMs: 1000,
        };
        let verdict: string;
        try {
          verdict =
            i % 2 === 0
              ? (await armChain(deps, NOW)).verdict
              : (await handleTick(deps, tick, 'msg-4', NOW)).verdict;
        } catch (error) {
          tally.reject(error, i, () => bytes.toString('hex'));
          return;
        }
        tally.accept();
        check(verdicts.has(verdict), () => `verdict ${verdict}`);
      });
      tally.assertCoverage({
        minAccepted: 0.1,
        shallow: ['not-json'],
        minDeep: 0.5,
        mustSee: ['schema', 'not-json'],
      });
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `parseArmedFaults survives ${INPUTS} armed-faults documents`,
    async () => {
      const key = testFaultsKey(VM);
      const armed: ArmedFaultsInput[] = [
        {},
        { failPuts: { 'checkpoint-ram': 2 } },
        { failObjects: { 'device-state': 1 }, failingKeys: ['vm-0/0000000001/000000000003-device-state'] },
        { failGets: { any: 1, 'background-ram': 3 } },
        { crash: { point: 'secondary-save-after-device-state', mode: 'exit', count: 1 } },
        { primarySilentUntil: NOW, secondaryApplyDownUntil: NOW + 1500, captureUntil: NOW + 60_000 },
        {
          fired: [
            { fault: 'put:checkpoint-ram', at: NOW, service: 'primary', detail: 'vm-0/1/2-checkpoint-ram' },
          ],
        },
      ];
      const seeds = armed.map((f) => text(encodeArmedFaults(f)));
      const tally = new Tally('armed-faults document', {
        is: exactly(Error),
        categories: [
          ['not-json', /^vm-0\/test-faults\.json is not JSON: /],
          ['schema', /^vm-0\/test-faults\.json is not a valid armed-faults document: /],
        ],
      });
      const rng = new Rng(0x5eed_0403);
      tally.stats = await forInputsAsync(INPUTS, async (i) => {
        const bytes = nextBytes(rng, seeds);
        let a: ReturnType<typeof parseArmedFaults>;
        try {
          a = parseArmedFaults(bytes, key);
        } catch (error) {
          tally.reject(error, i, () => bytes.toString('hex'));
          return;
        }
        tally.accept();
        check(Array.isArray(a.failingKeys) && Array.isArray(a.fired), () => `accepted ${JSON.stringify(a)}`);
      });
      tally.assertCoverage({
        minAccepted: 0.1,
        shallow: ['not-json'],
        minDeep: 0.5,
        mustSee: ['schema', 'not-json'],
      });
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `appendLog and readLog survive ${INPUTS} log segments`,
    async () => {
      const layout: LogLayout = { segmentRecords: 128, segments: 1 };
      const key = logSegmentKey(VM, 'primary', 0);
      // Segments of up to 4 records (a full one holds 128; more records cost time, not coverage).
      const seeds = corpus.logSegments
        .map(text)
        .filter((g) => ((g as { records: Json[] }).records ?? []).length <= 4);
      // No error is documented: a segment that cannot be read is skipped (readLog) or overwritten (appendLog).
      const tally = new Tally('log segment', { is: () => false, categories: [] });
      let kept = 0;
      const rng = new Rng(0x5eed_0404);
      tally.stats = await forInputsAsync(INPUTS, async (i) => {
        const bytes = nextBytes(rng, seeds);
        const store = new MemoryStateStore();
        store.put(key, bytes, undefined);
        const n = rng.int(3) * 64 + rng.int(64);
        const record = {
          n,
          at: NOW,
          node: 'primary',
          type: rng.pick(LOG_RECORD_TYPES),
          data: {},
        } as LogRecord;
        try {
          // Half the inputs: an append (which reads the segment first), then a read; half: a read alone.
          if (i % 2 === 0) await appendLog(store, VM, 'primary', [record], layout);
          const after = await readLog(store, VM, 'primary', 0, layout);
          // More than the one appended: the stored segment was read (and kept, or merged into).
          if (after.records.length > (i % 2 === 0 ? 1 : 0)) kept++;
          for (let k = 1; k < after.records.length; k++) {
            const [a, b] = [after.records[k - 1] as LogRecord, after.records[k] as LogRecord];
            check(a.n <= b.n, () => `records out of order: ${a.n}, ${b.n}`);
          }
          check(
            after.next === 0 || after.next === (after.records.at(-1)?.n ?? -1) + 1,
            () => `next ${after.next}`,
          );
        } catch (error) {
          tally.reject(error, i, () => bytes.toString('hex'));
          return;
        }
        tally.accept();
      });
      console.log(`log segment: ${kept} of ${INPUTS} stored segments were read and kept`);
      tally.assertCoverage({ minAccepted: 1, shallow: [], minDeep: 1, mustSee: [] });
      check(kept >= INPUTS / 10, () => `only ${kept} readable segments`);
    },
    FUZZ_TIMEOUT_MS,
  );
});
