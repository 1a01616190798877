/**
 * The malformed-input corpus (test/corpus): one case per rejection rule, each naming the WireError code the
 * decoder must raise, plus a few valid golden objects that pin the format. make-corpus.ts writes them out;
 * corpus.test.ts runs the checked-in files.
 */
import { deflateRawSync } from 'node:zlib';
import type { PageDelta } from '../../../src/engine/protocol/delta.ts';
import type { DecodeLimits } from '../../../src/wire/delta-codec.ts';
import { encodeDelta } from '../../../src/wire/delta-codec.ts';
import { OFF } from '../../../src/wire/delta-layout.ts';
import type { WireErrorCode } from '../../../src/wire/errors.ts';
import { craft, records, reseal, runTable } from './craft.ts';
import { makePage } from './page-content.ts';

/** One delta case: object bytes, the limits to decode with, and the outcome. */
export interface DeltaCase {
  /** File name stem. */
  name: string;
  /** What the case breaks. */
  about: string;
  bytes: Uint8Array;
  limits: DecodeLimits;
  /** Error code, or `valid` for a golden object (then `golden` names it in {@link goldenDeltas}). */
  expect: WireErrorCode | 'valid';
  golden?: string;
}

/** One message case: a body and the error code parseMessage must raise. */
export interface MessageCase {
  name: string;
  about: string;
  body: string;
  expect: WireErrorCode;
}

const LIMITS: DecodeLimits = { maxObjectBytes: 1 << 20, pageCount: 1 << 20 };

/** Valid objects whose bytes are pinned in the corpus (uncompressed ones must re-encode identically). */
export function goldenDeltas(): Record<string, { delta: PageDelta; compress: boolean }> {
  const ram = (kind: PageDelta['kind'], modes: [number, Parameters<typeof makePage>[0]][]): PageDelta => ({
    vmId: 'vm-golden',
    epoch: 7,
    seq: 42,
    kind,
    pages: modes.map(([index, mode], i) => ({ index, version: i + 1, data: makePage(mode, index + 1) })),
    blob: new Uint8Array(0),
  });
  return {
    'checkpoint-ram': {
      delta: ram('checkpoint-ram', [
        [0, 'null'],
        [1, 'text'],
        [2, 'sparse'],
        [10, 'null'],
        [0xffff_fffe, 'fill'],
      ]),
      compress: false,
    },
    'background-ram-deflate': {
      delta: ram('background-ram', [
        [5, 'text'],
        [6, 'zeros'],
        [7, 'random'],
        [9, 'null'],
      ]),
      compress: true,
    },
    'device-state': {
      delta: {
        vmId: 'vm-golden',
        epoch: 7,
        seq: 43,
        kind: 'device-state',
        pages: [],
        blob: new TextEncoder().encode('device state'),
      },
      compress: false,
    },
  };
}

/** A small valid object to corrupt: 2 runs, 3 pages (null, raw, null). */
function base(): Buffer {
  return Buffer.from(
    encodeDelta({
      vmId: 'vm',
      epoch: 1,
      seq: 0,
      kind: 'checkpoint-ram',
      pages: [
        { index: 1, version: 1, data: null },
        { index: 2, version: 1, data: makePage('text', 1) },
        { index: 9, version: 3, data: null },
      ],
      blob: new Uint8Array(0),
    }),
  );
}

/** Copy of `bytes` with `edit` applied, resealed so that only the edit is wrong. */
function edited(bytes: Uint8Array, edit: (b: Buffer) => void): Buffer {
  const copy = Buffer.from(bytes);
  edit(copy);
  return reseal(copy);
}

/** A raw-deflate stored block holding `n` bytes of `x` (deterministic, no zlib involved). */
function storedBlock(n: number): Uint8Array {
  const out = Buffer.alloc(5 + n, 0x78);
  out[0] = 0x01;
  out.writeUInt16LE(n, 1);
  out.writeUInt16LE(~n & 0xffff, 3);
  return out;
}

/** An object whose single page 0 is deflate-encoded with `stream` as its stored bytes. */
function deflatedPage(stream: Uint8Array): Buffer {
  return craft({
    pageCount: 1,
    runs: runTable([[0, 1]]),
    records: records([[1, 2, stream.length]]),
    payload: stream,
  });
}

