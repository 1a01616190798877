/**
 * Sizes, rates and durations with units, as people type them — the one place that decides what a unit
 * means (flags, scenario files and `--faults` all come here).
 *
 * - **Bits or bytes is decided by the case of b**: `B` is a byte, `b` (and `bit`, `bits`) a bit. The
 *   prefix letter's case does not matter (`k`/`K`, `m`/`M`: never milli).
 * - **Sizes** are bytes: `4KiB`, `64MiB`, `1GiB` (binary, 2^10 steps) or `1kB`, `1MB`, `1GB` (decimal).
 *   A size in bits (`1Mb`) or without `B` (`1G`) is refused with a hint.
 * - **Rates** (link bandwidth): bits per second as `10Gbit`, `10Gbit/s`, `10Gb/s`, `10Gbps`, `10Gb`; bytes
 *   per second as `100MiB/s`, `125MB/s`, `125MBps`. A rate without b/B (`10G`) or in bytes without a
 *   per-second (`100MiB`) is refused with a hint. `bps` means bits (not tc's bytes).
 * - **Durations**: `us` (`µs`), `ms`, `s`, `m`/`min`, `h`, combinable with each unit once, larger first
 *   (`1m30s`; `5s5s` and `30s1m` are refused); lower-case only.
 * - **A bare number has no unit and is refused** (`--duration 100`: "did you mean 100s or 100ms?"), except
 *   `0`, which is 0 in every unit. Scenario files may give JSON numbers: bytes, bytes/s and ms.
 */

/** A value that could not be parsed; the message names the value and says what was expected. */
export class UnitError extends Error {
  override readonly name = 'UnitError';
}

/** The quantities the CLI parses. */
export type Quantity = 'size' | 'rate' | 'duration';

/** Decimal and binary multipliers by lower-cased prefix letter. */
const PREFIX: Record<string, { dec: number; bin: number }> = {
  '': { dec: 1, bin: 1 },
  k: { dec: 1e3, bin: 2 ** 10 },
  m: { dec: 1e6, bin: 2 ** 20 },
  g: { dec: 1e9, bin: 2 ** 30 },
  t: { dec: 1e12, bin: 2 ** 40 },
  p: { dec: 1e15, bin: 2 ** 50 },
};

/** Duration units, ms each. */
const TIME_UNITS: Record<string, number> = {
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};

/** One-line summaries of the unit rules (for `--help` and the README). */
export const UNIT_HELP: Record<Quantity, string> = {
  size: 'bytes: B, KiB, MiB, GiB, TiB (binary) or kB, MB, GB, TB (decimal); b is a bit, so 1Mb is refused',
  rate: 'bits/s: bit, kbit, Mbit, Gbit (also Gbit/s, Gb/s, Gbps, Gb); bytes/s: MB/s, MiB/s, GBps (B = byte)',
  duration:
    'us, ms, s, m (or min), h, lower-case, combined larger first (1m30s); a bare number other than 0 is refused',
};

const NUMBER = '(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?';
const VALUE = new RegExp(`^(${NUMBER})\\s*(.*)$`);

/** Splits `text` into its number and unit (unit trimmed); refuses signs, NaN, Infinity and junk. */
function split(text: string, what: Quantity, example: string): [number, string] {
  const t = text.trim();
  if (t.startsWith('-')) throw new UnitError(`"${text}" is negative: a ${what} must be 0 or more`);
  const m = VALUE.exec(t.startsWith('+') ? t.slice(1) : t);
  if (!m) throw new UnitError(`"${text}" is not a ${what}: expected a number with a unit, e.g. ${example}`);
  const n = Number(m[1]);
  if (!Number.isFinite(n)) throw new UnitError(`"${text}" is too large`);
  return [n, (m[2] ?? '').trim()];
}

function bare(text: string, n: number, hint: string): never {
  throw new UnitError(`"${text.trim()}" has no unit: ${hint.replaceAll('N', String(n))}`);
}

/** Reads `[prefix][i]` off a unit body; undefined when it is not one. */
function prefixOf(
  body: string,
): { mult: { dec: number; bin: number }; binary: boolean; shown: string } | undefined {
  const m = /^([kKmMgGtTpP]?)(i?)$/i.exec(body);
  if (!m) return undefined;
  const letter = (m[1] ?? '').toLowerCase();
  const mult = PREFIX[letter];
  if (!mult) return undefined;
  if (m[2] && letter === '') return undefined;
  const shown = letter === 'k' && !m[2] ? 'k' : letter.toUpperCase();
  return { mult, binary: m[2] !== '', shown };
}

