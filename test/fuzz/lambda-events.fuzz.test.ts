/**
 * Fuzz: ≥ 100 000 events each to the decoders of what invokes a Lambda function: the SQS event envelope
 * (`parseSqsEvent`, then `arrival` on each record — every channel and tick consumer), the virtual-clock event
 * (`parseVirtualClockEvent`, `primary` and `secondary-apply`) and the direct failover request
 * (`parseFailoverRequest`, `heartbeat-monitor`). Events arrive parsed from JSON, so the inputs are JSON
 * values: valid events, structure-aware edits of them, random values, deep nesting. Oracle: a value, or the
 * decoder's documented error class (`InvalidEventError`, `VirtualClockRefusedError`); the dispatchers
 * (`looksLikeSqsEvent`, `isVirtualClockEvent`) must never throw.
 */
import { describe, it } from 'vitest';
import { queueOfArn } from '../../lambda/adapters/sqs-redelivery.ts';
import { arrival } from '../../lambda/handlers/common/channel-consumer.ts';
import { InvalidEventError, looksLikeSqsEvent, parseSqsEvent } from '../../lambda/handlers/common/sqs.ts';
import { parseFailoverRequest } from '../../lambda/handlers/heartbeat-monitor.ts';
import {
  isVirtualClockEvent,
  parseVirtualClockEvent,
  VirtualClockRefusedError,
} from '../../lambda/handlers/test/virtual-clock.ts';
import { type Json, nextJsonValue } from './json-mutate.ts';
import { Rng } from './mutate.ts';
import { check, exactly, FUZZ_TIMEOUT_MS, forInputs, Tally } from './oracle.ts';

const INPUTS = 100_000;
const VM = 'vm-0';
const NOW = 1_760_000_000_000;

const BODIES = [
  '{"v":1,"type":"heartbeat","vmId":"vm-0","epoch":1,"seq":3,"beat":0}',
  '{"v":1,"type":"checkpoint-request","vmId":"vm-0","epoch":2,"seq":9,"trigger":"timer"}',
  '{"v":1,"vmId":"vm-0","timer":"checkpoint","generation":1,"seq":4,"dueAt":1760000000000}',
  '',
];