/** Every delta case. */
export function deltaCases(): DeltaCase[] {
  const ok = base();
  const cases: DeltaCase[] = [];
  const add = (name: string, expect: WireErrorCode, about: string, bytes: Uint8Array, limits = LIMITS) =>
    cases.push({ name, about, bytes, limits, expect });

  for (const [name, g] of Object.entries(goldenDeltas())) {
    cases.push({
      name: `valid-${name}`,
      about: `golden ${name} object (compress: ${g.compress})`,
      bytes: encodeDelta(g.delta, { compress: g.compress }),
      limits: { maxObjectBytes: 1 << 20 },
      expect: 'valid',
      golden: name,
    });
  }

  add('too-large', 'too-large', 'object one byte over maxObjectBytes', ok, { maxObjectBytes: ok.length - 1 });
  add('claim-mismatch', 'checksum-mismatch', 'claim-check SHA-256 differs', ok, {
    ...LIMITS,
    expectedSha256: '0'.repeat(64),
  });
  add(
    'trailer-mismatch',
    'checksum-mismatch',
    'one payload byte changed, trailer not updated',
    (() => {
      const b = Buffer.from(ok);
      b[b.length - 40] = (b[b.length - 40] as number) ^ 1;
      return b;
    })(),
  );
  add('trailer-zero', 'checksum-mismatch', 'all-zero SHA-256 trailer', craft({ trailer: 'zero' }));
  add(
    'bad-magic',
    'bad-magic',
    'magic "CDLX"',
    edited(ok, (b) => b.write('X', 3, 'latin1')),
  );
  add('bad-magic-text', 'bad-magic', 'a JSON body where an object was expected', Buffer.from('{"v":1}'));
  add('empty', 'truncated', 'zero bytes', new Uint8Array(0));
  add('magic-only', 'truncated', 'just the 4 magic bytes', Buffer.from('CDLT'));
  add(
    'unsupported-version',
    'unsupported-version',
    'format version 2',
    edited(ok, (b) => b.writeUInt8(2, OFF.version)),
  );
  add(
    'unsupported-version-0',
    'unsupported-version',
    'format version 0',
    edited(ok, (b) => b.writeUInt8(0, OFF.version)),
  );
  add('truncated-header', 'truncated', 'cut inside the fixed header', ok.subarray(0, 30));
  add('truncated-last-byte', 'truncated', 'last trailer byte missing', ok.subarray(0, ok.length - 1));
  add('truncated-payload', 'truncated', 'cut inside the payload', ok.subarray(0, ok.length - 100));
  add(
    'trailing-bytes',
    'trailing-bytes',
    'one extra byte after the trailer',
    Buffer.concat([ok, Buffer.of(0)]),
  );
  add(
    'huge-page-count',
    'truncated',
    'page count 2^31: rejected by size arithmetic, nothing allocated',
    edited(ok, (b) => b.writeUInt32LE(0x8000_0000, OFF.pageCount)),
  );
  add(
    'huge-run-bytes',
    'truncated',
    'run table 2^32 - 1 bytes',
    edited(ok, (b) => b.writeUInt32LE(0xffff_ffff, OFF.runBytes)),
  );
  add('huge-blob', 'truncated', 'blob 2^32 - 1 bytes', craft({ kind: 3, blobBytes: 0xffff_ffff }));
  add('unknown-kind-0', 'unknown-kind', 'kind byte 0', craft({ kind: 0 }));
  add('unknown-kind-9', 'unknown-kind', 'kind byte 9', craft({ kind: 9 }));
  add('kind-mismatch', 'kind-mismatch', 'checkpoint-ram object, background-ram expected', ok, {
    ...LIMITS,
    expectedKind: 'background-ram',
  });
  add('flags-set', 'bad-field', 'reserved flags byte is 1', craft({ flags: 1 }));
  add('vmid-empty', 'bad-field', 'vmId length 0', craft({ vmId: '' }));
  add('vmid-upper', 'bad-field', 'vmId "VM" has upper case', craft({ vmId: 'VM' }));
  add('vmid-64', 'bad-field', 'vmId of 64 characters', craft({ vmId: 'a'.repeat(64) }));
  add('vmid-nul', 'bad-field', 'vmId with a NUL byte', craft({ vmId: 'v\0m' }));
  add('seq-unsafe', 'bad-field', 'seq high word makes seq > 2^53 - 1', craft({ seqHigh: 0x20_0000 }));
  add('run-length-zero', 'bad-field', 'a run of length 0', craft({ pageCount: 0, runs: runTable([[3, 0]]) }));
  add(
    'runs-adjacent',
    'bad-field',
    'runs 0–1 and 2–2 not merged',
    craft({
      pageCount: 3,
      runs: runTable([
        [0, 2],
        [2, 1],
      ]),
      records: records([
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ]),
    }),
  );
  add(
    'varint-overlong',
    'bad-field',
    'run start 0 written as 0x80 0x00',
    craft({ pageCount: 1, runs: Uint8Array.of(0x80, 0x00, 0x01), records: records([[0, 0, 0]]) }),
  );
  add(
    'varint-over-u32',
    'bad-field',
    'run start 2^35 - 1',
    craft({
      pageCount: 1,
      runs: Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x7f, 0x01),
      records: records([[0, 0, 0]]),
    }),
  );
  add(
    'varint-too-long',
    'bad-field',
    'six-byte varint',
    craft({
      pageCount: 1,
      runs: Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01),
      records: records([[0, 0, 0]]),
    }),
  );
  add(
    'varint-cut',
    'bad-field',
    'run table ends inside a varint',
    craft({ pageCount: 1, runs: Uint8Array.of(0x05, 0x81), records: records([[0, 0, 0]]) }),
  );
  add(
    'page-encoding-3',
    'bad-field',
    'page encoding 3',
    craft({ pageCount: 1, runs: runTable([[0, 1]]), records: records([[0, 3, 0]]) }),
  );
  add(
    'device-state-with-pages',
    'count-mismatch',
    'device-state object that lists a page',
    craft({ kind: 3, pageCount: 1, runs: runTable([[0, 1]]), records: records([[0, 0, 0]]) }),
  );
  add(
    'ram-with-blob',
    'count-mismatch',
    'checkpoint-ram object with a blob',
    craft({ blob: Buffer.from('state') }),
  );
  add(
    'runs-fewer-pages',
    'count-mismatch',
    'runs list 1 page, header declares 2',
    craft({
      pageCount: 2,
      runs: runTable([[0, 1]]),
      records: records([
        [0, 0, 0],
        [0, 0, 0],
      ]),
    }),
  );
  add(
    'runs-more-pages',
    'count-mismatch',
    'runs list 3 pages, header declares 1',
    craft({ pageCount: 1, runs: runTable([[0, 3]]), records: records([[0, 0, 0]]) }),
  );
  add(
    'payload-sum',
    'count-mismatch',
    'records store 0 bytes, header declares a 4096-byte payload',
    craft({
      pageCount: 1,
      runs: runTable([[0, 1]]),
      records: records([[0, 0, 0]]),
      payload: new Uint8Array(4096),
    }),
  );
  add(
    'unsorted-runs',
    'unsorted-pages',
    'run at 5 after run at 10',
    craft({
      pageCount: 2,
      runs: runTable([
        [10, 1],
        [5, 1],
      ]),
      records: records([
        [0, 0, 0],
        [0, 0, 0],
      ]),
    }),
  );
  add(
    'duplicate-page',
    'duplicate-page',
    'run at 6 inside run 5–7',
    craft({
      pageCount: 4,
      runs: runTable([
        [5, 3],
        [6, 1],
      ]),
      records: records([
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ]),
    }),
  );
  add(
    'page-out-of-range',
    'page-out-of-range',
    'page 16 in a 16-page guest',
    craft({ pageCount: 1, runs: runTable([[16, 1]]), records: records([[0, 0, 0]]) }),
    { ...LIMITS, pageCount: 16 },
  );
  add(
    'page-past-u32',
    'page-out-of-range',
    'run 2^32 - 1 + 1 pages passes the u32 range',
    craft({
      pageCount: 2,
      runs: runTable([[0xffff_ffff, 2]]),
      records: records([
        [0, 0, 0],
        [0, 0, 0],
      ]),
    }),
    { maxObjectBytes: 1 << 20 },
  );
  add(
    'raw-page-4095',
    'bad-page-size',
    'raw page stores 4095 bytes',
    craft({
      pageCount: 1,
      runs: runTable([[0, 1]]),
      records: records([[0, 1, 4095]]),
      payload: new Uint8Array(4095),
    }),
  );
  add(
    'zero-page-with-bytes',
    'bad-page-size',
    'zero page stores 1 byte',
    craft({
      pageCount: 1,
      runs: runTable([[0, 1]]),
      records: records([[0, 0, 1]]),
      payload: new Uint8Array(1),
    }),
  );
  add(
    'deflate-4096',
    'bad-page-size',
    'deflated page stores 4096 bytes',
    craft({
      pageCount: 1,
      runs: runTable([[0, 1]]),
      records: records([[0, 2, 4096]]),
      payload: new Uint8Array(4096),
    }),
  );
  add(
    'inflates-short',
    'bad-page-size',
    'deflate stream inflates to 100 bytes',
    deflatedPage(storedBlock(100)),
  );
  add(
    'inflates-long',
    'bad-page-size',
    'deflate stream inflates to 5000 bytes',
    deflatedPage(deflateRawSync(Buffer.alloc(5000))),
  );
  add(
    'deflate-garbage',
    'bad-compression',
    'stored bytes are not deflate',
    deflatedPage(Uint8Array.of(0xff, 0xff, 0xff)),
  );
  add(
    'deflate-cut',
    'bad-compression',
    'deflate stream missing its end',
    deflatedPage(deflateRawSync(makePage('text', 3) as Uint8Array).subarray(0, 20)),
  );
  add(
    'deflate-trailing',
    'bad-compression',
    'bytes after the end of the deflate stream',
    deflatedPage(Buffer.concat([deflateRawSync(new Uint8Array(4096)), Buffer.of(1, 2, 3)])),
  );
  return cases;
}

