/**
 * The text forms of the parameters that are not quantities — a share (`10%`, `0.1`), a policy list
 * (`none,fixed`) and a secondary mode (`running/zipf`) — read alike on the command line and in a scenario
 * file, so that what a flag takes a file takes too.
 */
import { didYouMean } from './suggest.ts';
import { parseWorkloadText, WorkloadError } from './workload.ts';

/** A text that cannot be read; the message says what was expected (the caller names the flag or key). */
export class TextValueError extends Error {
  override readonly name = 'TextValueError';
}

const DECIMAL = /^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/;

/**
 * A plain decimal number: no sign other than `+`, no hex, no `NaN` or `Infinity`.
 *
 * @throws TextValueError for a negative number, junk or a number too large to hold.
 */
export function parseDecimal(text: string): number {
  const t = text.trim();
  if (!DECIMAL.test(t))
    throw new TextValueError(t.startsWith('-') ? `"${text}" is negative` : `"${text}" is not a number`);
  const n = Number(t);
  if (!Number.isFinite(n)) throw new TextValueError(`"${text}" is too large`);
  return n;
}

/** A share: `0.1` or `10%` (range checked by the caller). @throws TextValueError */
export function parseShare(text: string): number {
  const pct = /^\s*(.+?)\s*%\s*$/.exec(text);
  return pct ? parseDecimal(pct[1] ?? '') / 100 : parseDecimal(text);
}

/**
 * A comma-separated list of policies, each one of `known`, none twice.
 *
 * @throws TextValueError for an empty name, an unknown policy or one named twice.
 */
export function parsePolicyList(text: string, known: readonly string[]): string[] {
  const list = text.split(',').map((p) => p.trim());
  if (list.some((p) => p === ''))
    throw new TextValueError(`"${text}" has an empty name: use e.g. none,fixed`);
  const unknown = list.find((p) => !known.includes(p));
  if (unknown !== undefined)
    throw new TextValueError(
      `unknown policy "${unknown}"${didYouMean(unknown, known)}: use ${known.join(', ')}`,
    );
  if (new Set(list).size !== list.length) throw new TextValueError('names a policy twice');
  return list;
}

/**
 * A secondary mode: `passive`, `running`, or `running/<workload>` (the workload's `kind[:key=value,…]`).
 *
 * @throws TextValueError for another mode, a passive secondary with a workload, or a bad workload.
 */
export function parseSecondaryText(text: string): { mode: string; workload?: Record<string, unknown> } {
  const slash = text.indexOf('/');
  const mode = (slash < 0 ? text : text.slice(0, slash)).trim();
  if (mode !== 'passive' && mode !== 'running')
    throw new TextValueError(
      `"${mode}" is not a mode${didYouMean(mode, ['passive', 'running'])}: use passive, or running[/workload]`,
    );
  if (slash < 0) return { mode };
  if (mode === 'passive')
    throw new TextValueError('a passive secondary runs no workload: use running/<workload>');
  try {
    return { mode, workload: parseWorkloadText(text.slice(slash + 1)) };
  } catch (e) {
    if (e instanceof WorkloadError) throw new TextValueError(e.message);
    throw e;
  }
}