/** An SQS record as Lambda delivers it (FIFO attributes when `fifo`). */
function record(rng: Rng, i: number, fifo: boolean): Json {
  const sent = NOW - rng.int(60_000);
  return {
    messageId: `059f36b4-87a3-44ab-83d2-${String(661975830 + i).padStart(12, '0')}`,
    receiptHandle: `AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a${i}`,
    body: rng.pick(BODIES),
    attributes: {
      ApproximateReceiveCount: String(1 + rng.int(5)),
      SentTimestamp: String(sent),
      SenderId: 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: String(sent + rng.int(1000)),
      ...(fifo
        ? { MessageGroupId: VM, MessageDeduplicationId: `vm-0-1-${i}-heartbeat`, SequenceNumber: '1884' }
        : {}),
    },
    messageAttributes: {},
    md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${fifo ? 'colo-p2s.fifo' : 'colo-heartbeat-ticks'}`,
    awsRegion: 'us-east-1',
  };
}

function sqsSeeds(): Json[] {
  const rng = new Rng(0x5eed_0201);
  return Array.from({ length: 30 }, (_, k) => ({
    Records: Array.from({ length: 1 + rng.int(10) }, (_, i) => record(rng, i, k % 2 === 0)),
  }));
}

function clockSeeds(): Json[] {
  const inputs: Json[] = [
    { type: 'start' },
    { type: 'tick' },
    { type: 'failover' },
    { type: 'message', body: BODIES[0] as string },
    { type: 'send-complete', sendId: 3 },
    { type: 'send-complete', sendId: 7, error: 'put failed' },
  ];
  return inputs.flatMap((input, i) => [
    { source: 'colo.virtual-clock', vmId: VM, now: 2779.37 * i, input },
    { source: 'colo.virtual-clock', vmId: VM, now: 0, input },
  ]);
}

const FAILOVER_SEEDS: Json[] = [
  { source: 'colo.failover', vmId: VM },
  { source: 'colo.failover', vmId: 'vm-1' },
  { source: 'colo.watchdog', vmId: VM },
];

/** Runs `decode` on ≥ 100 000 events drawn from `seeds`; `check` sees each accepted value. */
function fuzzEvents<T>(
  tally: Tally,
  seed: number,
  seeds: Json[],
  decode: (e: Json, i: number) => T,
  check: (v: T, e: Json) => void,
): void {
  const rng = new Rng(seed);
  tally.stats = forInputs(INPUTS, (i) => {
    const event = nextJsonValue(rng, seeds);
    // The dispatchers look at every event before any decoder does.
    looksLikeSqsEvent(event);
    isVirtualClockEvent(event);
    let value: T;
    try {
      value = decode(event, i);
    } catch (error) {
      tally.reject(error, i, () => JSON.stringify(event) ?? String(event));
      return;
    }
    tally.accept();
    check(value, event);
  });
}

describe('Lambda event fuzz', () => {
  it(
    `parseSqsEvent (and arrival on each record) survives ${INPUTS} events`,
    () => {
      const tally = new Tally('SQS event', {
        is: exactly(InvalidEventError),
        categories: [
          ['record', /^not an SQS event: ✖ .*→ at Records\[\d+\]/],
          ['records', /^not an SQS event: ✖ .*→ at Records/],
          ['event', /^not an SQS event: ✖/],
        ],
      });
      fuzzEvents(
        tally,
        0x5eed_0202,
        sqsSeeds(),
        (e) => parseSqsEvent(e),
        (event, raw) => {
          check(looksLikeSqsEvent(raw), () => 'an accepted event does not look like one');
          for (const r of event.Records) {
            check(typeof r.messageId === 'string' && r.messageId.length > 0, () => 'bad messageId');
            check(typeof r.body === 'string', () => 'body is not a string');
            const a = arrival(r, NOW);
            check(a.body === r.body, () => 'arrival changed the body');
            const at = a.arrivedAt;
            check(at === undefined || (at > 0 && at <= NOW), () => `arrivedAt ${at}`);
            if (typeof r.eventSourceARN === 'string') queueOfArn(r.eventSourceARN);
          }
        },
      );
      tally.assertCoverage({
        minAccepted: 0.15,
        shallow: ['event'],
        minDeep: 0.7,
        mustSee: ['record', 'records', 'event'],
      });
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `parseVirtualClockEvent survives ${INPUTS} events`,
    () => {
      const tally = new Tally('virtual-clock event', {
        is: exactly(VirtualClockRefusedError),
        categories: [
          ['not-object', /^malformed virtual-clock event: ✖ Invalid input: expected object, received \w+$/],
          ['malformed', /^malformed virtual-clock event: ✖/],
          ['other-vm', /^virtual-clock event for VM .*; this is VM vm-0$/s],
          ['not-taken', /^the (primary|secondary) takes no \S+ input$/],
        ],
      });
      fuzzEvents(
        tally,
        0x5eed_0203,
        clockSeeds(),
        (e, i) => parseVirtualClockEvent(e, VM, i % 2 === 0 ? 'primary' : 'secondary'),
        (e) => {
          check(e.vmId === VM && Number.isFinite(e.now) && e.now >= 0, () => JSON.stringify(e));
        },
      );
      tally.assertCoverage({
        minAccepted: 0.08,
        shallow: ['not-object'],
        minDeep: 0.8,
        mustSee: ['not-object', 'malformed', 'other-vm', 'not-taken'],
      });
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `parseFailoverRequest survives ${INPUTS} events`,
    () => {
      const tally = new Tally('failover request', {
        is: exactly(InvalidEventError),
        categories: [
          ['not-failover', /^expected an SQS event of heartbeat ticks or \{"source":"colo\.failover"/],
          ['other-vm', /^failover requested for VM .*; this is VM vm-0$/s],
        ],
      });
      fuzzEvents(
        tally,
        0x5eed_0204,
        FAILOVER_SEEDS,
        (e) => parseFailoverRequest(e, VM),
        (r) => {
          check(r.source === 'colo.failover' && r.vmId === VM, () => JSON.stringify(r));
        },
      );
      tally.assertCoverage({
        // Past the schema: accepted, or a well-formed request for another VM.
        minAccepted: 0.03,
        shallow: ['not-failover'],
        minDeep: 0.1,
        mustSee: ['not-failover', 'other-vm'],
      });
    },
    FUZZ_TIMEOUT_MS,
  );
});
