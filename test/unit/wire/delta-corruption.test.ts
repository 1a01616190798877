/**
 * Every single-bit flip and every truncation of small valid objects is rejected — with and without the
 * claim check (without it, the SHA-256 trailer and the framing checks must catch everything).
 */
import { describe, expect, it } from 'vitest';
import type { PageDelta } from '../../../src/engine/protocol/delta.ts';
import { decodeDelta, encodeDelta, sha256Hex, WireError } from '../../../src/wire/delta-codec.ts';
import { makePage } from './page-content.ts';

const samples: [string, PageDelta, boolean][] = [
  [
    'null pages',
    {
      vmId: 'vm-a',
      epoch: 3,
      seq: 99,
      kind: 'checkpoint-ram',
      pages: [0, 1, 2, 40, 41, 1000, 70_000].map((index) => ({ index, version: index + 1, data: null })),
      blob: new Uint8Array(0),
    },
    false,
  ],
  [
    'device state',
    {
      vmId: 'vm-b',
      epoch: 0,
      seq: 0,
      kind: 'device-state',
      pages: [],
      blob: makePage('half', 5)?.subarray(0, 250) as Uint8Array,
    },
    false,
  ],
  [
    'deflated page',
    {
      vmId: 'vm-c',
      epoch: 9,
      seq: 2 ** 40,
      kind: 'background-ram',
      pages: [
        { index: 7, version: 2, data: makePage('sparse', 3) },
        { index: 8, version: 4, data: null },
      ],
      blob: new Uint8Array(0),
    },
    true,
  ],
];

/** Decodes and returns the WireError code; fails the test on success or on any other exception. */
function rejection(bytes: Uint8Array, expectedSha256?: string): string {
  try {
    decodeDelta(bytes, { maxObjectBytes: 1 << 20, pageCount: 1 << 20, expectedSha256 });
  } catch (error) {
    if (error instanceof WireError) return error.code;
    throw error;
  }
  throw new Error(`accepted a corrupted object: ${Buffer.from(bytes).toString('hex')}`);
}

describe.each(samples)('corruption of a small object (%s)', (_name, delta, compress) => {
  const valid = encodeDelta(delta, { compress });
  const sha = sha256Hex(valid);

  it('is a few hundred bytes at most', () => {
    expect(valid.length).toBeLessThan(400);
    decodeDelta(valid, { maxObjectBytes: valid.length, expectedSha256: sha });
  });

  it('rejects every single-bit flip', () => {
    const codes = new Map<string, number>();
    const copy = Buffer.from(valid);
    for (let bit = 0; bit < valid.length * 8; bit++) {
      const byte = bit >> 3;
      const mask = 1 << (bit & 7);
      copy[byte] = (copy[byte] as number) ^ mask;
      const code = rejection(copy);
      codes.set(code, (codes.get(code) ?? 0) + 1);
      expect(rejection(copy, sha)).toBe('checksum-mismatch');
      copy[byte] = (copy[byte] as number) ^ mask;
    }
    expect([...codes.values()].reduce((a, b) => a + b)).toBe(valid.length * 8);
  });

  it('rejects every truncation and any extra byte', () => {
    for (let length = 0; length < valid.length; length++) {
      expect(['truncated', 'bad-magic']).toContain(rejection(valid.subarray(0, length)));
    }
    expect(rejection(Buffer.concat([valid, Buffer.of(0)]))).toBe('trailing-bytes');
  });
});
