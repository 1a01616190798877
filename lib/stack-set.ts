/**
 * Stack sets: several VMs deployed from one app, so that one synthesis (one bundling of the functions)
 * serves them all. A stack set is a JSON file naming each stack and the context it overrides:
 *
 * ```json
 * { "Colo-vm-1": { "vmId": "vm-1", "checkpointDelayMs": 5000 }, "Colo-vm-2": { "vmId": "vm-2" } }
 * ```
 *
 * Each entry's keys win over the app's context (`cdk.json`, `-c key=value`) for that stack only; keys it
 * does not name come from the app's context as for a single stack. Selected with `-c stackSet=<file>`.
 */
import { readFileSync } from 'node:fs';
import { DEPLOYED_PARAMETERS } from '../src/parameters/registry.ts';
import { misspeltContextKey } from './parameters.ts';

/** What a CloudFormation stack name may look like. */
export const STACK_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

/** One stack of a set. */
export interface StackSetEntry {
  /** CloudFormation stack name. */
  stackName: string;
  /** Context overrides of this stack (stack parameters, see `lib/parameters.ts`). */
  context: Record<string, unknown>;
}

/** A stack-set file is malformed. */
export class StackSetError extends Error {
  override readonly name = 'StackSetError';
}

/**
 * Parses a stack set (the JSON text of the file).
 *
 * @param what - Where it came from, for errors.
 * @throws StackSetError naming the problem.
 */
export function parseStackSet(text: string, what: string): StackSetEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new StackSetError(`stack set ${what} is not JSON: ${e instanceof Error ? e.message : e}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new StackSetError(`stack set ${what} must be an object of stack name → context`);
  }
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length === 0) throw new StackSetError(`stack set ${what} names no stack`);
  const vmIds = new Map<unknown, string>();
  return entries.map(([stackName, context]) => {
    if (!STACK_NAME_PATTERN.test(stackName)) {
      throw new StackSetError(`stack set ${what}: "${stackName}" is not a CloudFormation stack name`);
    }
    if (context === null || typeof context !== 'object' || Array.isArray(context)) {
      throw new StackSetError(`stack set ${what}: the context of ${stackName} must be an object`);
    }
    const ctx = context as Record<string, unknown>;
    if ('stackName' in ctx || 'stackSet' in ctx) {
      throw new StackSetError(`stack set ${what}: ${stackName} may not set stackName or stackSet`);
    }
    // A stack set holds only stack parameters: a key no construct reads would be ignored without a word.
    const keys = DEPLOYED_PARAMETERS.map((p) => p.deployed.context);
    for (const key of Object.keys(ctx)) {
      if (keys.includes(key)) continue;
      const why = misspeltContextKey(key)?.replace(/^context "[^"]*" is not a stack parameter: /, '');
      throw new StackSetError(
        `stack set ${what}: ${stackName}: "${key}" is not a stack parameter${why ? `: ${why}` : ` (docs/parameters.md lists them)`}`,
      );
    }
    if (ctx.vmId !== undefined) {
      const other = vmIds.get(ctx.vmId);
      if (other)
        throw new StackSetError(`stack set ${what}: ${other} and ${stackName} share vmId ${ctx.vmId}`);
      vmIds.set(ctx.vmId, stackName);
    }
    return { stackName, context: ctx };
  });
}

/** Reads and parses a stack-set file. @throws StackSetError */
export function readStackSet(path: string): StackSetEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new StackSetError(`cannot read stack set ${path}: ${e instanceof Error ? e.message : e}`);
  }
  return parseStackSet(text, path);
}
