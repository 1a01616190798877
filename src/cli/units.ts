/** Parsing of sizes, rates and durations with units, as users type them on the command line. */

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const BIT_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12 };

const TIME_UNITS: Record<string, number> = { us: 1e-3, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** A value that could not be parsed; the message says what was expected. */
export class UnitError extends Error {
  override readonly name = 'UnitError';
}

function split(text: string, what: string, example: string): [number, string] {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)\s*([a-zA-Z/]*)\s*$/.exec(text);
  if (!m) throw new UnitError(`invalid ${what} "${text}": expected a number with a unit, e.g. ${example}`);
  return [Number(m[1]), (m[2] ?? '').toLowerCase()];
}

/** Parses a size such as `4096`, `64MiB`, `1GiB`, `1.5GB` into bytes. */
export function parseBytes(text: string): number {
  const [n, unit] = split(text, 'size', '64MiB');
  const mult = unit === '' ? 1 : SIZE_UNITS[unit];
  if (mult === undefined)
    throw new UnitError(`invalid size unit "${unit}" in "${text}": use B, KiB, MiB, GiB, KB, MB, GB`);
  return Math.round(n * mult);
}

/** Parses a bandwidth such as `10Gbit`, `1Gbit/s`, `100MiB/s`, `125MB/s` into bytes per second. */
export function parseBandwidth(text: string): number {
  const [n, raw] = split(text, 'bandwidth', '10Gbit');
  const unit = raw.endsWith('/s') ? raw.slice(0, -2) : raw.endsWith('ps') ? raw.slice(0, -2) : raw;
  const bits = BIT_UNITS[unit];
  if (bits !== undefined) return (n * bits) / 8;
  const bytes = SIZE_UNITS[unit];
  if (bytes !== undefined && unit !== '') return n * bytes;
  throw new UnitError(
    `invalid bandwidth unit "${raw}" in "${text}": use bit, Mbit, Gbit (per second) or MiB/s, GB/s`,
  );
}

/** Parses a duration such as `250ms`, `20s`, `5m`, `1h` (a bare number is ms) into ms. */
export function parseDuration(text: string): number {
  const [n, unit] = split(text, 'duration', '20s');
  const mult = unit === '' ? 1 : TIME_UNITS[unit];
  if (mult === undefined)
    throw new UnitError(`invalid duration unit "${unit}" in "${text}": use ms, s, m, h`);
  return n * mult;
}

/** Formats bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return (bytes / 1024 ** 2).toFixed(1);
}

/** Formats a bandwidth in bytes/s for humans (Gbit/s or Mbit/s). */
export function formatBandwidth(bytesPerSec: number): string {
  const bits = bytesPerSec * 8;
  return bits >= 1e9 ? `${+(bits / 1e9).toFixed(2)} Gbit/s` : `${+(bits / 1e6).toFixed(2)} Mbit/s`;
}
