/**
 * Issue 9, "bounded cost per byte of input": error texts are cut before they are stored or logged, an
 * inflated page holds 4 KiB, the object cap follows the function's memory, and duplicate JSON keys are
 * refused.
 */
import { describe, expect, it } from 'vitest';
import { reportInvocation } from '../../../lambda/handlers/common/observability.ts';
import { objectCapsFromEnv, paramsFromEnv } from '../../../lambda/handlers/common/params.ts';
import { ColoError } from '../../../src/engine/errors.ts';
import { DEFAULT_PARAMS } from '../../../src/engine/params.ts';
import { parseBody } from '../../../src/runtime/cloud/inbound.ts';
import { recordsOf } from '../../../src/runtime/cloud/log-record.ts';
import { MAX_REASON_CHARS, truncateText } from '../../../src/runtime/cloud/text.ts';
import { duplicateKey } from '../../../src/wire/json-keys.ts';
import { parseMessage } from '../../../src/wire/message-schema.ts';
import { deflatePage, inflatePage } from '../../../src/wire/page-compress.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from '../cloud/harness.ts';

describe('error texts are bounded (finding 5)', () => {
  it('truncateText keeps short texts and cuts long ones to the limit, saying so', () => {
    expect(truncateText('short')).toBe('short');
    const cut = truncateText('x'.repeat(100_000));
    expect(cut.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
    expect(cut).toMatch(/\[100000 characters, cut\]$/);
    // A surrogate pair is never split.
    const emoji = truncateText('😀'.repeat(2000), 100);
    expect(emoji.length).toBeLessThanOrEqual(100);
    expect(() => encodeURIComponent(emoji)).not.toThrow();
  });

  it('a colo-exit record holds at most 1 000 characters of text; a refusal makes no record at all', () => {
    const huge = 'e'.repeat(200_000);
    const records = recordsOf(
      [
        { type: 'rejected', error: new ColoError('invalid-message', huge) },
        { type: 'colo-exit', reason: 'error', detail: huge },
      ],
      'secondary',
      0,
    );
    expect(records.map((r) => r.type)).toEqual(['colo-exit']);
    for (const r of records) expect(JSON.stringify(r).length).toBeLessThan(MAX_REASON_CHARS + 200);
  });

  it('a hostile body with a long schema error costs a bounded outcome and writes nothing', async () => {
    const pair = new CloudPair(testParams());
    await pair.start();
    // Many unknown fields: zod names each of them in its error text.
    const junk = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`field${i}`, i]));
    const body = JSON.stringify({ v: 1, type: 'heartbeat', vmId: 'vm-0', epoch: 1, seq: 1, ...junk });
    const saves = pair.state.stats.saves;
    const logBefore = (await pair.log('secondary')).length;
    const r = await pair.secondary([{ type: 'message', body }]);
    expect(r.outcomes[0]?.status).toBe('rejected');
    expect(r.outcomes[0]?.detail?.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
    expect(pair.state.stats.saves).toBe(saves);
    expect((await pair.log('secondary')).length).toBe(logBefore);
  });
});

describe('an inflated page holds exactly 4 KiB (finding 5)', () => {
  it('its backing store is 4096 bytes, not zlib’s 16 KiB chunk', () => {
    const page = new Uint8Array(4096).fill(7);
    const packed = deflatePage(page);
    expect(packed).not.toBeNull();
    const out = inflatePage(packed as Uint8Array, 0, 0);
    expect(out.byteLength).toBe(4096);
    expect(out.buffer.byteLength).toBe(4096);
    expect(Buffer.from(out).equals(Buffer.from(page))).toBe(true);
  });

  it('a stream inflating past 4096 bytes is still refused', async () => {
    const { deflateRawSync } = await import('node:zlib');
    expect(() => inflatePage(deflateRawSync(new Uint8Array(4097)), 0, 0)).toThrow(/more than 4096/);
  });
});

