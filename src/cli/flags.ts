/**
 * `colo run` flags into a scenario layer: every value read by its kind (src/cli/options.ts) so that an
 * error names the flag; ranges are checked with the scenario, which names the flag too.
 */

import { POLICY_VALUES } from '../parameters/registry.ts';
import { didYouMean } from '../parameters/suggest.ts';
import {
  parseDecimal,
  parsePolicyList,
  parseSecondaryText,
  parseShare,
  TextValueError,
} from '../parameters/text-values.ts';
import { parseQuantity, UnitError } from '../parameters/units.ts';
import { parseWorkloadText, WorkloadError } from '../parameters/workload.ts';
import { FaultSpecError, parseFaultSpec } from './fault-spec.ts';
import { attributeOf, RUN_OPTIONS, type RunOption } from './options.ts';
import { ScenarioError, withOrigin } from './scenario.ts';

/**
 * Command-line options of `colo run`, as commander hands them over: each the flag's text, read by the kind
 * {@link RUN_OPTIONS} gives it (units as in src/parameters/units.ts).
 */
export interface RunFlags {
  scenario?: string;
  policy?: string;
  seed?: string;
  duration?: string;
  guest?: string;
  workload?: string;
  secondary?: string;
  miscompareRate?: string;
  checkpointDelay?: string;
  pendingCheck?: string;
  threshold?: string;
  applyTimeout?: string;
  checkpointTimeout?: string;
  heartbeatInterval?: string;
  heartbeatTimeout?: string;
  bandwidth?: string;
  latency?: string;
  linkProfile?: string;
  payload?: string;
  deviceState?: string;
  downtimeBudget?: string;
  epochCap?: string;
  maxDelta?: string;
  zeroPages?: string;
  compressiblePages?: string;
  faults?: string;
  vms?: string;
  vmStagger?: string;
}

function bad(flag: string, message: string): never {
  throw new ScenarioError(`--${flag}: ${message}`);
}

function number(flag: string, text: string): number {
  return fromText(flag, () => parseDecimal(text));
}

/** Reads a text form with `read`, naming the flag in its error. @throws ScenarioError */
function fromText<T>(flag: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof TextValueError) bad(flag, e.message);
    throw e;
  }
}

/**
 * Parses `kind[:key=value,...]`, e.g. `hotcold:hotPages=4096,hotRate=4000,coldRate=2500`, into a workload
 * object: the kind's defaults with the given keys replaced (src/parameters/workload.ts; validated with the scenario).
 *
 * @throws ScenarioError naming `--flag`.
 */
export function parseWorkloadFlag(flag: string, text: string): Record<string, unknown> {
  try {
    return parseWorkloadText(text);
  } catch (e) {
    if (e instanceof WorkloadError) bad(flag, e.message);
    throw e;
  }
}

/** One flag's value, read by its kind. @throws ScenarioError naming the flag. */
function flagValue(o: RunOption, text: string): unknown {
  const { flag } = o;
  switch (o.kind) {
    case 'size':
    case 'rate':
    case 'duration':
      try {
        return parseQuantity(o.kind, text);
      } catch (e) {
        if (e instanceof UnitError) bad(flag, e.message);
        throw e;
      }
    case 'integer': {
      const n = number(flag, text);
      if (!Number.isInteger(n)) bad(flag, `"${text}" is not a whole number`);
      return n;
    }
    case 'number':
      return number(flag, text);
    case 'fraction':
      return fromText(flag, () => parseShare(text));
    case 'policies':
      return fromText(flag, () => parsePolicyList(text, POLICY_VALUES));
    case 'workload':
      return parseWorkloadFlag(flag, text);
    case 'secondary':
      return fromText(flag, () => parseSecondaryText(text));
    case 'faults':
      // Checked here so that the error names the flag; the scenario parses the same text again.
      try {
        parseFaultSpec(text);
      } catch (e) {
        bad(flag, e instanceof FaultSpecError ? e.message : String(e));
      }
      return text;
    case 'enum': {
      const t = text.trim();
      const values = o.values ?? [];
      if (!values.includes(t))
        bad(flag, `"${text}" is not one of ${values.join(', ')}${didYouMean(t, values)}`);
      return t;
    }
    case 'text':
    case 'switch':
      return text;
  }
}

/**
 * Turns flags into a scenario layer (keys of the scenario file format, values in base units); errors in
 * the scenario name the flags.
 *
 * @throws ScenarioError naming the first flag that cannot be read.
 */
export function flagsToScenario(f: RunFlags): Record<string, unknown> {
  const s: Record<string, unknown> = {};
  const given = f as Record<string, unknown>;
  for (const o of RUN_OPTIONS) {
    if (o.key === undefined) continue;
    const text = given[attributeOf(o.flag)];
    if (text === undefined) continue;
    s[o.key] = flagValue(o, String(text));
  }
  return withOrigin(s, {
    source: 'flags',
    key: (k) => {
      const o = RUN_OPTIONS.find((x) => x.key === k);
      return o ? `--${o.flag}` : k;
    },
  });
}
