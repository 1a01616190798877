/** Runs every checked-in corpus file (test/corpus) and checks the outcome its manifest names. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DecodeLimits } from '../../../src/wire/delta-codec.ts';
import {
  decodeDelta,
  encodeDelta,
  sha256Hex,
  WIRE_ERROR_CODES,
  WireError,
} from '../../../src/wire/delta-codec.ts';
import { parseMessage } from '../../../src/wire/message-schema.ts';
import { goldenDeltas } from './corpus-cases.ts';
import { expectSameDelta } from './delta-arbitraries.ts';
import { CORPUS_DIR, type ManifestEntry } from './make-corpus.ts';

const manifest = JSON.parse(readFileSync(join(CORPUS_DIR, 'manifest.json'), 'utf8')) as {
  delta: ManifestEntry[];
  message: ManifestEntry[];
};

/** The WireError code `run` throws, or `valid`. */
function outcome(run: () => unknown): string {
  try {
    run();
    return 'valid';
  } catch (error) {
    if (error instanceof WireError) return error.code;
    throw error;
  }
}

describe('corpus', () => {
  it('lists every file, and every file is unchanged since generation', () => {
    for (const sub of ['delta', 'message'] as const) {
      const listed = manifest[sub].map((e) => e.file).sort();
      const present = readdirSync(join(CORPUS_DIR, sub))
        .map((f) => `${sub}/${f}`)
        .sort();
      expect(present).toEqual(listed);
      for (const e of manifest[sub])
        expect(sha256Hex(readFileSync(join(CORPUS_DIR, e.file))), e.file).toBe(e.sha256);
    }
  });

  it('covers every error code', () => {
    const seen = new Set([...manifest.delta, ...manifest.message].map((e) => e.expect));
    expect([...WIRE_ERROR_CODES].filter((code) => !seen.has(code))).toEqual([]);
  });

  it.each(manifest.delta.map((e) => [e.file, e] as const))('%s', (_file, entry) => {
    const bytes = readFileSync(join(CORPUS_DIR, entry.file));
    expect(
      outcome(() => decodeDelta(bytes, entry.limits as DecodeLimits)),
      entry.about,
    ).toBe(entry.expect);
    if (entry.golden) {
      const golden = goldenDeltas()[entry.golden];
      if (!golden) throw new Error(`no golden delta ${entry.golden}`);
      expectSameDelta(decodeDelta(bytes, { maxObjectBytes: bytes.length }), golden.delta);
      // Uncompressed encoding is pinned byte for byte: a change here is a format change.
      if (!golden.compress) expect(Buffer.compare(encodeDelta(golden.delta), bytes)).toBe(0);
    }
  });

  it.each(manifest.message.map((e) => [e.file, e] as const))('%s', (_file, entry) => {
    const body = readFileSync(join(CORPUS_DIR, entry.file), 'utf8');
    expect(
      outcome(() => parseMessage(body)),
      entry.about,
    ).toBe(entry.expect);
  });
});
