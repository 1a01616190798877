/**
 * The ColoStacks the integration tests run on: the stack set `test/integration/colo-it-stacks.json`, deployed
 * to LocalStack with `scripts/deploy-local.sh --stack-set` (one synthesis, the stacks in parallel) once per
 * test run — by the first file that needs them; the others reuse them — and destroyed by the global
 * teardown (`test/integration/setup/colo-stacks.global.ts`). Stack names and VM ids get the run's id as a
 * suffix (`ColoItLive-<run>`, `it-live-<run>`), so runs sharing one LocalStack never touch each other.
 *
 * - `live` (ColoItLive, VM `it-live`): a real session — fixed policy with a 128 KiB threshold, so a
 *   background round leaves at almost every 1 s pending check; checkpoints every 4 s; 8 MiB guest.
 * - `timer` (ColoItTimer, VM `it-timer`): the checkpoint tick chain is the primary's only clock (pending
 *   checks hourly, policy none), so every checkpoint is started by `checkpoint-timer`; its chains are
 *   started by the stack's EventBridge minute rule, never by the tests; heartbeat timeout 15 s.
 * - `manual` (ColoItManual, VM `it-manual`): every timer hourly and no heartbeat watchdog, so the primary
 *   stays silent after start and a test can play a (faulty) primary on the P → S channel itself.
 * - `faults` (ColoItFaults, VM `it-faults`): the **default** timing parameters (heartbeat 1 s / 10 s, apply
 *   timeout 5 s, checkpoint timeout 30 s), a 4 MiB guest, checkpoints every 4 s, fixed policy with a 64 KiB
 *   threshold, and the fault hook on (`testFaults: allow`): tests arm faults in the state store.
 *   It is the stack `npm run soak:localstack` deploys (SOAK_STACK_CONTEXT); its short soak runs there too.
 *
 * The deploy registers each VM and starts its timers; the run stops the VMs of `live`, `timer` and `faults`
 * at once ({@link DORMANT_REASON}) and each file starts its own VM from nothing ({@link ColoTestStack.start})
 * and stops it when done. A VM replicating through the whole run loaded LocalStack for every other file
 * (three VMs with 1 s chains: CI's integration files took twice as long, and the live VM had failed over
 * under that load before its own file ran).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetFunctionConfigurationCommand, InvokeCommand } from '@aws-sdk/client-lambda';
import { controlStateKey, type TimerName } from '../../../lambda/adapters/contract.ts';
import { S3DeltaStore } from '../../../lambda/adapters/s3-delta-store.ts';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { S3VmRegistry } from '../../../lambda/adapters/s3-vm-registry.ts';
import { SecretsManagerKeySource } from '../../../lambda/adapters/secrets-manager-keys.ts';
import { vmEnvironment } from '../../../lambda/handlers/common/fleet-entry.ts';
import { paramsFromEnv } from '../../../lambda/handlers/common/params.ts';
import { type ChainProgress, readChainProgress } from '../../../lambda/handlers/common/tick-chain.ts';
import type { ColoParams } from '../../../src/engine/params.ts';
import { markFailedOver } from '../../../src/runtime/cloud/control.ts';
import {
  Keyring,
  type LogRecord,
  type PrimaryDocument,
  readLog,
  readPrimaryDocument,
  readSecondaryDocument,
  SealedDeltaStore,
  type SecondaryDocument,
} from '../../../src/runtime/cloud/index.ts';
import { clientsFor, endpointFromEnv } from '../../../src/runtime/localstack/aws.ts';
import { startFromNothing } from '../../../src/runtime/localstack/backend.ts';
import {
  destroyStack as destroyDeployedStack,
  readOutputsFile,
  type StackOutputs,
} from '../../../src/runtime/localstack/stack.ts';
import { clients, ENDPOINT } from './aws.ts';

const exec = promisify(execFile);

/** Which test stack. */
export type Role = 'live' | 'timer' | 'manual' | 'faults';

