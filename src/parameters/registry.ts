/**
 * The parameter registry: every setting of a replicated VM once — its name, meaning, unit, default and
 * bounds, and how it is spelt as a `colo run` flag, a scenario-file key, a CDK context key, a Lambda
 * environment variable and, where QEMU has one, the QEMU parameter. The CLI's options
 * (src/cli/options.ts), the scenario schema (src/cli/scenario.ts), the stack's context validation
 * (lib/parameters.ts via ./deployed.ts) and the functions' environment parsing (lambda/handlers/common/params.ts
 * via ./deployed.ts) are built from this table, and docs/parameters.md is generated from it
 * (`npm run docs:parameters`).
 *
 * Spelling rules: the scenario key is the name (camelCase); the flag is its kebab-case form; a context key
 * takes a bare number, so it carries its unit (`checkpointDelayMs`, `guestBytes`); the environment variable
 * is the context key in SCREAMING_SNAKE_CASE. Exceptions are written out in the table.
 */
import { VM_ID_PATTERN } from '../wire/limits.ts';
import { LINK_PROFILE_NAMES } from './link-profiles.ts';

/** How a parameter's value is written and read. */
export type ParameterKind =
  | 'duration'
  | 'size'
  | 'rate'
  | 'integer'
  | 'number'
  | 'fraction'
  | 'enum'
  | 'policies'
  | 'workload'
  | 'secondary'
  | 'faults'
  | 'text'
  | 'boolean';

/** Bounds of a numeric parameter, in its base unit (ms, bytes, bytes/s, …). */
export interface Bounds {
  /** Least value (inclusive unless `exclusiveMin`). */
  min: number;
  /** Greatest value, inclusive. */
  max: number;
  /** `min` itself is refused (`duration` must be above 0). */
  exclusiveMin?: boolean;
}

/**
 * The deployed spelling of a parameter: CDK context key and Lambda environment variable, with the bounds
 * a deployed VM accepts when they are narrower than the simulator's, and why.
 */
export interface Deployed {
  /** CDK context key (`cdk.json`, `-c key=value`), value a bare number in the unit the key names. */
  context: string;
  /** Environment variable of every function; absent for stack-only settings (log retention, expiry). */
  env?: string;
  /** Bounds of a deployed VM, base unit, when they differ from the parameter's. */
  bounds?: Bounds;
  /** Why the deployed bounds are narrower. */
  boundsWhy?: string;
  /**
   * The deploy profile's default, as context takes it, when it differs from the parameter's (cost of a
   * Lambda-hosted guest): what `cdk.json` and a bare `npm run deploy:local` use. A deployed scenario file
   * uses the parameter's own default for every key it leaves out, as `colo run` does.
   */
  profileDefault?: string | number | boolean;
  /** Why the deploy profile differs. */
  profileWhy?: string;
}

/** One parameter. */
export interface Parameter {
  /** Name; the scenario-file key when there is one. */
  name: string;
  /** What it means, one line (units in words where it helps). */
  meaning: string;
  /** How its value is written. */
  kind: ParameterKind;
  /** Base unit of its value: `ms`, `bytes`, `bytes/s`, `per second`, `share`, `days`, `MB` or `` (none). */
  unit: string;
  /**
   * Default as a user types it on the command line (`20s`, `1GiB`, `1Gbit`, `none,fixed`); JSON-able values
   * for kinds without a text form (`boolean`). Parsing it gives the default value.
   */
  default: string | number | boolean;
  /** Bounds (numeric kinds), base unit. */
  bounds?: Bounds;
  /** Why the greatest value is what it is, when that is a limit of this emulator (shown in the error). */
  maxWhy?: string;
  /** The value must be a whole multiple of this many base units (guest RAM: whole 4 KiB pages). */
  multipleOf?: number;
  /** Allowed values (`enum`, and the names a `policies` list takes; numeric sets for `integer`). */
  values?: readonly (string | number)[];
  /** A pattern the text must match (`text`). */
  pattern?: RegExp;
  /** `colo run` flag without dashes; absent when the CLI does not set it. */
  flag?: string;
  /** Placeholder of the flag's argument in `--help`. */
  arg?: string;
  /** Scenario-file key; absent when a scenario cannot set it. */
  scenario?: string;
  /** Its deployed spelling; absent for a simulation-only parameter. */
  deployed?: Deployed;
  /** Why a simulation-only parameter is not deployed. */
  simulationOnly?: string;
  /** The QEMU parameter it corresponds to, when there is one. */
  qemu?: string;
}

