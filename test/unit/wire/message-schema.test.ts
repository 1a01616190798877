/** Tests of the COLO message schema: acceptance, rejection, limits, serialization. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COLO_MESSAGE_TYPES, type ColoMessage } from '../../../src/engine/protocol/messages.ts';
import { WireError } from '../../../src/wire/errors.ts';
import {
  coloMessageSchema,
  parseMessage,
  parseMessageObject,
  serializeMessage,
} from '../../../src/wire/message-schema.ts';
import { coloMessageArb } from './message-arbitraries.ts';

function codeOf(run: () => unknown): string {
  try {
    run();
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(WireError);
    return (error as WireError).code;
  }
}

describe('message schema', () => {
  it('has exactly the message types of messages.ts', () => {
    expect([...coloMessageSchema.options.map((o) => o.shape.type.value)]).toEqual([...COLO_MESSAGE_TYPES]);
  });

  it('accepts valid messages and round-trips them through serializeMessage', () => {
    fc.assert(
      fc.property(coloMessageArb, (m) => {
        const body = serializeMessage(m);
        expect(parseMessage(body)).toEqual(m);
        expect(parseMessageObject(JSON.parse(body))).toEqual(m);
        // Fields come out in schema order whatever the input order.
        expect(Object.keys(JSON.parse(body)).slice(0, 5)).toEqual(['v', 'type', 'vmId', 'epoch', 'seq']);
      }),
      { numRuns: 2_000 },
    );
  });

  it('serializes in a fixed field order', () => {
    const m = { seq: 1, epoch: 2, vmId: 'vm', type: 'vmstate-size', v: 1, size: 3 } as ColoMessage;
    expect(serializeMessage(m)).toBe('{"v":1,"type":"vmstate-size","vmId":"vm","epoch":2,"seq":1,"size":3}');
  });

  it('lists every problem in a readable error', () => {
    const body = JSON.stringify({
      v: 1,
      type: 'checkpoint-reply',
      vmId: 'VM',
      epoch: -1,
      seq: 0,
      appliedRounds: [2, 1],
    });
    expect(() => parseMessage(body)).toThrow(/invalid COLO message \(type "checkpoint-reply"\)/);
    try {
      parseMessage(body);
    } catch (error) {
      const text = (error as Error).message;
      expect(text).toMatch(/at vmId/);
      expect(text).toMatch(/at epoch/);
      expect(text).toMatch(/strictly ascending/);
    }
  });

  it('names the expected types for an unknown type', () => {
    expect(() => parseMessage('{"v":1,"type":"x","vmId":"vm","epoch":0,"seq":0}')).toThrow(
      /checkpoint-request/,
    );
  });

  it('rejects a body over 256 KiB before parsing it, counting UTF-8 bytes', () => {
    const ok = JSON.stringify({ v: 1, type: 'heartbeat', vmId: 'vm', epoch: 0, seq: 0, beat: 1, sentAt: 0 });
    const pad = (n: number, ch: string) => `${ok.slice(0, -1)},"p":"${ch.repeat(n)}"}`;
    const base = pad(0, 'x').length;
    expect(codeOf(() => parseMessage(pad(256 * 1024 - base, 'x')))).toBe('invalid-message'); // 256 KiB exactly
    expect(codeOf(() => parseMessage(pad(256 * 1024 - base + 1, 'x')))).toBe('too-large');
    // 'é' is 1 UTF-16 unit but 2 UTF-8 bytes.
    expect(codeOf(() => parseMessage(pad(128 * 1024, 'é')))).toBe('too-large');
    expect(codeOf(() => parseMessage(`[${'['.repeat(300_000)}`))).toBe('too-large');
  });

  it('turns deeply nested JSON, non-strings and hostile objects into invalid-message', () => {
    expect(codeOf(() => parseMessage(`${'['.repeat(100_000)}${']'.repeat(100_000)}`))).toBe(
      'invalid-message',
    );
    expect(codeOf(() => parseMessage(42 as unknown as string))).toBe('invalid-message');
    const hostile = {
      get v(): number {
        throw new Error('boom');
      },
    };
    expect(codeOf(() => parseMessageObject(hostile))).toBe('invalid-message');
    expect(
      codeOf(() =>
        parseMessageObject(
          new Proxy(
            {},
            {
              ownKeys: () => {
                throw new Error('x');
              },
            },
          ),
        ),
      ),
    ).toBe('invalid-message');
  });

  it('refuses to serialize an invalid message', () => {
    const bad = {
      v: 1,
      type: 'delta',
      vmId: 'vm',
      epoch: 0,
      seq: 0,
      kind: 'checkpoint-ram',
      round: 3,
      claim: { key: 'k', size: 1, sha256: 'a'.repeat(64) },
    };
    expect(codeOf(() => serializeMessage(bad as ColoMessage))).toBe('invalid-message');
  });

  it('returns a fresh object without extra prototype keys', () => {
    const m = parseMessage('{"v":1,"type":"heartbeat","vmId":"vm","epoch":0,"seq":0,"beat":1,"sentAt":0}');
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
    expect(Object.keys(m)).toEqual(['v', 'type', 'vmId', 'epoch', 'seq', 'beat', 'sentAt']);
  });
});