/** Every role. */
export const ROLES: readonly Role[] = ['live', 'timer', 'manual', 'faults'];

/** The stack set the tests deploy (stack name → context; `npm run deploy:local -- --stack-set <file>`). */
export const STACK_SET_FILE = 'test/integration/colo-it-stacks.json';

/** Base stack name of each role (the keys of {@link STACK_SET_FILE}); a run adds `-<run id>`. */
export const STACK_NAMES: Readonly<Record<Role, string>> = {
  live: 'ColoItLive',
  timer: 'ColoItTimer',
  manual: 'ColoItManual',
  faults: 'ColoItFaults',
};

/** Where per-run files go: the run's stack set, its outputs, its deploy log and record. */
export const OUT_DIR = 'cdk-outputs';

/** The stop that keeps a test stack's VM quiet until its file starts it (and after the file is done). */
export const DORMANT_REASON = 'dormant: an integration file starts this VM when it runs';

/** The roles whose VMs replicate on their own timers (`manual`'s are hourly: it stays as deployed). */
const TIMED_ROLES: readonly Role[] = ['live', 'timer', 'faults'];

/** A run older than this is a crashed one: its stacks are destroyed by the next run, ms. */
export const STALE_RUN_MS = 60 * 60 * 1000;

/** Stack names of a run. */
export function runStackNames(runId: string): Record<Role, string> {
  return {
    live: `${STACK_NAMES.live}-${runId}`,
    timer: `${STACK_NAMES.timer}-${runId}`,
    manual: `${STACK_NAMES.manual}-${runId}`,
    faults: `${STACK_NAMES.faults}-${runId}`,
  };
}

/** The files of a run. */
export function runFiles(runId: string): { set: string; outputs: string; log: string; record: string } {
  const base = join(OUT_DIR, `colo-it-${runId}`);
  return {
    set: `${base}.json`,
    outputs: `${base}.outputs.json`,
    log: `${base}.deploy.log`,
    record: `${base}.run.json`,
  };
}

/** What a run records about its deploy. */
export interface RunRecord {
  runId: string;
  stacks: string[];
  /** Deploy script run (synthesis + parallel deploys), ms. */
  deployMs: number;
  /** Including the destruction of stale stacks, ms. */
  totalMs: number;
  /** When the deploy finished, ms since the Unix epoch. */
  deployedAt: number;
}

/** Reads a run's record, if it deployed. */
export function readRunRecord(runId: string): RunRecord | undefined {
  try {
    return JSON.parse(readFileSync(runFiles(runId).record, 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}

/** Writes the run's stack set: the template's stacks and VM ids with the run id appended. */
function writeRunStackSet(runId: string): string {
  const template = JSON.parse(readFileSync(STACK_SET_FILE, 'utf8')) as Record<
    string,
    Record<string, unknown>
  >;
  const set = Object.fromEntries(
    Object.entries(template).map(([name, ctx]) => [
      `${name}-${runId}`,
      { ...ctx, vmId: `${String(ctx.vmId)}-${runId}` },
    ]),
  );
  const file = runFiles(runId).set;
  writeFileSync(file, `${JSON.stringify(set, null, 2)}\n`);
  return file;
}

/** Environment of the deploy script (LocalStack endpoint, test credentials). */
function deployEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL: ENDPOINT,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    FORCE_COLOR: '0',
  };
}

/** Destroys a test stack (src/runtime/localstack/stack.ts), its function log groups included. */
export function destroyStack(stackName: string): Promise<void> {
  return destroyDeployedStack(clientsFor(endpointFromEnv()), stackName, clients().logs);
}

/**
 * Deploys the run's stack set with the project's deploy script (cloud assembly in a temporary folder, log
 * in the run's deploy log).
 *
 * @returns How long it took, ms.
 */
async function deploySet(runId: string): Promise<number> {
  const t0 = Date.now();
  const files = runFiles(runId);
  const set = writeRunStackSet(runId);
  const cdkOut = mkdtempSync(join(tmpdir(), `colo-it-cdk-${runId}-`));
  const args = ['scripts/deploy-local.sh', '--stack-set', set, '--outputs-file', files.outputs];
  try {
    const r = await exec('bash', args, {
      env: { ...deployEnv(), COLO_CDK_OUT: cdkOut },
      timeout: 480_000,
      maxBuffer: 64 << 20,
    });
    writeFileSync(files.log, r.stdout + r.stderr);
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message?: string };
    const log = `${x.stdout ?? ''}${x.stderr ?? ''}`;
    writeFileSync(files.log, log);
    throw new Error(`deploying ${set} failed: ${x.message}\n${log.split('\n').slice(-30).join('\n')}`);
  } finally {
    rmSync(cdkOut, { recursive: true, force: true });
  }
  return Date.now() - t0;
}

