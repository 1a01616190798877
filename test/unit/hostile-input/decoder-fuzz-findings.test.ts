/**
 * Regressions of the bugs the decoder fuzz tests (test/fuzz) found: each input made a decoder throw
 * something its TSDoc does not name (a RangeError, a TypeError), hand back a value the encoder refuses, or
 * hold memory far beyond its size. Each decoder now answers with its documented error.
 */
import { describe, expect, it } from 'vitest';
import { parseTick } from '../../../lambda/adapters/sqs-tick-queue.ts';
import { arrival } from '../../../lambda/handlers/common/channel-consumer.ts';
import { InvalidEventError, parseSqsEvent } from '../../../lambda/handlers/common/sqs.ts';
import { decodeContainer, encodeContainer, MAX_TREE_DEPTH } from '../../../src/runtime/cloud/container.ts';
import { StateDocumentError } from '../../../src/runtime/cloud/errors.ts';
import { parseBody } from '../../../src/runtime/cloud/inbound.ts';
import { showValue } from '../../../src/runtime/cloud/text.ts';
import { assemble } from '../../fuzz/container-inputs.ts';

/** A sealed `primary-state` container with this header text and blob region. */
const container = (header: string, region: Uint8Array = new Uint8Array(0)) => assemble(1, 1, header, region);
const decode = (bytes: Uint8Array) => decodeContainer(bytes, 'primary-state', 'doc');

/** The error `f` throws. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('did not throw');
}

describe('container (decodeContainer)', () => {
  it('a deeply nested header is refused, not a stack overflow (was: RangeError)', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const e = thrown(() => decode(container(`{"blobs":[],"body":${deep}}`)));
    expect(e).toBeInstanceOf(StateDocumentError);
    expect((e as Error).message).toMatch(`nested deeper than ${MAX_TREE_DEPTH} levels`);
    // As deep as the limit allows still decodes.
    const ok = `${'['.repeat(MAX_TREE_DEPTH)}${']'.repeat(MAX_TREE_DEPTH)}`;
    expect(() => decode(container(`{"blobs":[],"body":${ok}}`))).not.toThrow();
  });

  it('$num names only NaN and ±Infinity (was: "constructor" decoded to the Object function)', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(() => decode(container(`{"blobs":[],"body":{"a":{"$num":"${name}"}}}`))).toThrow(
        StateDocumentError,
      );
    }
    expect(decode(container('{"blobs":[],"body":[{"$num":"NaN"},{"$num":"-Infinity"}]}'))).toEqual([
      Number.NaN,
      Number.NEGATIVE_INFINITY,
    ]);
  });

  it('a __proto__ key is refused (was: it set the prototype, and .length threw a TypeError)', () => {
    const header = '{"blobs":[[0,4,4,4]],"body":{"versions":{"__proto__":{"$u32":0}}}}';
    const e = thrown(() => decode(container(header, new Uint8Array(4))));
    expect(e).toBeInstanceOf(StateDocumentError);
    expect((e as Error).message).toMatch('the key __proto__ is not allowed');
    // The encoder refuses to write one too.
    expect(() => encodeContainer('primary-state', JSON.parse('{"__proto__":1}'))).toThrow(TypeError);
  });

  it('a blob referenced twice is refused (was: every reference copied the blob)', () => {
    // 1 000 references to one 4 KiB blob would have held 4 MiB; to a 64 MiB deflated one, 64 GiB.
    const refs = Array.from({ length: 1000 }, () => '{"$u8":0}').join(',');
    const e = thrown(() =>
      decode(container(`{"blobs":[[0,1,4096,4096]],"body":[${refs}]}`, new Uint8Array(4096))),
    );
    expect(e).toBeInstanceOf(StateDocumentError);
    expect((e as Error).message).toMatch('blob 0 is referenced twice');
  });

  it('an index that cannot be printed is refused with a StateDocumentError (was: TypeError)', () => {
    const e = thrown(() => decode(container('{"blobs":[],"body":{"$u32":{"toString":1}}}')));
    expect(e).toBeInstanceOf(StateDocumentError);
    expect((e as Error).message).toMatch('names blob an object');
  });

  it('showValue never throws and stays short', () => {
    expect(showValue(JSON.parse('{"toString":1,"valueOf":2}'))).toBe('an object');
    expect(showValue([1])).toBe('an array');
    expect(showValue('x'.repeat(10_000)).length).toBeLessThan(80);
    expect(showValue(1.5)).toBe('1.5');
  });
});

describe('tick messages (parseTick)', () => {
  it('a version or timer without a callable toString is an Error (was: TypeError)', () => {
    for (const body of ['{"v":{"toString":1}}', '{"v":1,"vmId":"vm-0","timer":{"toString":1}}']) {
      const e = thrown(() => parseTick(body));
      expect(Object.getPrototypeOf(e)).toBe(Error.prototype);
    }
  });

  it('a body that is not JSON is an Error saying so (was: a SyntaxError)', () => {
    const e = thrown(() => parseTick('{"v":'));
    expect(Object.getPrototypeOf(e)).toBe(Error.prototype);
    expect((e as Error).message).toMatch(/^tick body is not JSON: /);
  });
});

describe('channel bodies (parseBody)', () => {
  it('never throws on a type without a callable toString (was: TypeError, failing the whole batch)', () => {
    const r = parseBody('{"v":1,"vmId":"vm-0","epoch":1,"seq":0,"type":{"toString":1}}');
    expect(r).toMatchObject({ ok: true, envelope: { seq: 0, type: 'an object' } });
  });
});

describe('SQS events (parseSqsEvent)', () => {
  it('refuses a timestamp attribute that is not a string (was: arrival threw a TypeError)', () => {
    const record = (attributes: object) => ({
      Records: [{ messageId: 'm-1', body: '{}', eventSource: 'aws:sqs', attributes }],
    });
    for (const name of ['ApproximateFirstReceiveTimestamp', 'SentTimestamp']) {
      const hostile = record(JSON.parse(`{"${name}":{"toString":1}}`));
      expect(() => parseSqsEvent(hostile)).toThrow(InvalidEventError);
    }
    const ok = parseSqsEvent(record({ SentTimestamp: '1000' }));
    expect(arrival(ok.Records[0] as (typeof ok.Records)[number], 5000)).toMatchObject({ arrivedAt: 1000 });
  });
});
