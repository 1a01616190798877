import { FaultSpecError, parseFaultSpec } from './fault-spec.ts';
import { ScenarioError } from './scenario.ts';

/** Command-line options of `colo run`, as commander hands them over (strings). */
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
  bandwidth?: string;
  latency?: string;
  payload?: string;
  deviceState?: string;
  faults?: string;
}

function number(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n))
    throw new ScenarioError(`--${flag}: "${text}" is not a number`);
  return n;
}

/**
 * Parses `kind[:key=value,...]`, e.g. `hotcold:hotPages=4096,hotRate=4000,coldRate=2500`, into a workload
 * object (validated later with the scenario).
 */
export function parseWorkloadFlag(flag: string, text: string): Record<string, unknown> {
  const [kind, rest] = text.split(':', 2);
  const out: Record<string, unknown> = { kind };
  if (rest) {
    for (const pair of rest.split(',')) {
      const [k, v] = pair.split('=', 2);
      if (!k || v === undefined) throw new ScenarioError(`--${flag}: "${pair}" should be key=value`);
      out[k] = number(`${flag} ${k}`, v);
    }
  }
  return out;
}

/** Turns flags into a scenario layer (keys of the scenario file format). */
export function flagsToScenario(f: RunFlags): Record<string, unknown> {
  const s: Record<string, unknown> = {};
  if (f.policy !== undefined) s.policies = f.policy.split(',').map((p) => p.trim());
  if (f.seed !== undefined) s.seed = number('seed', f.seed);
  if (f.duration !== undefined) s.duration = f.duration;
  if (f.guest !== undefined) s.guest = f.guest;
  if (f.workload !== undefined) s.workload = parseWorkloadFlag('workload', f.workload);
  if (f.secondary !== undefined) {
    const [mode, workload] = f.secondary.split('/', 2);
    s.secondary = workload ? { mode, workload: parseWorkloadFlag('secondary', workload) } : { mode };
  }
  if (f.miscompareRate !== undefined) s.miscompareRate = number('miscompare-rate', f.miscompareRate);
  if (f.checkpointDelay !== undefined) s.checkpointDelay = f.checkpointDelay;
  if (f.pendingCheck !== undefined) s.pendingCheck = f.pendingCheck;
  if (f.threshold !== undefined) s.threshold = f.threshold;
  if (f.applyTimeout !== undefined) s.applyTimeout = f.applyTimeout;
  if (f.bandwidth !== undefined) s.bandwidth = f.bandwidth;
  if (f.latency !== undefined) s.latency = f.latency;
  if (f.payload !== undefined) s.payload = f.payload;
  if (f.deviceState !== undefined) s.deviceState = f.deviceState;
  if (f.faults !== undefined) {
    // Checked here so that the error names the flag; the scenario parses the same text again.
    try {
      parseFaultSpec(f.faults);
    } catch (e) {
      throw new ScenarioError(`--faults: ${e instanceof FaultSpecError ? e.message : String(e)}`);
    }
    s.faults = f.faults;
  }
  return s;
}