/**
 * Destroys test stacks of crashed runs: any `ColoIt<Role>-<run>` stack created more than
 * {@link STALE_RUN_MS} ago (a run takes minutes; younger ones may belong to a run in progress).
 */
async function destroyStaleStacks(): Promise<string[]> {
  const { cfn } = clients();
  const stale: string[] = [];
  let token: string | undefined;
  const pattern = new RegExp(`^(${Object.values(STACK_NAMES).join('|')})(-[a-z0-9]+)?$`);
  do {
    const r = await cfn.send(new DescribeStacksCommand(token ? { NextToken: token } : {}));
    for (const st of r.Stacks ?? []) {
      const name = st.StackName ?? '';
      const age = Date.now() - (st.CreationTime?.getTime() ?? Date.now());
      if (pattern.test(name) && st.StackStatus !== 'DELETE_COMPLETE' && age > STALE_RUN_MS) stale.push(name);
    }
    token = r.NextToken;
  } while (token);
  await Promise.all(stale.map((n) => destroyStack(n)));
  return stale;
}

/** Destroys the stacks of a run and removes its files. */
export async function destroyRun(runId: string): Promise<string[]> {
  const record = readRunRecord(runId);
  const names = record?.stacks ?? Object.values(runStackNames(runId));
  await Promise.all(names.map((n) => destroyStack(n)));
  for (const f of Object.values(runFiles(runId))) rmSync(f, { force: true });
  return names;
}

/** A deployed test stack: its outputs, the engine parameters its functions run with, and readers. */
export class ColoTestStack {
  readonly state: S3StateStore;
  /** The delta objects as stored (sealed). */
  readonly deltas: S3DeltaStore;
  /**
   * The VM's replication keys, read from the stack's secret as the functions read them (the tests run
   * with LocalStack's admin credentials: they may read it; a real attacker may not).
   */
  readonly keys: Keyring;
  /** The delta store as the functions see it: sealing on put, authenticating on get. */
  readonly sealedDeltas: SealedDeltaStore;

  constructor(
    readonly role: Role,
    readonly stackName: string,
    readonly outputs: Readonly<Record<string, string>>,
    readonly params: ColoParams,
    /** When the deploy of this run finished, ms since the Unix epoch. */
    readonly deployedAt: number,
    /** The outputs as the LocalStack backend reads them (queues, functions). */
    readonly stackOutputs: StackOutputs,
  ) {
    const { s3 } = clients();
    this.state = new S3StateStore({ bucket: this.output('BucketName'), client: s3 });
    this.deltas = new S3DeltaStore({ bucket: this.output('BucketName'), client: s3 });
    this.keys = new Keyring({
      vmId: params.vmId,
      source: new SecretsManagerKeySource({
        secretId: this.output('ReplicationKeySecretArn'),
        client: clients().secrets,
      }),
    });
    this.sealedDeltas = new SealedDeltaStore(this.deltas, this.keys);
  }

  /** One output. @throws when the stack has no such output. */
  output(key: string): string {
    const v = this.outputs[key];
    if (!v) throw new Error(`${this.stackName} has no output ${key}`);
    return v;
  }

  /** VM id. */
  get vmId(): string {
    return this.params.vmId;
  }