const DAY_MS = 24 * 3_600_000;

/** CloudWatch Logs retention periods, days (lib/parameters.ts checks this list against aws-cdk-lib's). */
export const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** Background-migration policies (src/engine/params.ts `POLICY_NAMES`). */
export const POLICY_VALUES = ['none', 'fixed', 'adaptive'] as const;

/** Every parameter, in documentation and `--help` order. */
export const PARAMETERS: readonly Parameter[] = [
  {
    name: 'name',
    meaning: 'display name of the scenario (reports, run header)',
    kind: 'text',
    unit: '',
    default: 'cold-dominated',
    scenario: 'name',
    simulationOnly: 'a label of reports; the stack is named by context stackName',
  },
  {
    name: 'vmId',
    meaning: 'VM id: FIFO message group, key prefix, part of resource names',
    kind: 'text',
    unit: '',
    default: 'vm-0',
    pattern: VM_ID_PATTERN,
    scenario: 'vmId',
    deployed: { context: 'vmId', env: 'VM_ID' },
  },
  {
    name: 'policies',
    meaning: 'policies to compare, comma-separated: none, fixed, adaptive',
    kind: 'policies',
    unit: '',
    default: 'none,fixed',
    values: POLICY_VALUES,
    flag: 'policy',
    arg: '<list>',
    scenario: 'policies',
    deployed: {
      context: 'policy',
      env: 'POLICY',
      profileDefault: 'fixed',
      profileWhy: 'a deployed VM runs one policy: a scenario deployed names exactly one',
    },
  },
  {
    name: 'seed',
    meaning: 'seed of workloads and page contents, 0-4294967295',
    kind: 'integer',
    unit: '',
    default: '42',
    bounds: { min: 0, max: 0xffff_ffff },
    flag: 'seed',
    arg: '<n>',
    scenario: 'seed',
    deployed: { context: 'seed', env: 'SEED' },
  },
  {
    name: 'duration',
    meaning: 'simulated time (wall-clock with --backend localstack)',
    kind: 'duration',
    unit: 'ms',
    default: '100s',
    bounds: { min: 0, max: 30 * DAY_MS, exclusiveMin: true },
    flag: 'duration',
    arg: '<time>',
    scenario: 'duration',
    simulationOnly:
      'a deployed VM replicates until stopped; `colo run --backend localstack --duration` watches it',
  },
  {
    name: 'guest',
    meaning: 'guest RAM, a multiple of 4KiB',
    kind: 'size',
    unit: 'bytes',
    default: '1GiB',
    bounds: { min: 4096, max: 2 ** 40 },
    maxWhy:
      'the largest guest measured to run: the embedded runtime holds about 9.3 bytes a page (1 TiB: 2.3 GiB of page versions, bitmaps and classes), of which under 4 are resident at 1 TiB',
    multipleOf: 4096,
    flag: 'guest',
    arg: '<size>',
    scenario: 'guest',
    deployed: {
      context: 'guestBytes',
      env: 'GUEST_BYTES',
      bounds: { min: 4096, max: 2 ** 40 },
      boundsWhy: 'node state (8 bytes a page) lives in one S3 document per node',
      profileDefault: 64 * 1024 * 1024,
      profileWhy: 'cost: every page a Lambda-hosted guest dirties crosses S3; 64 MiB keeps a demo cheap',
    },
  },
  {
    name: 'workload',
    meaning: 'kind[:key=value,...]: how the guest writes its RAM (kinds below)',
    kind: 'workload',
    unit: '',
    default: 'hotcold:hotPages=4096,hotRate=4000,coldRate=2500',
    flag: 'workload',
    arg: '<spec>',
    scenario: 'workload',
    deployed: {
      context: 'workload',
      env: 'WORKLOAD',
      profileDefault: 'hotcold',
      profileWhy:
        'the kind alone (4096 hot pages; 4000 and 2500 writes/s): a 64 MiB guest is all dirty by each 20 s checkpoint and, under the 100 MiB threshold, makes no background round — the priced configuration; `--set workload=hotcold:hotPages=256,hotRate=4000,coldRate=160 --set thresholdBytes=8MiB` makes about one round per checkpoint (docs/localstack.md)',
    },
  },
  {
    name: 'secondary',
    meaning: 'passive, or running[/workload] (the SVM runs between checkpoints)',
    kind: 'secondary',
    unit: '',
    default: 'passive',
    flag: 'secondary',
    arg: '<mode>',
    scenario: 'secondary',
    simulationOnly: 'the deployed secondary is passive',
  },
  {
    name: 'miscompareRate',
    meaning: 'output divergences per second of guest time (each forces a checkpoint)',
    kind: 'number',
    unit: 'per second',
    default: '0',
    bounds: { min: 0, max: 1000 },
    flag: 'miscompare-rate',
    arg: '<n>',
    scenario: 'miscompareRate',
    simulationOnly: 'not carried to the functions yet (they run without miscompares)',
  },
  {
    name: 'checkpointDelay',
    meaning: 'periodic checkpoint delay (x-checkpoint-delay)',
    kind: 'duration',
    unit: 'ms',
    default: '20s',
    bounds: { min: 1, max: 30 * DAY_MS },
    flag: 'checkpoint-delay',
    arg: '<time>',
    scenario: 'checkpointDelay',
    qemu: 'x-checkpoint-delay',
    deployed: {
      context: 'checkpointDelayMs',
      env: 'CHECKPOINT_DELAY_MS',
      bounds: { min: 1000, max: 3_600_000 },
      boundsWhy: 'the tick chain is SQS delays in whole seconds',
    },
  },
  {
    name: 'pendingCheck',
    meaning: 'pending-RAM check period (fixed; adaptive checks at least every 250ms)',
    kind: 'duration',
    unit: 'ms',
    default: '1s',
    bounds: { min: 1, max: DAY_MS },
    flag: 'pending-check',
    arg: '<time>',
    scenario: 'pendingCheck',
    deployed: {
      context: 'pendingCheckIntervalMs',
      env: 'PENDING_CHECK_INTERVAL_MS',
      bounds: { min: 1000, max: 3_600_000 },
      boundsWhy: 'the tick chain is SQS delays in whole seconds',
    },
  },
  {
    name: 'threshold',
    meaning: 'pending RAM that starts a background round (fixed)',
    kind: 'size',
    unit: 'bytes',
    default: '100MiB',
    bounds: { min: 1, max: 2 ** 46 },
    flag: 'threshold',
    arg: '<size>',
    scenario: 'threshold',
    deployed: { context: 'thresholdBytes', env: 'THRESHOLD_BYTES' },
  },
  {
    name: 'applyTimeout',
    meaning:
      "deadline of the secondary's wait for a background round's data; inside a checkpoint it waits the longer of this and the heartbeat timeout",
    kind: 'duration',
    unit: 'ms',
    default: '5s',
    bounds: { min: 1, max: DAY_MS },
    flag: 'apply-timeout',
    arg: '<time>',
    scenario: 'applyTimeout',
    deployed: {
      context: 'applyTimeoutMs',
      env: 'APPLY_TIMEOUT_MS',
      bounds: { min: 100, max: 840_000 },
      boundsWhy: 'secondary-apply times out 25 s after it, within the 15 min Lambda limit',
    },
  },
  {
    name: 'checkpointTimeout',
    meaning: "deadline of each of the primary's waits in a checkpoint",
    kind: 'duration',
    unit: 'ms',
    default: '30s',
    bounds: { min: 1, max: DAY_MS },
    flag: 'checkpoint-timeout',
    arg: '<time>',
    scenario: 'checkpointTimeout',
    deployed: {
      context: 'checkpointTimeoutMs',
      env: 'CHECKPOINT_TIMEOUT_MS',
      bounds: { min: 1000, max: DAY_MS },
      boundsWhy: 'the primary notices a timeout at its next tick, a second apart',
    },
  },
  {
    name: 'heartbeatInterval',
    meaning: 'primary heartbeat period',
    kind: 'duration',
    unit: 'ms',
    default: '1s',
    bounds: { min: 1, max: DAY_MS },
    flag: 'heartbeat-interval',
    arg: '<time>',
    scenario: 'heartbeatInterval',
    deployed: {
      context: 'heartbeatIntervalMs',
      env: 'HEARTBEAT_INTERVAL_MS',
      bounds: { min: 1000, max: 3_600_000 },
      boundsWhy: 'the tick chain is SQS delays in whole seconds',
    },
  },
  {
    name: 'heartbeatTimeout',
    meaning: 'silence before the secondary takes over (0: never)',
    kind: 'duration',
    unit: 'ms',
    default: '10s',
    bounds: { min: 0, max: DAY_MS },
    flag: 'heartbeat-timeout',
    arg: '<time>',
    scenario: 'heartbeatTimeout',
    deployed: { context: 'heartbeatTimeoutMs', env: 'HEARTBEAT_TIMEOUT_MS' },
  },
  {
    name: 'bandwidth',
    meaning: 'link bandwidth, each way',
    kind: 'rate',
    unit: 'bytes/s',
    default: '1Gbit',
    bounds: { min: 0, max: 1e13, exclusiveMin: true },
    flag: 'bandwidth',
    arg: '<rate>',
    scenario: 'bandwidth',
    qemu: 'max-bandwidth (there a cap on migration traffic; here the modelled link)',
    simulationOnly: "the deployed link is the cloud's own (SQS, S3)",
  },
  {
    name: 'latency',
    meaning: 'one-way link latency',
    kind: 'duration',
    unit: 'ms',
    default: '0.1ms',
    bounds: { min: 0, max: 60_000 },
    flag: 'latency',
    arg: '<time>',
    scenario: 'latency',
    simulationOnly: "the deployed link is the cloud's own (SQS, S3)",
  },
  {
    name: 'linkProfile',
    meaning:
      'link and cost profile to start from (docs/fidelity.md): qemu-tcg-loopback = calibrated on QEMU 7.2 COLO under TCG on loopback; --bandwidth, --latency and --device-state win over it',
    kind: 'enum',
    unit: '',
    default: 'none',
    values: LINK_PROFILE_NAMES,
    flag: 'link-profile',
    arg: '<name>',
    scenario: 'linkProfile',
    simulationOnly: "a calibration of the embedded runtime's model; the deployed link is the cloud's own",
  },
  {
    name: 'vms',
    meaning:
      'protected VMs in one simulation, each its own primary/secondary pair, sharing the link and delta store',
    kind: 'integer',
    unit: '',
    default: '1',
    bounds: { min: 1, max: 10_000 },
    maxWhy: 'the largest fleet measured on a 2-core, 24 GiB machine',
    flag: 'vms',
    arg: '<n>',
    scenario: 'vms',
    simulationOnly: 'a deployed stack protects one VM; embedded only',
  },
  {
    name: 'vmStagger',
    meaning: 'fleet: VM starts spread evenly over this time (0: all start together)',
    kind: 'duration',
    unit: 'ms',
    default: '0s',
    bounds: { min: 0, max: 30 * DAY_MS },
    flag: 'vm-stagger',
    arg: '<time>',
    scenario: 'vmStagger',
    simulationOnly: 'a deployed stack protects one VM; embedded only',
  },
  {
    name: 'payload',
    meaning: 'materialised (real bytes, verified) or modelled (bytes counted; faster)',
    kind: 'enum',
    unit: '',
    default: 'materialised',
    values: ['materialised', 'modelled'],
    flag: 'payload',
    arg: '<mode>',
    scenario: 'payload',
    simulationOnly: 'the functions always carry real bytes',
  },
  {
    name: 'deviceState',
    meaning: 'device state per checkpoint',
    kind: 'size',
    unit: 'bytes',
    default: '256KiB',
    bounds: { min: 0, max: 1024 ** 3 },
    flag: 'device-state',
    arg: '<size>',
    scenario: 'deviceState',
    simulationOnly: 'not carried to the functions yet (they use the default)',
  },
  {
    name: 'downtimeBudget',
    meaning:
      "downtime it is willing to take (QEMU's downtime-limit); carried and reported, no policy reads it yet",
    kind: 'duration',
    unit: 'ms',
    default: '300ms',
    bounds: { min: 0, max: DAY_MS, exclusiveMin: true },
    flag: 'downtime-budget',
    arg: '<time>',
    scenario: 'downtimeBudget',
    qemu: 'downtime-limit',
    deployed: {
      context: 'downtimeBudgetMs',
      env: 'DOWNTIME_BUDGET_MS',
      bounds: { min: 1, max: DAY_MS },
      boundsWhy: 'context takes whole ms',
    },
  },
  {
    name: 'epochCap',
    meaning: 'adaptive: checkpoint early above this much RAM per epoch (0: never)',
    kind: 'size',
    unit: 'bytes',
    default: '0',
    bounds: { min: 0, max: 2 ** 46 },
    flag: 'epoch-cap',
    arg: '<size>',
    scenario: 'epochCap',
    deployed: { context: 'epochCapBytes', env: 'EPOCH_CAP_BYTES' },
  },
  {
    name: 'maxDelta',
    meaning: 'most page data in one delta object (one round, one checkpoint chunk)',
    kind: 'size',
    unit: 'bytes',
    default: '64MiB',
    bounds: { min: 4096, max: 1024 ** 3 },
    flag: 'max-delta',
    arg: '<size>',
    scenario: 'maxDelta',
    simulationOnly:
      'each function derives it from its memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), at most 64 MiB',
  },
  {
    name: 'zeroPages',
    meaning: 'share of written pages that are all zero, 0-1 or %',
    kind: 'fraction',
    unit: 'share',
    default: '0.1',
    bounds: { min: 0, max: 1 },
    flag: 'zero-pages',
    arg: '<share>',
    scenario: 'zeroPages',
    simulationOnly: 'not carried to the functions yet (they use the default)',
  },
  {
    name: 'compressiblePages',
    meaning: 'share that compresses, 0-1 or %',
    kind: 'fraction',
    unit: 'share',
    default: '0.3',
    bounds: { min: 0, max: 1 },
    flag: 'compressible-pages',
    arg: '<share>',
    scenario: 'compressiblePages',
    simulationOnly: 'not carried to the functions yet (they use the default)',
  },
  {
    name: 'faults',
    meaning: 'seeded SQS, S3 and Lambda faults, key=value,... (keys below); embedded only',
    kind: 'faults',
    unit: '',
    default: 'none',
    flag: 'faults',
    arg: '<spec>',
    scenario: 'faults',
    simulationOnly:
      'a deployed stack meets real faults; the integration tests arm injected ones (testFaults)',
  },
  {
    name: 'deltaExpiry',
    meaning: 'days after which delta objects expire (bucket lifecycle rule)',
    kind: 'integer',
    unit: 'days',
    default: 1,
    bounds: { min: 1, max: 3650 },
    deployed: { context: 'deltaExpiryDays' },
  },
  {
    name: 'logRetention',
    meaning: "days the functions' log groups keep events (a CloudWatch Logs retention)",
    kind: 'integer',
    unit: 'days',
    default: 7,
    bounds: { min: 1, max: 3653 },
    values: LOG_RETENTION_DAYS,
    deployed: { context: 'logRetentionDays' },
  },
  {
    name: 's3ForcePathStyle',
    meaning: 'address S3 path-style from the functions (emulators on an IP endpoint need it)',
    kind: 'boolean',
    unit: '',
    default: false,
    deployed: { context: 's3ForcePathStyle', env: 'AWS_S3_FORCE_PATH_STYLE' },
  },
  {
    name: 'testFaults',
    meaning: "allow: the integration tests' default-off fault hook reads faults armed in the bucket",
    kind: 'enum',
    unit: '',
    default: 'off',
    values: ['off', 'allow'],
    deployed: { context: 'testFaults', env: 'COLO_TEST_FAULTS' },
  },
  {
    name: 'virtualClock',
    meaning:
      'allow: primary and secondary-apply deploy their test-only replay entries (the conformance stack), which answer the virtual-clock event',
    kind: 'enum',
    unit: '',
    default: 'off',
    values: ['off', 'allow'],
    deployed: { context: 'virtualClock' },
  },
  {
    name: 'eventSourceMaxConcurrency',
    meaning:
      'most invocations each SQS event source (two channels, three tick queues) runs at once (Lambda ScalingConfig.MaximumConcurrency); FIFO channels also stop at one per active VM',
    kind: 'integer',
    unit: '',
    default: 100,
    bounds: { min: 2, max: 1000 },
    deployed: { context: 'eventSourceMaxConcurrency' },
  },
  {
    name: 'channelPollers',
    meaning:
      "event-source mappings on each FIFO channel (the first on the function, the others on its aliases poller-2, …): LocalStack's SQS event source invokes a batch's message groups (VMs) one after another and then waits 1 s, so one mapping serves a fleet's VMs in turn; each further mapping polls beside it. SQS hands a group to one receiver at a time, so each VM's order holds. 1 on AWS, whose FIFO mappings already scale to the active groups; `npm run deploy:local` deploys 4 unless told otherwise (so one large guest's checkpoint does not hold every other VM's steps), the fleet run 8",
    kind: 'integer',
    unit: '',
    default: 1,
    bounds: { min: 1, max: 8 },
    deployed: { context: 'channelPollers' },
  },
  {
    name: 'tickPollers',
    meaning:
      "event-source mappings on each tick queue (the first on the consumer, the others on its aliases poller-2, …): LocalStack's SQS event source runs one invocation at a time per mapping, so one slow tick (a checkpoint's sends left to a timer, a 1 GiB guest's state) holds every VM's ticks of that timer; each further mapping polls beside it. Ticks are claimed by compare-and-swap, so a tick two mappings see is claimed once. 1 on AWS, whose mappings already run invocations side by side; `npm run deploy:local` and the fleet run deploy 2 unless told otherwise",
    kind: 'integer',
    unit: '',
    default: 1,
    bounds: { min: 1, max: 8 },
    deployed: { context: 'tickPollers' },
  },
  {
    name: 'monitorMemory',
    meaning:
      "memory of heartbeat-monitor and tick-arm, MB: their ticks wait on S3 and SQS and never build page payloads, so they take as long at 256 MB as at 1 024 and cost a quarter. The primary's timers (checkpoint-timer, pending-check-timer) keep 1 024 MB: a tick may perform a checkpoint's sends (436 MB peak measured at a 64 MiB guest)",
    kind: 'integer',
    unit: 'MB',
    default: 256,
    bounds: { min: 128, max: 10_240 },
    deployed: { context: 'monitorMemoryMb' },
  },
  {
    name: 'alarmTopic',
    meaning:
      'create: the stack makes an SNS topic that its CloudWatch alarms notify (subscribe to it yourself); off: alarms only change state',
    kind: 'enum',
    unit: '',
    default: 'off',
    values: ['off', 'create'],
    deployed: { context: 'alarmTopic' },
  },
];

/** The parameter named `name`. @throws Error when there is none (a programming error). */
export function parameter(name: string): Parameter {
  const p = PARAMETERS.find((x) => x.name === name);
  if (!p) throw new Error(`no parameter named ${name}`);
  return p;
}

/** Parameters a scenario file may set, in order. */
export const SCENARIO_PARAMETERS: readonly Parameter[] = PARAMETERS.filter((p) => p.scenario !== undefined);

/** Parameters `colo run` has a flag for, in `--help` order. */
export const FLAG_PARAMETERS: readonly Parameter[] = PARAMETERS.filter((p) => p.flag !== undefined);

/** Parameters of a deployed stack, in `cdk.json` order. */
export const DEPLOYED_PARAMETERS: readonly (Parameter & { deployed: Deployed })[] = PARAMETERS.filter(
  (p): p is Parameter & { deployed: Deployed } => p.deployed !== undefined,
);
