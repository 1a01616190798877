/**
 * Benchmark of the page-delta codec (not a test): `npx tsx bench/wire.ts [MiB]`.
 * Builds a delta of mixed pages (default 64 MiB of guest pages), then prints encode and decode+verify
 * throughput (best of 3) next to a plain Buffer.copy and a bare SHA-256 of the same bytes, measured in the
 * same run. Throughput counts guest page bytes (pages × 4096), so formats of different sizes compare.
 */
import { randomFillSync } from 'node:crypto';
import type { DeltaPage, PageDelta } from '../src/engine/protocol/delta.ts';
import { PAGE_SIZE } from '../src/engine/protocol/delta.ts';
import { decodeDelta, encodeDelta, encodeDeltaWithClaim, sha256Hex } from '../src/wire/delta-codec.ts';

const MIB = 2 ** 20;
const guestMiB = Number(process.argv[2] ?? 64);
const pageCount = (guestMiB * MIB) / PAGE_SIZE;
const WORDS = ['colo', 'checkpoint', 'epoch', 'dirty', 'page', 'ram', 'vmstate', 'secondary', 'primary'];

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

/** Best wall time of 3 runs of `run`, ms. */
function best(run: () => unknown): number {
  let min = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    run();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

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
const limits = { maxObjectBytes: 2 ** 30, pageCount: pageCount * 3, expectedKind: 'checkpoint-ram' as const };

const raw = encodeDeltaWithClaim(delta);
const packed = encodeDeltaWithClaim(delta, { compress: true });
const copyTarget = Buffer.allocUnsafe(flat.length);

const rows: [string, number][] = [
  ['Buffer.copy of the page bytes (baseline)', best(() => flat.copy(copyTarget))],
  // The encoder must write into fresh memory; first-touch page faults are part of its cost.
  ['Buffer.allocUnsafe + copy (fresh target)', best(() => flat.copy(Buffer.allocUnsafe(flat.length)))],
  ['sha256Hex of the page bytes', best(() => sha256Hex(flat))],
  ['encodeDeltaWithClaim (raw pages)', best(() => encodeDeltaWithClaim(delta))],
  ['encodeDelta + sha256Hex (raw pages)', best(() => sha256Hex(encodeDelta(delta)))],
  ['encodeDeltaWithClaim (compress: true)', best(() => encodeDeltaWithClaim(delta, { compress: true }))],
  [
    'decodeDelta + verify claim (raw pages)',
    best(() => decodeDelta(raw.bytes, { ...limits, expectedSha256: raw.sha256 })),
  ],
  [
    'decodeDelta + verify claim (compressed)',
    best(() => decodeDelta(packed.bytes, { ...limits, expectedSha256: packed.sha256 })),
  ],
];

const copyMs = rows[0]?.[1] ?? 1;
console.log(`guest pages: ${pageCount} (${guestMiB} MiB, 20% null); node ${process.version}`);
console.log(
  `object size: raw pages ${(raw.bytes.length / MIB).toFixed(1)} MiB, compressed ${(packed.bytes.length / MIB).toFixed(1)} MiB`,
);
console.log(`${'operation'.padEnd(44)}${'ms'.padStart(9)}${'MiB/s'.padStart(9)}${'× copy'.padStart(9)}`);
for (const [name, ms] of rows) {
  const mibs = guestMiB / (ms / 1000);
  console.log(
    `${name.padEnd(44)}${ms.toFixed(1).padStart(9)}${mibs.toFixed(0).padStart(9)}${(copyMs / ms).toFixed(3).padStart(9)}`,
  );
}