  primaryDoc(): Promise<PrimaryDocument | undefined> {
    return readPrimaryDocument(this.state, this.params);
  }

  secondaryDoc(): Promise<SecondaryDocument | undefined> {
    return readSecondaryDocument(this.state, this.params);
  }

  /** A node's metrics log from record `since` on. */
  async log(node: 'primary' | 'secondary', since = 0): Promise<LogRecord[]> {
    return (await readLog(this.state, this.vmId, node, since)).records;
  }

  /** A JSON document of the stack's own (control, timer), or undefined. */
  async json<T>(key: string): Promise<T | undefined> {
    const d = await this.state.load(key);
    return d ? (JSON.parse(Buffer.from(d.value).toString('utf8')) as T) : undefined;
  }

  control(): Promise<{ failedOver: boolean; reason: string | null; at: number | null } | undefined> {
    return this.json(controlStateKey(this.vmId));
  }

  /** Where a chain stands (its timer document, and for the primary's chains their claims in its document). */
  timer(timer: TimerName): Promise<ChainProgress | undefined> {
    return readChainProgress(this.state, this.vmId, timer);
  }

  /**
   * Starts the VM from nothing, as `colo run --backend localstack` does: stops it (if it runs), waits until
   * its documents and queues are quiet, forgets the previous run (queues purged, node documents, logs and
   * deltas deleted, chains stale), clears the control document and — with `arm: 'tick-arm'` — arms the
   * chains as an operator would. With `arm: 'minute-rule'` it leaves that to the stack's minute rule.
   */
  async start(arm: 'tick-arm' | 'minute-rule'): Promise<void> {
    const quiet = await startFromNothing(
      clientsFor(endpointFromEnv()),
      this.stackOutputs,
      this.state,
      this.vmId,
      {
        reason: DORMANT_REASON,
        quietTimeoutMs: 180_000,
        sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
      },
    );
    if (!quiet) throw new Error(`${this.stackName}: ${this.vmId} did not go quiet within 180 s of its stop`);
    if (arm === 'tick-arm')
      await this.invoke('TickArmFunctionName', { source: 'colo.test', vmId: this.vmId });
  }

  /** Stops the VM's replication (the control flag: its chains end at their next tick). */
  async stop(): Promise<void> {
    await markFailedOver(this.state, this.vmId, DORMANT_REASON, Date.now());
  }