/** A valid message of each shape, to break one field at a time. */
const DELTA_MSG = {
  v: 1,
  type: 'delta',
  vmId: 'vm-1',
  epoch: 3,
  seq: 12,
  kind: 'background-ram',
  round: 2,
  claim: { key: 'vm-1/3/12-background-ram', size: 4200, sha256: 'ab'.repeat(32) },
};
const REPLY_MSG = {
  v: 1,
  type: 'checkpoint-reply',
  vmId: 'vm-1',
  epoch: 3,
  seq: 4,
  appliedRounds: [1, 2, 5],
};

/** Every message case. */
export function messageCases(): MessageCase[] {
  const cases: MessageCase[] = [];
  const add = (name: string, about: string, value: unknown) =>
    cases.push({
      name,
      about,
      body: typeof value === 'string' ? value : JSON.stringify(value),
      expect: 'invalid-message',
    });
  const claim = (patch: object) => ({ ...DELTA_MSG, claim: { ...DELTA_MSG.claim, ...patch } });

  add('not-json', 'body is not JSON', '{"v":1,');
  add('json-array', 'body is a JSON array', [DELTA_MSG]);
  add('json-null', 'body is null', 'null');
  add('unknown-type', 'type "checkpoint-abort" does not exist', { ...DELTA_MSG, type: 'checkpoint-abort' });
  add('missing-type', 'no type field', { v: 1, vmId: 'vm-1', epoch: 0, seq: 0 });
  add('missing-field', 'delta without claim', { ...DELTA_MSG, claim: undefined });
  add('extra-field', 'unknown field "note"', { ...DELTA_MSG, note: 'hi' });
  add('extra-claim-field', 'unknown field in claim', claim({ etag: 'x' }));
  add(
    'proto-key',
    'a "__proto__" key',
    '{"v":1,"type":"heartbeat","vmId":"vm-1","epoch":0,"seq":0,"__proto__":{"x":1}}',
  );
  add('version-2', 'envelope version 2', { ...DELTA_MSG, v: 2 });
  add('vmid-upper', 'vmId with upper case', { ...DELTA_MSG, vmId: 'VM-1' });
  add('vmid-leading-dash', 'vmId starting with "-"', { ...DELTA_MSG, vmId: '-vm' });
  add('vmid-64', 'vmId of 64 characters', { ...DELTA_MSG, vmId: 'a'.repeat(64) });
  add('epoch-negative', 'epoch -1', { ...DELTA_MSG, epoch: -1 });
  add('epoch-over-u32', 'epoch 2^32', { ...DELTA_MSG, epoch: 2 ** 32 });
  add('epoch-string', 'epoch "3"', { ...DELTA_MSG, epoch: '3' });
  add('seq-fraction', 'seq 1.5', { ...DELTA_MSG, seq: 1.5 });
  add(
    'seq-unsafe',
    'seq 2^53 + 1',
    '{"v":1,"type":"heartbeat","vmId":"vm-1","epoch":0,"seq":9007199254740993}',
  );
  add('seq-huge', 'seq 1e400 (Infinity)', '{"v":1,"type":"heartbeat","vmId":"vm-1","epoch":0,"seq":1e400}');
  add('trigger-unknown', 'trigger "cron"', {
    v: 1,
    type: 'checkpoint-request',
    vmId: 'vm-1',
    epoch: 1,
    seq: 0,
    trigger: 'cron',
  });
  add('rounds-unsorted', 'appliedRounds not ascending', { ...REPLY_MSG, appliedRounds: [2, 1] });
  add('rounds-duplicate', 'appliedRounds with a duplicate', { ...REPLY_MSG, appliedRounds: [1, 1] });
  add('rounds-zero', 'appliedRounds contains 0', { ...REPLY_MSG, appliedRounds: [0, 1] });
  add('rounds-too-many', '10 001 applied rounds', {
    ...REPLY_MSG,
    appliedRounds: Array.from({ length: 10_001 }, (_, i) => i + 1),
  });
  add('size-over-1gib', 'vmstate-size of 1 GiB + 1', {
    v: 1,
    type: 'vmstate-size',
    vmId: 'vm-1',
    epoch: 1,
    seq: 0,
    size: 2 ** 30 + 1,
  });
  add('claim-size-negative', 'claim size -1', claim({ size: -1 }));
  add('sha-upper', 'sha256 in upper case', claim({ sha256: 'AB'.repeat(32) }));
  add('sha-short', 'sha256 of 63 digits', claim({ sha256: 'a'.repeat(63) }));
  add('key-dotdot', 'key with ".."', claim({ key: 'vm-1/../secret' }));
  add('key-leading-slash', 'key starting with "/"', claim({ key: '/vm-1/3/12' }));
  add('key-too-long', 'key of 513 characters', claim({ key: 'k'.repeat(513) }));
  add('key-space', 'key with a space', claim({ key: 'vm 1/3/12' }));
  add('key-empty', 'empty key', claim({ key: '' }));
  add('background-round-0', 'background-ram delta with round 0', { ...DELTA_MSG, round: 0 });
  add('checkpoint-round-1', 'checkpoint-ram delta with round 1', {
    ...DELTA_MSG,
    kind: 'checkpoint-ram',
    round: 1,
  });
  add('delta-kind-unknown', 'delta kind "disk"', { ...DELTA_MSG, kind: 'disk' });
  add('migrate-round-0', 'migrate-ram-background round 0', {
    v: 1,
    type: 'migrate-ram-background',
    vmId: 'vm-1',
    epoch: 1,
    seq: 0,
    round: 0,
  });
  add('apply-negative', 'vmstate-loaded with applyMemMs -1', {
    v: 1,
    type: 'vmstate-loaded',
    vmId: 'vm-1',
    epoch: 1,
    seq: 0,
    applyMemMs: -1,
    applyDevMs: 0,
  });
  add('apply-string', 'vmstate-loaded with applyDevMs "2"', {
    v: 1,
    type: 'vmstate-loaded',
    vmId: 'vm-1',
    epoch: 1,
    seq: 0,
    applyMemMs: 1,
    applyDevMs: '2',
  });
  cases.push({
    name: 'too-large',
    about: 'body of 256 KiB + 1 byte (rejected before JSON parsing)',
    body: `"${'x'.repeat(256 * 1024 - 1)}"`,
    expect: 'too-large',
  });
  return cases;
}
