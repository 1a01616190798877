/**
 * Benchmark of the page-delta codec, run by `bench/run.ts`. Builds a delta of mixed pages (64 MiB of guest
 * pages by default, 1 MiB with `--quick`), then measures encode and decode+verify throughput (best of 3) against
 * a plain `Buffer.copy` of the same page bytes. Throughput counts guest page bytes (pages × 4096), so formats
 * of different sizes compare.
 */

import { randomFillSync } from 'node:crypto';
import type { DeltaPage, PageDelta } from '../src/engine/protocol/delta.ts';
import { PAGE_SIZE } from '../src/engine/protocol/delta.ts';
import { decodeDelta, encodeDelta, encodeDeltaWithClaim, sha256Hex } from '../src/wire/delta-codec.ts';
import { seedKeySet } from '../src/wire/replication-key.ts';
import { openObject, sealObject } from '../src/wire/sealed-object.ts';
import { type BenchOptions, type BenchResult, bestOf } from './harness.ts';

const MIB = 2 ** 20;
const WORDS = ['colo', 'checkpoint', 'epoch', 'dirty', 'page', 'ram', 'vmstate', 'secondary', 'primary'];
const BASELINE = 'Buffer.copy of the page bytes';

/** Page i of the mix: 20% zero (null), 25% random, 25% text, 20% sparse binary, 10% half random. */
function page(i: number, flat: Buffer): Uint8Array | null {
  const slot = i % 20;
  const bytes = flat.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
  if (slot < 4) return null;
  if (slot < 9) randomFillSync(bytes);
  else if (slot < 14) {
    let text = '';
    for (let k = i; text.length < PAGE_SIZE; k = (k * 7 + 3) % 1000)
      text += `${WORDS[k % WORDS.length]} ${k} `;
    bytes.write(text.slice(0, PAGE_SIZE), 'latin1');
  } else if (slot < 18) {
    for (let k = 0; k < 32; k++) bytes.writeUInt32LE((i * 2654435761 + k) >>> 0, ((k * 97 + i) % 1024) * 4);
  } else randomFillSync(bytes, 0, PAGE_SIZE / 2);
  return bytes;
}

/**
 * Encode and decode throughput of one large mixed delta, MiB/s of guest pages, against `Buffer.copy`.
 * @param guestMiB - Guest memory in the delta, MiB (default 64; 1 with `quick`).
 */
export function wireBench(options: BenchOptions, guestMiB = options.quick ? 1 : 64): BenchResult {
  const pageCount = (guestMiB * MIB) / PAGE_SIZE;
  const flat = Buffer.alloc(pageCount * PAGE_SIZE);
  const pages: DeltaPage[] = [];
  for (let i = 0; i < pageCount; i++) pages.push({ index: i * 3, version: i + 1, data: page(i, flat) });
  const delta: PageDelta = {
    vmId: 'bench',
    epoch: 1,
    seq: 1,
    kind: 'checkpoint-ram',
    pages,
    blob: new Uint8Array(0),
  };
  const limits = {
    maxObjectBytes: 2 ** 30,
    pageCount: pageCount * 3,
    expectedKind: 'checkpoint-ram' as const,
  };
  const raw = encodeDeltaWithClaim(delta);
  const packed = encodeDeltaWithClaim(delta, { compress: true });
  const copyTarget = Buffer.allocUnsafe(flat.length);
  const keys = seedKeySet(1, 'bench');
  const ctx = { vmId: 'bench', epoch: 1, seq: 1, kind: 'checkpoint-ram' as const };
  const sealed = sealObject(keys.signing, ctx, raw.bytes);

  const copyMs = bestOf(3, () => flat.copy(copyTarget));
  const timed: [string, number][] = [
    // The encoder must write into fresh memory; first-touch page faults are part of its cost.
    ['Buffer.allocUnsafe + copy (fresh target)', bestOf(3, () => flat.copy(Buffer.allocUnsafe(flat.length)))],
    ['sha256Hex of the page bytes', bestOf(3, () => sha256Hex(flat))],
    ['encodeDeltaWithClaim (raw pages)', bestOf(3, () => encodeDeltaWithClaim(delta))],
    ['encodeDelta + sha256Hex (raw pages)', bestOf(3, () => sha256Hex(encodeDelta(delta)))],
    [
      'encodeDeltaWithClaim (compress: true)',
      bestOf(3, () => encodeDeltaWithClaim(delta, { compress: true })),
    ],
    [
      'decodeDelta + verify claim (raw pages)',
      bestOf(3, () => decodeDelta(raw.bytes, { ...limits, expectedSha256: raw.sha256 })),
    ],
    [
      'decodeDelta + verify claim (compressed)',
      bestOf(3, () => decodeDelta(packed.bytes, { ...limits, expectedSha256: packed.sha256 })),
    ],
    // Authenticity: what the delta store adds around the raw object on put and on get.
    ['sealObject (raw pages)', bestOf(3, () => sealObject(keys.signing, ctx, raw.bytes))],
    ['openObject (raw pages)', bestOf(3, () => openObject(keys, sealed, ctx))],
  ];
  const rate = (ms: number) => guestMiB / (ms / 1000);
  return {
    notes: [
      `wire: ${pageCount} guest pages (${guestMiB} MiB, 20% null), best of 3; objects ` +
        `${(raw.bytes.length / MIB).toFixed(1)} MiB with raw pages, ${(packed.bytes.length / MIB).toFixed(1)} MiB compressed`,
    ],
    rows: timed.map(([name, ms]) => ({
      group: 'wire',
      name: `${name}, ${guestMiB} MiB`,
      value: rate(ms),
      unit: 'MiB/s',
      baseline: BASELINE,
      baselineValue: rate(copyMs),
    })),
  };
}