  /** Invokes a function (by output key, e.g. `TickArmFunctionName`) and returns its parsed result. */
  async invoke(functionOutput: string, payload: unknown): Promise<unknown> {
    const r = await clients().lambda.send(
      new InvokeCommand({
        FunctionName: this.output(functionOutput),
        Payload: Buffer.from(JSON.stringify(payload)),
      }),
    );
    const text = Buffer.from(r.Payload ?? new Uint8Array()).toString('utf8');
    if (r.FunctionError) throw new Error(`${functionOutput} failed: ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /**
   * Log lines of a function (by output key), oldest first: each JSON line parsed (Powertools logs), other
   * lines as `{ raw }`. Reads every stream of the function's log group.
   */
  async functionLogs(functionOutput: string): Promise<Record<string, unknown>[]> {
    const { lambda, logs } = clients();
    const fn = this.output(functionOutput);
    const conf = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn }));
    const groups = [...new Set([conf.LoggingConfig?.LogGroup, `/aws/lambda/${fn}`].filter(Boolean))];
    const lines: { t: number; line: Record<string, unknown> }[] = [];
    for (const group of groups as string[]) {
      let streams: string[] = [];
      try {
        const s = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group }));
        streams = (s.logStreams ?? []).flatMap((x) => (x.logStreamName ? [x.logStreamName] : []));
      } catch {
        continue;
      }
      for (const stream of streams) {
        let token: string | undefined;
        for (let page = 0; page < 50; page++) {
          const r = await logs.send(
            new GetLogEventsCommand({
              logGroupName: group,
              logStreamName: stream,
              startFromHead: true,
              ...(token ? { nextToken: token } : {}),
            }),
          );
          for (const e of r.events ?? []) {
            const text = (e.message ?? '').trim();
            // Lambda's console format: <time>\t<request id>\t<LEVEL>\t<message>; Powertools prints bare JSON.
            const json = text.slice(text.indexOf('{'));
            let line: Record<string, unknown>;
            try {
              line = json.startsWith('{') ? (JSON.parse(json) as Record<string, unknown>) : { raw: text };
            } catch {
              line = { raw: text };
            }
            lines.push({ t: e.timestamp ?? 0, line });
          }
          if (!r.nextForwardToken || r.nextForwardToken === token || (r.events ?? []).length === 0) break;
          token = r.nextForwardToken;
        }
      }
    }
    return lines.sort((a, b) => a.t - b.t).map((x) => x.line);
  }
}

/** Builds the handle of a deployed stack from the run's outputs file and its deployed environment. */
async function open(runId: string, role: Role, deployedAt: number): Promise<ColoTestStack> {
  const stackName = runStackNames(runId)[role];
  const file = runFiles(runId).outputs;
  const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, string>>;
  const outputs = all[stackName];
  if (!outputs) throw new Error(`${file} has no outputs for ${stackName}`);
  // The engine parameters exactly as the functions build them: the VM's registered config (vms/<vmId>.json,
  // written by deploy-local) over the function's stack-wide environment.
  const conf = await clients().lambda.send(
    new GetFunctionConfigurationCommand({ FunctionName: outputs.SecondaryApplyFunctionName }),
  );
  const config = await new S3VmRegistry({ bucket: outputs.BucketName as string, client: clients().s3 }).get(
    outputs.VmId as string,
  );
  if (!config)
    throw new Error(`${stackName}: VM ${outputs.VmId} is not registered (vms/${outputs.VmId}.json)`);
  const params = paramsFromEnv(vmEnvironment(conf.Environment?.Variables ?? {}, config));
  return new ColoTestStack(role, stackName, outputs, params, deployedAt, readOutputsFile(file, stackName));
}

/**
 * The test stacks of this run: the first call of the run destroys stale stacks of crashed runs,
 * bootstraps if needed and deploys them all from one synthesis; later calls (other files of the same run)
 * reuse them.
 *
 * @param runId - The run's id (provided by the global setup; lower-case letters and digits).
 */
export async function ensureColoStacks(runId: string): Promise<Record<Role, ColoTestStack>> {
  if (!/^[a-z0-9]{1,12}$/.test(runId)) throw new Error(`run id must be 1-12 of [a-z0-9], got ${runId}`);
  mkdirSync(OUT_DIR, { recursive: true });
  let record = readRunRecord(runId);
  if (!record) {
    const t0 = Date.now();
    const stale = await destroyStaleStacks();
    if (stale.length > 0)
      console.log(`[colo-it] destroyed stale stacks of crashed runs: ${stale.join(', ')}`);
    const names = Object.values(runStackNames(runId));
    console.log(`[colo-it] deploying ${names.join(', ')} (${STACK_SET_FILE}) ...`);
    const deployMs = await deploySet(runId);
    const deployedAt = Date.now();
    const stacks = await openAll(runId, deployedAt);
    // Quiet until their files run (see the header).
    await Promise.all(TIMED_ROLES.map((r) => stacks[r].stop()));
    record = { runId, stacks: names, deployMs, totalMs: Date.now() - t0, deployedAt };
    writeFileSync(runFiles(runId).record, JSON.stringify(record, null, 2));
    console.log(`[colo-it] deployed in ${deployMs} ms (${record.totalMs} ms with clean-up); VMs dormant`);
    return stacks;
  }
  return openAll(runId, record.deployedAt);
}

async function openAll(runId: string, deployedAt: number): Promise<Record<Role, ColoTestStack>> {
  const entries = await Promise.all(ROLES.map(async (r) => [r, await open(runId, r, deployedAt)] as const));
  return Object.fromEntries(entries) as Record<Role, ColoTestStack>;
}