/** A unit's body before its b/B/bit, and which it is. */
function bitsOrBytes(unit: string): { body: string; kind: 'bit' | 'byte' } | undefined {
  let m = /^(.*?)(bits?)$/i.exec(unit);
  if (m && m[2] === m[2]?.toLowerCase()) return { body: m[1] ?? '', kind: 'bit' };
  m = /^(.*?)(bytes?)$/i.exec(unit);
  if (m && m[2] === m[2]?.toLowerCase()) return { body: m[1] ?? '', kind: 'byte' };
  if (unit.endsWith('B')) return { body: unit.slice(0, -1), kind: 'byte' };
  if (unit.endsWith('b')) return { body: unit.slice(0, -1), kind: 'bit' };
  return undefined;
}

/**
 * Parses a size into bytes: `4096B`, `64MiB`, `1GiB`, `1.5GB`, `0`.
 *
 * @throws UnitError for a bare number (other than 0), a size in bits, a size without `B`, or junk.
 */
export function parseBytes(text: string): number {
  const [n, unit] = split(text, 'size', '64MiB');
  if (unit === '') {
    if (n === 0) return 0;
    bare(text, n, 'did you mean NB (bytes), NKiB or NMiB?');
  }
  const bb = bitsOrBytes(unit);
  const p = prefixOf(bb ? bb.body : unit);
  if (!p) {
    throw new UnitError(
      `"${text.trim()}": unknown size unit "${unit}": use B, KiB, MiB, GiB, TiB (binary) or kB, MB, GB, TB`,
    );
  }
  if (!bb) {
    if (p.binary) throw new UnitError(`"${text.trim()}" has no B: did you mean ${n}${p.shown}iB?`);
    throw new UnitError(
      `"${text.trim()}" is ambiguous: say ${n}${p.shown}iB (2^${Math.log2(p.mult.bin)} bytes) or ` +
        `${n}${p.shown}B (10^${Math.log10(p.mult.dec)} bytes)`,
    );
  }
  if (bb.kind === 'bit') {
    const alt = p.shown === '' ? `${n}B` : `${n}${p.shown}${p.binary ? 'iB' : 'B'} or ${n}${p.shown}iB`;
    throw new UnitError(
      `"${text.trim()}" is in bits (lower-case b); sizes are bytes (B): did you mean ${[...new Set(alt.split(' or '))].join(' or ')}?`,
    );
  }
  return n * (p.binary ? p.mult.bin : p.mult.dec);
}

/**
 * Parses a link rate into bytes per second: `10Gbit`, `1Gbit/s`, `10Gbps`, `10Gb`, `100MiB/s`, `125MBps`.
 *
 * @throws UnitError for a bare number (other than 0), a rate without b/B, bytes without a per-second, or junk.
 */
export function parseBandwidth(text: string): number {
  const [n, raw] = split(text, 'rate', '10Gbit');
  if (raw === '') {
    if (n === 0) return 0;
    bare(text, n, 'did you mean NMbit/s (bits) or NMB/s (bytes)?');
  }
  let unit = raw;
  let perSecond = false;
  for (const suffix of ['/s', '/sec', 'ps']) {
    if (unit.endsWith(suffix) && unit.length > suffix.length) {
      unit = unit.slice(0, -suffix.length);
      perSecond = true;
      break;
    }
  }
  const bb = bitsOrBytes(unit);
  const p = prefixOf(bb ? bb.body : unit);
  const t = text.trim();
  if (!p) {
    throw new UnitError(
      `"${t}": unknown rate unit "${raw}": use Mbit, Gbit (bits/s) or MB/s, MiB/s (bytes/s)`,
    );
  }
  const pre = `${p.shown}${p.binary ? 'i' : ''}`;
  if (!bb) throw new UnitError(`"${t}" is ambiguous: say ${n}${pre}bit/s (bits) or ${n}${pre}B/s (bytes)`);
  const mult = p.binary ? p.mult.bin : p.mult.dec;
  if (bb.kind === 'bit') return (n * mult) / 8;
  if (!perSecond) {
    throw new UnitError(
      `"${t}" is a size, not a rate: did you mean ${n}${pre}B/s (bytes) or ${n}${pre}bit/s?`,
    );
  }
  return n * mult;
}

/**
 * Parses a duration into ms: `250ms`, `20s`, `5m`, `1h`, `1m30s`, `0`.
 *
 * @throws UnitError for a bare number (other than 0), an unknown or upper-case unit, or junk.
 */