describe('the object cap follows the function memory (finding 5)', () => {
  it('a quarter of AWS_LAMBDA_FUNCTION_MEMORY_SIZE, and chunks that fit under it', () => {
    expect(objectCapsFromEnv({})).toEqual({
      maxObjectBytes: DEFAULT_PARAMS.maxObjectBytes,
      maxDeltaBytes: DEFAULT_PARAMS.maxDeltaBytes,
    });
    expect(objectCapsFromEnv({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024' })).toEqual({
      maxObjectBytes: 256 * 1024 * 1024,
      maxDeltaBytes: DEFAULT_PARAMS.maxDeltaBytes,
    });
    const small = objectCapsFromEnv({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128' });
    expect(small.maxObjectBytes).toBe(32 * 1024 * 1024);
    expect(small.maxDeltaBytes % 4096).toBe(0);
    expect(small.maxDeltaBytes).toBeLessThanOrEqual(0.9 * small.maxObjectBytes);
    expect(objectCapsFromEnv({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '20480' }).maxObjectBytes).toBe(
      DEFAULT_PARAMS.maxObjectBytes,
    );
    expect(() => objectCapsFromEnv({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: 'lots' })).toThrow(
      /AWS_LAMBDA_FUNCTION_MEMORY_SIZE must be a positive integer/,
    );
  });

  it('paramsFromEnv applies it', () => {
    const env = {
      VM_ID: 'vm-0',
      SEED: '1',
      GUEST_BYTES: String(1024 * 1024),
      WORKLOAD: 'hotcold',
      POLICY: 'fixed',
      CHECKPOINT_DELAY_MS: '20000',
      PENDING_CHECK_INTERVAL_MS: '1000',
      THRESHOLD_BYTES: '1048576',
      APPLY_TIMEOUT_MS: '5000',
      HEARTBEAT_INTERVAL_MS: '1000',
      HEARTBEAT_TIMEOUT_MS: '10000',
      CHECKPOINT_TIMEOUT_MS: '30000',
      DOWNTIME_BUDGET_MS: '300',
      EPOCH_CAP_BYTES: '0',
      BUCKET_NAME: 'b',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    };
    expect(paramsFromEnv(env).maxObjectBytes).toBe(128 * 1024 * 1024);
  });
});

describe('duplicate JSON keys are refused (finding 6)', () => {
  const good = '{"v":1,"type":"heartbeat","vmId":"vm-0","epoch":1,"seq":0,"beat":1,"sentAt":0}';

  it('finds a key given twice, also when escaped or nested', () => {
    expect(duplicateKey(good)).toBeUndefined();
    expect(duplicateKey('{"a":1,"a":2}')).toBe('a');
    expect(duplicateKey('{"a":1,"\\u0061":2}')).toBe('a');
    expect(duplicateKey('{"c":{"k":1,"k":2}}')).toBe('k');
    expect(duplicateKey('{"a":{"a":1},"b":[{"a":1},{"a":2}]}')).toBeUndefined();
    expect(duplicateKey('{"a":"\\"a\\":,{}[]","b":"a"}')).toBeUndefined();
    expect(duplicateKey('[{"x":1},{"x":1,"y":[1,2],"x":3}]')).toBe('x');
    expect(duplicateKey('"plain"')).toBeUndefined();
  });

  it('parseMessage and the cloud runtime’s parseBody refuse such a body', () => {
    const twice = '{"v":1,"type":"heartbeat","vmId":"vm-0","epoch":1,"seq":0,"beat":1,"sentAt":0,"seq":5}';
    expect(() => parseMessage(good)).not.toThrow();
    expect(() => parseMessage(twice)).toThrow(/invalid-message.*"seq" twice|key "seq" twice/);
    const parsed = parseBody(twice);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error.message).toMatch(/"seq" twice/);
  });

  /**
   * `text` as the scan sees it, counting the characters it reads (`charCodeAt`) and copies (`slice`, keys
   * only): the scan's work, counted instead of timed (its speed is measured by `npm run bench`, group
   * fuzz-message). A scan that used anything else of the string would fail here, loudly.
   */
  function counted(text: string): { view: string; count: { reads: number; copied: number } } {
    const count = { reads: 0, copied: 0 };
    const view = {
      length: text.length,
      charCodeAt: (i: number) => {
        count.reads++;
        return text.charCodeAt(i);
      },
      slice: (from: number, to: number) => {
        const part = text.slice(from, to);
        count.copied += part.length;
        return part;
      },
    };
    return { view: view as unknown as string, count };
  }

  it('the check is linear: each character is read at most once and copied at most once', () => {
    const n = 20_000;
    const bodies: [string, string, string | undefined][] = [
      [
        'a 256 KiB body of keys',
        `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}`,
        undefined,
      ],
      [
        'the same, the last key repeated',
        `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')},"k${n - 1}":0}`,
        `k${n - 1}`,
      ],
      [
        'escaped keys (each one unescaped)',
        `{${Array.from({ length: n }, (_, i) => `"\\u006b${i}":${i}`).join(',')}}`,
        undefined,
      ],
      ['objects nested 10 000 deep', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`, undefined],
      [
        'an array of objects with the same keys',
        `[${Array.from({ length: n }, () => '{"a":1,"b":[2]}').join(',')}]`,
        undefined,
      ],
      ['a string of 131 072 escaped backslashes', `{"k":"${'\\\\'.repeat(65_536)}","k":1}`, 'k'],
    ];
    for (const [what, body, duplicate] of bodies) {
      expect(() => JSON.parse(body), what).not.toThrow();
      const { view, count } = counted(body);
      expect(duplicateKey(view), what).toBe(duplicate);
      expect(count.reads, what).toBeLessThanOrEqual(body.length);
      expect(count.copied, what).toBeLessThanOrEqual(body.length);
      expect(duplicateKey(body), what).toBe(duplicate);
    }
  });
});

describe('rejection log lines name the message (finding 7)', () => {
  it('message id, type and sequence number', async () => {
    const pair = new CloudPair(testParams());
    await pair.start();
    const r = await pair.secondary([
      { type: 'message', body: '{"v":1,"type":"vmstate-send","vmId":"vm-0","epoch":1,"seq":0}' },
    ]);
    expect(r.outcomes[0]).toMatchObject({ status: 'rejected', message: { type: 'vmstate-send', seq: 0 } });
    const lines: [string, Record<string, unknown>][] = [];
    const log = (m: string, extra: Record<string, unknown>) => lines.push([m, extra]);
    reportInvocation(
      {
        logger: { debug: log, info: log, warn: log, error: log },
        metrics: { addMetric: () => {}, publishStoredMetrics: () => {} },
      },
      r,
      ['msg-123'],
    );
    expect(lines.find(([m]) => m === 'input rejected')?.[1]).toMatchObject({
      messageId: 'msg-123',
      type: 'vmstate-send',
      seq: 0,
      code: 'unexpected-message',
    });
  });
});
