/**
 * Every inflate in the container decoder is capped: a blob declaring more than the ceiling is refused
 * before zlib runs, a stream that inflates past its declared size is stopped at that size, and the
 * ceiling counts all blobs together.
 */
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import {
  decodeContainer,
  encodeContainer,
  MAX_CONTAINER_DECODED_BYTES,
  StateDocumentError,
} from '../../../src/runtime/cloud/index.ts';

vi.mock('node:zlib', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:zlib')>();
  return { ...real, inflateRawSync: vi.fn(real.inflateRawSync) };
});
const inflate = vi.mocked(zlib.inflateRawSync);

/** Raw deflate of `total` zero bytes, made a MiB at a time (never holding the zeros whole). */
async function zeroBomb(total: number): Promise<Buffer> {
  const d = zlib.createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  d.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => d.on('end', resolve));
  const mib = Buffer.alloc(1024 * 1024);
  for (let left = total; left > 0; left -= mib.byteLength)
    d.write(mib.subarray(0, Math.min(left, mib.byteLength)));
  d.end();
  await done;
  return Buffer.concat(out);
}

/** A well-framed `modelled-delta` container (valid trailer) whose u8 blobs are given as stored. */
function container(blobs: { deflated: boolean; raw: number; stored: Uint8Array }[]): Uint8Array {
  const header = Buffer.from(
    JSON.stringify({
      blobs: blobs.map((b) => [b.deflated ? 1 : 0, 1, b.raw, b.stored.byteLength]),
      body: { blobs: blobs.map((_, i) => ({ $u8: i })) },
    }),
  );
  const prefix = Buffer.alloc(12);
  prefix.write('CLSD', 0, 'latin1');
  prefix[4] = 1;
  prefix[5] = 5; // modelled-delta
  prefix.writeUInt32LE(header.byteLength, 8);
  const content = Buffer.concat([prefix, header, ...blobs.map((b) => b.stored)]);
  return Buffer.concat([content, createHash('sha256').update(content).digest()]);
}

beforeEach(() => {
  inflate.mockClear();
});

describe('container inflate caps', () => {
  test('a blob declaring more than the ceiling is refused before inflating', async () => {
    const declared = MAX_CONTAINER_DECODED_BYTES * 2;
    const bomb = await zeroBomb(declared);
    expect(bomb.byteLength).toBeLessThan(declared / 500); // a real bomb: ~1000:1
    const bytes = container([{ deflated: true, raw: declared, stored: bomb }]);
    expect(() => decodeContainer(bytes, 'modelled-delta', 'bomb')).toThrow(
      new StateDocumentError(
        `bomb: blob 0 declares ${declared} bytes; after 0 decoded that passes the ${MAX_CONTAINER_DECODED_BYTES}-byte ceiling`,
      ),
    );
    expect(inflate).not.toHaveBeenCalled();
  });

  test('a blob that inflates past its declared size is stopped at that size', async () => {
    const bomb = await zeroBomb(32 * 1024 * 1024);
    const bytes = container([{ deflated: true, raw: 4096, stored: bomb }]);
    expect(() => decodeContainer(bytes, 'modelled-delta', 'liar')).toThrow(/liar: blob 0 does not inflate/);
    expect(inflate).toHaveBeenCalledTimes(1);
    expect(inflate.mock.calls[0]?.[1]).toMatchObject({ maxOutputLength: 4096 });
  });

  test('the ceiling counts every blob: the one that would pass it is refused uninflated', async () => {
    const part = await zeroBomb(600);
    const bytes = container([
      { deflated: true, raw: 600, stored: part },
      { deflated: true, raw: 600, stored: part },
    ]);
    expect(decodeContainer(bytes, 'modelled-delta', 'pair', 1200)).toEqual({
      blobs: [new Uint8Array(600), new Uint8Array(600)],
    });
    inflate.mockClear();
    expect(() => decodeContainer(bytes, 'modelled-delta', 'pair', 1000)).toThrow(
      /blob 1 declares 600 bytes; after 600 decoded that passes the 1000-byte ceiling/,
    );
    expect(inflate).toHaveBeenCalledTimes(1);
  });

  test('a stored (not deflated) blob counts towards the ceiling too', () => {
    const bytes = container([{ deflated: false, raw: 10, stored: new Uint8Array(10) }]);
    expect(() => decodeContainer(bytes, 'modelled-delta', 'raw', 9)).toThrow(/declares 10 bytes/);
  });

  test('an ordinary document still round-trips', () => {
    const value = { pages: Uint32Array.from({ length: 5000 }, (_, i) => i % 7), note: 'ok' };
    const bytes = encodeContainer('modelled-delta', value);
    expect(decodeContainer(bytes, 'modelled-delta', 'doc')).toEqual(value);
    expect(inflate).toHaveBeenCalled(); // the page list was deflated, so the capped path ran
  });
});
