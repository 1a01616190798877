/**
 * The options of `colo run` in one table: flag, the scenario key it sets, how its value is read, its
 * default and help. `bin/colo.ts` builds the command from it, `flags.ts` parses with it, and `--help` and
 * the README show the same defaults. (A parameter registry can take this table over as it is.)
 */

import { DEFAULT_CONTENT_MIX } from '../engine/memory/page-content.ts';
import { DEFAULT_PARAMS, POLICY_NAMES } from '../engine/params.ts';
import { DEFAULT_SCENARIO } from './scenario.ts';
import { bytesFlag, durationFlag } from './units.ts';

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

const d = DEFAULT_PARAMS;
const s = DEFAULT_SCENARIO;
const hc = s.workload as { hotPages: number; hotRate: number; coldRate: number };

/** Every option of `colo run`, in help order. */
export const RUN_OPTIONS: readonly RunOption[] = [
  {
    flag: 'scenario',
    arg: '<file>',
    kind: 'text',
    group: 'scenario',
    help: 'scenario file (JSON); flags override its keys',
  },
  {
    flag: 'policy',
    arg: '<list>',
    key: 'policies',
    kind: 'policies',
    group: 'scenario',
    help: `policies to compare, comma-separated: ${POLICY_NAMES.join(', ')}`,
    default: (s.policies as string[]).join(','),
  },
  {
    flag: 'seed',
    arg: '<n>',
    key: 'seed',
    kind: 'integer',
    group: 'scenario',
    help: 'seed of workloads and page contents, 0-4294967295',
    default: String(s.seed),
  },
  {
    flag: 'duration',
    arg: '<time>',
    key: 'duration',
    kind: 'duration',
    group: 'scenario',
    help: 'simulated time (wall-clock with --backend localstack)',
    default: `${s.duration} (localstack: ${durationFlag(DEFAULT_LOCALSTACK_DURATION_MS)})`,
  },
  {
    flag: 'guest',
    arg: '<size>',
    key: 'guest',
    kind: 'size',
    group: 'scenario',
    help: 'guest RAM, a multiple of 4KiB',
    default: String(s.guest),
  },
  {
    flag: 'workload',
    arg: '<spec>',
    key: 'workload',
    kind: 'workload',
    group: 'scenario',
    help: 'kind[:key=value,...]: how the guest writes its RAM (kinds below)',
    default: `hotcold:hotPages=${hc.hotPages},hotRate=${hc.hotRate},coldRate=${hc.coldRate}`,
  },
  {
    flag: 'secondary',
    arg: '<mode>',
    key: 'secondary',
    kind: 'secondary',
    group: 'scenario',
    help: 'passive, or running[/workload] (the SVM runs between checkpoints)',
    default: d.secondaryMode,
  },
  {
    flag: 'miscompare-rate',
    arg: '<n>',
    key: 'miscompareRate',
    kind: 'number',
    group: 'scenario',
    help: 'output divergences per second of guest time (each forces a checkpoint)',
    default: String(d.miscompareRatePerSec),
  },
  {
    flag: 'checkpoint-delay',
    arg: '<time>',
    key: 'checkpointDelay',
    kind: 'duration',
    group: 'scenario',
    help: 'periodic checkpoint delay (x-checkpoint-delay)',
    default: durationFlag(d.checkpointDelayMs),
  },
  {
    flag: 'pending-check',
    arg: '<time>',
    key: 'pendingCheck',
    kind: 'duration',
    group: 'scenario',
    help: 'pending-RAM check period (fixed, adaptive)',
    default: durationFlag(d.pendingCheckIntervalMs),
  },
  {
    flag: 'threshold',
    arg: '<size>',
    key: 'threshold',
    kind: 'size',
    group: 'scenario',
    help: 'pending RAM that starts a background round (fixed)',
    default: bytesFlag(d.thresholdBytes),
  },
  {
    flag: 'apply-timeout',
    arg: '<time>',
    key: 'applyTimeout',
    kind: 'duration',
    group: 'scenario',
    help: "deadline of each of the secondary's waits",
    default: durationFlag(d.applyTimeoutMs),
  },
  {
    flag: 'checkpoint-timeout',
    arg: '<time>',
    key: 'checkpointTimeout',
    kind: 'duration',
    group: 'scenario',
    help: "deadline of each of the primary's waits in a checkpoint",
    default: durationFlag(d.checkpointTimeoutMs),
  },
  {
    flag: 'heartbeat-interval',
    arg: '<time>',
    key: 'heartbeatInterval',
    kind: 'duration',
    group: 'scenario',
    help: 'primary heartbeat period',
    default: durationFlag(d.heartbeatIntervalMs),
  },
  {
    flag: 'heartbeat-timeout',
    arg: '<time>',
    key: 'heartbeatTimeout',
    kind: 'duration',
    group: 'scenario',
    help: 'silence before the secondary takes over (0: never)',
    default: durationFlag(d.heartbeatTimeoutMs),
  },
  {
    flag: 'bandwidth',
    arg: '<rate>',
    key: 'bandwidth',
    kind: 'rate',
    group: 'scenario',
    help: 'link bandwidth, each way',
    default: String(s.bandwidth),
  },
  {
    flag: 'latency',
    arg: '<time>',
    key: 'latency',
    kind: 'duration',
    group: 'scenario',
    help: 'one-way link latency',
    default: String(s.latency),
  },
  {
    flag: 'payload',
    arg: '<mode>',
    key: 'payload',
    kind: 'enum',
    values: ['materialised', 'modelled'],
    group: 'scenario',
    help: 'materialised (real bytes, verified) or modelled (bytes counted; faster)',
    default: d.payload,
  },
  {
    flag: 'device-state',
    arg: '<size>',
    key: 'deviceState',
    kind: 'size',
    group: 'scenario',
    help: 'device state per checkpoint',
    default: bytesFlag(d.deviceStateBytes),
  },
  {
    flag: 'downtime-budget',
    arg: '<time>',
    key: 'downtimeBudget',
    kind: 'duration',
    group: 'scenario',
    help: 'adaptive: downtime it aims for (downtime-limit)',
    default: durationFlag(d.downtimeBudgetMs),
  },
  {
    flag: 'epoch-cap',
    arg: '<size>',
    key: 'epochCap',
    kind: 'size',
    group: 'scenario',
    help: 'adaptive: checkpoint early above this much RAM per epoch (0: never)',
    default: d.epochCapBytes === 0 ? '0' : bytesFlag(d.epochCapBytes),
  },
  {
    flag: 'max-delta',
    arg: '<size>',
    key: 'maxDelta',
    kind: 'size',
    group: 'scenario',
    help: 'most page data in one delta object (one round, one checkpoint chunk)',
    default: bytesFlag(d.maxDeltaBytes),
  },
  {
    flag: 'zero-pages',
    arg: '<share>',
    key: 'zeroPages',
    kind: 'fraction',
    group: 'scenario',
    help: 'share of written pages that are all zero, 0-1 or %',
    default: String(DEFAULT_CONTENT_MIX.zero),
  },
  {
    flag: 'compressible-pages',
    arg: '<share>',
    key: 'compressiblePages',
    kind: 'fraction',
    group: 'scenario',
    help: 'share that compresses, 0-1 or %',
    default: String(DEFAULT_CONTENT_MIX.compressible),
  },
  {
    flag: 'faults',
    arg: '<spec>',
    key: 'faults',
    kind: 'faults',
    group: 'scenario',
    help: 'seeded SQS, S3 and Lambda faults, key=value,... (keys below); embedded only',
    default: 'none',
  },
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
    default: 'AWS_ENDPOINT_URL or http://127.0.0.1:4566',
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
