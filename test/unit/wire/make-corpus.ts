/**
 * Writes the malformed-input corpus: test/corpus/delta/*.bin, test/corpus/message/*.json and
 * test/corpus/manifest.json (file → expected outcome and decode limits).
 * Run: `npx tsx test/unit/wire/make-corpus.ts`. Files are replaced; stale ones are removed.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sha256Hex } from '../../../src/wire/delta-codec.ts';
import { deltaCases, messageCases } from './corpus-cases.ts';

/** Corpus root directory. */
export const CORPUS_DIR = fileURLToPath(new URL('../../corpus/', import.meta.url));

/** Manifest entry for one corpus file. */
export interface ManifestEntry {
  /** Path relative to the corpus root. */
  file: string;
  /** Expected WireError code, or `valid`. */
  expect: string;
  /** What the case breaks. */
  about: string;
  /** Decode limits (delta cases only). */
  limits?: object;
  /** Golden delta name (valid delta cases only). */
  golden?: string;
  /** SHA-256 of the file. */
  sha256: string;
}

/** Writes every case and the manifest; returns the manifest. */
export function writeCorpus(dir = CORPUS_DIR): { delta: ManifestEntry[]; message: ManifestEntry[] } {
  const manifest = { delta: [] as ManifestEntry[], message: [] as ManifestEntry[] };
  for (const sub of ['delta', 'message']) {
    mkdirSync(join(dir, sub), { recursive: true });
    for (const old of readdirSync(join(dir, sub))) rmSync(join(dir, sub, old));
  }
  for (const c of deltaCases()) {
    const file = `delta/${c.name}.bin`;
    writeFileSync(join(dir, file), c.bytes);
    const entry: ManifestEntry = {
      file,
      expect: c.expect,
      about: c.about,
      limits: c.limits,
      sha256: sha256Hex(c.bytes),
    };
    if (c.golden) entry.golden = c.golden;
    manifest.delta.push(entry);
  }
  for (const c of messageCases()) {
    const file = `message/${c.name}.json`;
    const bytes = Buffer.from(c.body, 'utf8');
    writeFileSync(join(dir, file), bytes);
    manifest.message.push({ file, expect: c.expect, about: c.about, sha256: sha256Hex(bytes) });
  }
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const m = writeCorpus();
  console.log(`wrote ${m.delta.length} delta and ${m.message.length} message cases to ${CORPUS_DIR}`);
}