export function parseDuration(text: string): number {
  const t = text.trim();
  const [first, rest] = split(t, 'duration', '20s');
  if (rest === '') {
    if (first === 0) return 0;
    bare(text, first, 'did you mean Ns or Nms?');
  }
  let ms = 0;
  const part = new RegExp(`(${NUMBER})\\s*([a-zA-Zµ]+)\\s*`, 'y');
  let at = 0;
  // Each unit of a combined duration once, larger first (1h30m, not 30m1h or 5s5s: a typo, not a sum).
  let previous: { unit: string; mult: number } | undefined;
  while (at < t.length) {
    part.lastIndex = at;
    const m = part.exec(t);
    if (!m) throw new UnitError(`"${t}" is not a duration: expected e.g. 250ms, 20s, 5m, 1h or 1m30s`);
    const unit = m[2] ?? '';
    const mult = TIME_UNITS[unit];
    if (mult !== undefined && previous !== undefined && mult >= previous.mult) {
      throw new UnitError(
        `"${t}": a combined duration gives each unit once, larger first (e.g. 1h30m, 1m30s); "${unit}" follows "${previous.unit}"`,
      );
    }
    if (mult !== undefined) previous = { unit, mult };
    if (mult === undefined) {
      const lower = TIME_UNITS[unit.toLowerCase()] !== undefined ? unit.toLowerCase() : undefined;
      throw new UnitError(
        lower
          ? `"${t}": duration units are lower-case: did you mean ${m[1]}${lower}?`
          : `"${t}": unknown duration unit "${unit}": use us, ms, s, m (or min), h${unit === 'd' ? ' (1d = 24h)' : ''}`,
      );
    }
    ms += Number(m[1]) * mult;
    at = part.lastIndex;
  }
  if (!Number.isFinite(ms)) throw new UnitError(`"${t}" is too large`);
  return ms;
}

/** Parses one quantity (see {@link Quantity}). @throws UnitError */
export function parseQuantity(kind: Quantity, text: string): number {
  return kind === 'size' ? parseBytes(text) : kind === 'rate' ? parseBandwidth(text) : parseDuration(text);
}

/** Formats bytes as MiB with one decimal (no unit). */
export function mib(bytes: number): string {
  return (bytes / 1024 ** 2).toFixed(1);
}

/** Formats a byte count for humans: `256 KiB`, `64 MiB`, `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${+v.toPrecision(v >= 100 ? 4 : 3)} ${units[i]}`;
}

/** Formats a bandwidth in bytes/s for humans (Gbit/s or Mbit/s). */
export function formatBandwidth(bytesPerSec: number): string {
  const bits = bytesPerSec * 8;
  if (bits >= 1e9) return `${+(bits / 1e9).toFixed(2)} Gbit/s`;
  if (bits >= 1e6) return `${+(bits / 1e6).toFixed(2)} Mbit/s`;
  if (bits >= 1e3) return `${+(bits / 1e3).toFixed(2)} kbit/s`;
  // Below a kilobit (a link of 100bit): `0 kbit/s` read as no link at all.
  return `${+bits.toPrecision(3)} bit/s`;
}

/** Formats a duration in ms for humans: `0.25 ms`, `312 ms`, `5.4 s`, `9 min`, `2.5 h`. */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${+ms.toPrecision(2)} ms`;
  if (ms < 1000) return `${+ms.toPrecision(3)} ms`;
  if (ms < 120_000) return `${+(ms / 1000).toPrecision(3)} s`;
  if (ms < 7_200_000) return `${+(ms / 60_000).toPrecision(3)} min`;
  return `${+(ms / 3_600_000).toPrecision(3)} h`;
}

/** Formats a duration in ms the way a flag takes it back: `250ms`, `20s`, `2m`, `1h` (for defaults in help). */
export function durationFlag(ms: number): string {
  if (ms !== 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms !== 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Formats bytes the way a flag takes them back: `256KiB`, `100MiB`, `1GiB` (for defaults in help). */
export function bytesFlag(bytes: number): string {
  for (const [unit, m] of [
    ['TiB', 2 ** 40],
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (bytes !== 0 && bytes % m === 0) return `${bytes / m}${unit}`;
  }
  return `${bytes}B`;
}

/** Formats a rate in bytes/s the way a flag takes it back, in bits: `1Gbit`, `150Mbit`, `80Tbit`. */
export function rateFlag(bytesPerSec: number): string {
  const bits = bytesPerSec * 8;
  for (const [unit, m] of [
    ['Tbit', 1e12],
    ['Gbit', 1e9],
    ['Mbit', 1e6],
    ['kbit', 1e3],
  ] as const) {
    if (bits !== 0 && bits % m === 0) return `${bits / m}${unit}`;
  }
  return `${bits}bit`;
}
