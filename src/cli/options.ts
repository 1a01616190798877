/**
 * The options of `colo run` in one table: flag, the scenario key it sets, how its value is read, its
 * default and help. The scenario options come from the parameter registry (src/parameters/registry.ts);
 * the run options (output, backend) are written here. `bin/colo.ts` builds the command from it, `flags.ts`
 * parses with it, and `--help` and the README show the same defaults.
 */

import { FLAG_PARAMETERS, type Parameter } from '../parameters/registry.ts';
import { durationFlag } from '../parameters/units.ts';

/** How a flag's text is read. */
export type ValueKind =
  | 'size'
  | 'rate'
  | 'duration'
  | 'integer'
  | 'number'
  | 'fraction'
  | 'policies'
  | 'workload'
  | 'secondary'
  | 'faults'
  | 'enum'
  | 'text'
  | 'switch';

/** One option of `colo run`. */
export interface RunOption {
  /** Long flag without dashes, e.g. `checkpoint-delay`. */
  flag: string;
  /** Argument placeholder, e.g. `<time>` (none for a switch). */
  arg?: string;
  /** Scenario key it sets (scenario options only). */
  key?: string;
  /** How its text is read. */
  kind: ValueKind;
  /** Allowed values (`enum`). */
  values?: readonly string[];
  /** Help text (units included). */
  help: string;
  /** Default as a user would type it; shown in `--help`. */
  default?: string;
  /** Where it applies. */
  group: 'scenario' | 'run' | 'localstack';
}

/** Wall-clock duration of a LocalStack run when `--duration` is not given, ms. */
export const DEFAULT_LOCALSTACK_DURATION_MS = 30_000;

/** The option of a registry parameter that has a flag: flag, argument, help and default from the registry. */
function optionOf(p: Parameter): RunOption {
  const kind: ValueKind = p.kind === 'boolean' ? 'switch' : p.kind;
  const flag = p.flag as string;
  return {
    flag,
    ...(p.arg !== undefined ? { arg: p.arg } : {}),
    ...(p.scenario !== undefined ? { key: p.scenario } : {}),
    kind,
    ...(p.kind === 'enum' && p.values ? { values: p.values.map(String) } : {}),
    group: 'scenario',
    help: p.meaning,
    default:
      flag === 'duration'
        ? `${p.default} (localstack: ${durationFlag(DEFAULT_LOCALSTACK_DURATION_MS)})`
        : String(p.default),
  };
}

/** Every option of `colo run`, in help order: the scenario file, the registry's flags, then run options. */
export const RUN_OPTIONS: readonly RunOption[] = [
  {
    flag: 'scenario',
    arg: '<file>',
    kind: 'text',
    group: 'scenario',
    help: 'scenario file (JSON); flags override its keys',
  },
  ...FLAG_PARAMETERS.map(optionOf),
  {
    flag: 'dry-run',
    kind: 'switch',
    group: 'run',
    help: 'print the derived figures and warnings, run nothing',
  },
  {
    flag: 'json',
    arg: '<file>',
    kind: 'text',
    group: 'run',
    help: 'write the report as JSON to a file, or - for stdout (the table then goes to stderr)',
  },
  {
    flag: 'timeline',
    arg: '<file>',
    kind: 'text',
    group: 'run',
    help: "draw each policy's timeline (pending RAM, rounds, checkpoints by phase, waste) to an .svg or .png",
  },
  {
    flag: 'trace',
    arg: '<file>',
    kind: 'text',
    group: 'run',
    help: 'write the QEMU-named trace events of every policy as JSON Lines',
  },
  { flag: 'quiet', kind: 'switch', group: 'run', help: 'no progress on stderr (warnings still)' },
  {
    flag: 'backend',
    arg: '<name>',
    kind: 'enum',
    values: ['embedded', 'localstack'],
    group: 'run',
    help: 'embedded (virtual clock, modelled link) or localstack (a deployed stack)',
    default: 'embedded',
  },
  {
    flag: 'stack',
    arg: '<name>',
    kind: 'text',
    group: 'localstack',
    help: 'stack to run (outputs from CloudFormation)',
    default: 'ColoServerless',
  },
  {
    flag: 'outputs',
    arg: '<file>',
    kind: 'text',
    group: 'localstack',
    help: 'stack outputs file written by `npm run deploy:local`',
  },
  {
    flag: 'endpoint',
    arg: '<url>',
    kind: 'text',
    group: 'localstack',
    help: 'endpoint',
    default: 'AWS_ENDPOINT_URL, else 127.0.0.1 on LOCALSTACK_PORT or 4566',
  },
];

/** The commander attribute name of a flag: `checkpoint-delay` → `checkpointDelay`. */
export function attributeOf(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The flag that sets a scenario key, e.g. `policies` → `--policy`; the key itself when no flag does. */
export function flagOfKey(key: string): string | undefined {
  const o = RUN_OPTIONS.find((x) => x.key === key);
  return o ? `--${o.flag}` : undefined;
}
