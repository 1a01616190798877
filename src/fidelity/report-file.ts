/**
 * The committed input of docs/fidelity.md: fidelity/report.json holds everything `renderReport` reads, so
 * the doc re-renders from the repository alone (`npm run fidelity -- --report-only`) and a unit test checks
 * that the committed doc is what the committed input renders to, byte for byte.
 */
import type { FidelityResult } from './report.ts';

/**
 * Format of fidelity/report.json. Bump it when {@link FidelityResult} changes shape, so that an old file is
 * refused with a clear error instead of rendering wrong.
 */
export const REPORT_FORMAT = 2;

/** fidelity/report.json's text for `result` (stable: the keys in the result's own order, 1-space indent). */
export function serializeReport(result: FidelityResult): string {
  return `${JSON.stringify({ format: REPORT_FORMAT, result }, null, 1)}\n`;
}

/** The fields a renderable result must have, with their JSON types. */
const REQUIRED: readonly [keyof FidelityResult, 'string' | 'number' | 'object' | 'array'][] = [
  ['ranAt', 'string'],
  ['qemuVersion', 'string'],
  ['host', 'string'],
  ['wallMs', 'number'],
  ['scenarios', 'array'],
  ['startup', 'object'],
  ['failover', 'object'],
  ['fits', 'object'],
  ['deviceStateBytes', 'number'],
  ['calibration', 'object'],
  ['points', 'array'],
  ['timerLateMs', 'number'],
  ['timer', 'array'],
  ['pauseProfile', 'object'],
];

function kind(x: unknown): string {
  if (Array.isArray(x)) return 'array';
  return x === null ? 'null' : typeof x;
}

/**
 * Reads fidelity/report.json's text (`file` names it in errors). Anything but a report of
 * {@link REPORT_FORMAT} is a one-line error naming the file and the first thing wrong.
 */
export function parseReport(text: string, file: string): FidelityResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (kind(data) !== 'object') throw new Error(`${file}: not a fidelity report (a ${kind(data)})`);
  const { format, result } = data as { format?: unknown; result?: unknown };
  if (format !== REPORT_FORMAT) {
    throw new Error(
      `${file}: report format ${JSON.stringify(format)}, expected ${REPORT_FORMAT} (re-run npm run fidelity)`,
    );
  }
  if (kind(result) !== 'object') throw new Error(`${file}: no result object`);
  const r = result as Record<string, unknown>;
  for (const [key, want] of REQUIRED) {
    if (kind(r[key]) !== want) throw new Error(`${file}: result.${key} is ${kind(r[key])}, expected ${want}`);
  }
  return result as FidelityResult;
}
