/**
 * How the embedded runtime scales, measured in processes of their own (experiments/scale-child.ts) so each
 * figure's memory is its own: guests of 1 GiB to 1 TiB (process bytes per guest page; wall time per
 * simulated hour) and fleets of 1 to 10 000 VMs (simulated s per wall s; process memory). Each figure is
 * printed next to its baseline from the same run (the 1 GiB guest, the fleet of one). Writes
 * experiments/results/scale.json, which docs/experiments.md reads.
 *
 *   npx tsx experiments/scale.ts                 every size
 *   npx tsx experiments/scale.ts --reduced       guests to 64 GiB, fleets to 1 000 VMs
 *   npx tsx experiments/scale.ts --guests        guests only; the fleet rows on disk are kept
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fleetTable, guestTable, readScale, SCALE_FILE, type ScaleRow } from './scale-results.ts';

const GiB = 1024 ** 3;
const { values } = parseArgs({
  options: { reduced: { type: 'boolean', default: false }, guests: { type: 'boolean', default: false } },
});
const guests = [1, 16, 64, 256, 1024].map((g) => g * GiB).filter((g) => !values.reduced || g <= 64 * GiB);
const fleets = [1, 10, 100, 1000, 10_000].filter((n) => !values.reduced || n <= 1000);
/** Simulated time of each measurement, s. */
const GUEST_SECONDS = 60;
const FLEET_SECONDS = 30;

function measure(kind: 'guest' | 'fleet', size: number, seconds: number): ScaleRow {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', 'experiments/scale-child.ts', kind, String(size), String(seconds)],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  const row = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as ScaleRow;
  process.stderr.write(`[scale] ${kind} ${size}: ${(row.wallMs / 1000).toFixed(1)} s wall\n`);
  return row;
}

const rows: ScaleRow[] = [];
for (const g of guests) rows.push(measure('guest', g, GUEST_SECONDS));
if (values.guests) rows.push(...readScale().filter((r) => r.kind === 'fleet'));
else for (const n of fleets) rows.push(measure('fleet', n, FLEET_SECONDS));
mkdirSync('experiments/results', { recursive: true });
writeFileSync(SCALE_FILE, `${JSON.stringify({ rows }, null, 1)}\n`);
console.log([...guestTable(rows), '', ...fleetTable(rows), ''].join('\n'));
console.log(`${SCALE_FILE} written (${rows.length} measurements)`);
