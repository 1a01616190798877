/**
 * `colo run --backend localstack`: runs the deployed stack's VM for a while on LocalStack — the real
 * functions, queues, tick chains and bucket, on the wall clock — and reports it in the same format as an
 * embedded run, with the embedded runtime's modelled figures for the same parameters next to the measured
 * ones. docs/conformance.md describes the run's life cycle (reset, start, run, stop, read back).
 */

import { InvokeCommand } from '@aws-sdk/client-lambda';
import { DeleteObjectCommand, HeadBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, PurgeQueueCommand } from '@aws-sdk/client-sqs';
import {
  type ChainName,
  controlStateKey,
  MONITOR_DOCUMENT_KEY,
  PULSE_DOCUMENT_KEY,
  STACK_CHAIN_ID,
  STACK_TIMER_NAMES,
  STATE_PREFIX,
  TIMER_NAMES,
  timerStateKey,
} from '../../../lambda/adapters/contract.ts';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { listAllVms, S3VmRegistry } from '../../../lambda/adapters/s3-vm-registry.ts';
import {
  type ControlDocument,
  markFailedOver,
  readControl,
} from '../../../lambda/handlers/common/control.ts';
import { SINGLE_VM_STACK } from '../../cost/model.ts';
import { CURRENT_PRICES } from '../../cost/prices.ts';
import { type CostSection, costCaution, costSection } from '../../cost/section.ts';
import {
  isFormat1MemoryDigest,
  memoryDigest,
  memoryDigestProblem,
  zeroImageDigest,
} from '../../engine/memory/digest.ts';
import type { CheckpointRecord, RoundRecord } from '../../engine/metrics/records.ts';
import { summarise } from '../../engine/metrics/summary.ts';
import { type ColoParams, pageCount } from '../../engine/params.ts';
import { StateConflictError, type StateStore } from '../../engine/ports.ts';
import { chainPeriodMs } from '../../parameters/tick-chains.ts';
import { LEAN_INVOCATION } from '../cloud/driver.ts';
import type { LogRecord } from '../cloud/log-record.ts';
import { readLog } from '../cloud/metrics-log.ts';
import { readPrimaryDocument, readSecondaryDocument } from '../cloud/status.ts';
import type { LinkParams } from '../embedded/link.ts';
import { runEmbedded, TOTALS_ONLY } from '../embedded/run.ts';
import { type PolicyReport, REPORT_VERSION, type RunOutcome, type RunReport } from '../report.ts';
import type { Verification } from '../verify.ts';
import { BackendError, type Clients, checkLocalStack, emptyBucket } from './aws.ts';
import { deployedParams, describeStackOutputs, readOutputsFile, type StackOutputs } from './stack.ts';
import { deltaExpiryDaysOf, measureStoredBytes } from './stored-bytes.ts';
import { readLoggedUsage } from './usage-logs.ts';

/** What to run. */
export interface LocalStackRunOptions {
  /** SDK clients for the emulator. */
  clients: Clients;
  /** Stack to use: its name (outputs read from CloudFormation) … */
  stackName?: string;
  /** … or a `cdk deploy --outputs-file` file (with `stackName` to pick one of several stacks). */
  outputsFile?: string;
  /** Wall-clock time to let the VM replicate, ms. */
  durationMs: number;
  /** Link for the modelled run next to the measured one. */
  link: LinkParams;
  /** Progress lines (for stderr). */
  progress?: (line: string) => void;
  /** How often a progress line is written while the VM runs, ms; default 5 000. */
  progressEveryMs?: number;
  /** Longest wait for in-flight work to finish at a reset or a stop, ms; default 60 000. */
  quietTimeoutMs?: number;
  /** Waits `ms` (tests may shorten nothing here: the run is real). */
  sleep?: (ms: number) => Promise<void>;
}

/** Where a LocalStack report ran. */
export interface LocalStackTarget {
  /** Emulator endpoint. */
  endpoint: string;
  /** Stack and VM. */
  stackName: string;
  vmId: string;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Reason written into the control document when a run stops replication. */
export const STOP_REASON = 'stopped by colo run --backend localstack';

/**
 * Runs the stack's VM on LocalStack for `durationMs` of wall-clock time and reports it.
 *
 * Life cycle: check LocalStack and the stack → stop the VM (control flag) and wait until nothing moves →
 * purge the channels and tick queues, delete the node documents, logs and deltas, mark the tick chains
 * stale → clear the flag and invoke `tick-arm` (the chains start now instead of at the next minute; the
 * heartbeat chain starts the secondary) → wait → stop again and wait until the last transaction finished →
 * read the metrics logs and node documents back. Replication is left stopped.
 *
 * @throws BackendError (LocalStack unreachable, stack missing or not a ColoStack).
 */
export async function runOnLocalStack(options: LocalStackRunOptions): Promise<RunReport> {
  const { clients, durationMs } = options;
  const say = options.progress ?? (() => {});
  const sleep = options.sleep ?? realSleep;
  await checkLocalStack(clients.endpoint, ['s3', 'sqs', 'lambda', 'cloudformation']);
  const outputs = options.outputsFile
    ? readOutputsFile(options.outputsFile, options.stackName)
    : await describeStackOutputs(clients, options.stackName ?? 'ColoServerless');
  try {
    await clients.s3.send(new HeadBucketCommand({ Bucket: outputs.bucketName }));
  } catch {
    throw new BackendError(
      `bucket ${outputs.bucketName} of stack ${outputs.stackName} is not on ${clients.endpoint.url}: ` +
        'LocalStack keeps nothing across restarts; redeploy with `npm run deploy:local`',
    );
  }
  const params = await deployedParams(clients, outputs);
  // The reset below purges the stack's queues, which a fleet stack shares between its VMs.
  const fleet = await listAllVms(new S3VmRegistry({ bucket: outputs.bucketName, client: clients.s3 }));
  if (fleet.some((v) => v !== params.vmId)) {
    throw new BackendError(
      `stack ${outputs.stackName} serves ${fleet.length} VMs (${fleet.slice(0, 3).join(', ')}${fleet.length > 3 ? ', …' : ''}): ` +
        '`colo run --backend localstack` resets queues they share; run it on a one-VM stack (npm run fleet:localstack measures fleets)',
    );
  }
  const state = new S3StateStore({ bucket: outputs.bucketName, client: clients.s3 });
  const vm = `${outputs.stackName}/${params.vmId}`;

  say(`[localstack] ${vm}: stopping replication and waiting for in-flight work before the reset`);
  await startFromNothing(clients, outputs, state, params.vmId, {
    reason: `${STOP_REASON} (reset)`,
    quietTimeoutMs: options.quietTimeoutMs ?? 60_000,
    sleep,
  });

  say(`[localstack] ${vm}: starting the tick chains (tick-arm); running ${(durationMs / 1000).toFixed(0)} s`);
  const t0 = performance.now();
  const startedAt = Date.now();
  const armed = await clients.lambda.send(
    new InvokeCommand({
      FunctionName: outputs.tickArmFunction,
      Payload: Buffer.from(JSON.stringify({ source: 'colo.run', vmId: params.vmId })),
    }),
  );
  if (armed.FunctionError) {
    throw new BackendError(
      `tick-arm (${outputs.tickArmFunction}) failed: ${Buffer.from(armed.Payload ?? []).toString('utf8')}`,
    );
  }
  const every = options.progressEveryMs ?? 5000;
  for (let elapsed = 0; elapsed < durationMs; ) {
    const step = Math.min(every, durationMs - elapsed);
    await sleep(step);
    elapsed = performance.now() - t0;
    const log = await readLog(state, params.vmId, 'primary');
    const c = log.records.filter((r) => r.type === 'checkpoint').length;
    const r = log.records.filter((x) => x.type === 'round').length;
    say(
      `[localstack] ${(Math.min(elapsed, durationMs) / 1000).toFixed(0)} s of ${(durationMs / 1000).toFixed(0)} s: ` +
        `${c} checkpoint${c === 1 ? '' : 's'}, ${r} background round${r === 1 ? '' : 's'}`,
    );
  }

  // Read before our own stop: a failover during the run is in the control document already.
  let control = await readControl(state, params.vmId);
  say(`[localstack] ${vm}: stopping replication; waiting for the last transaction to finish`);
  const stoppedAt = Date.now();
  await markFailedOver(state, params.vmId, STOP_REASON, stoppedAt);
  const quiet = await waitQuiet(clients, outputs, params.vmId, options.quietTimeoutMs ?? 60_000, sleep);
  const wallMs = performance.now() - t0;
  const decided = await claimedAsItStopped(state, params.vmId, control);
  if (decided !== control) control = decided;

  const failedOver = control.failedOver && control.reason !== STOP_REASON;
  const run = await collect(
    clients,
    outputs,
    state,
    params,
    quiet,
    failedOver ? (control.at ?? startedAt) : undefined,
  );
  say(`[localstack] modelled run of the same parameters on the embedded runtime`);
  const modelled = runEmbedded({ params, link: options.link, durationMs, keep: TOTALS_ONLY });
  const outcome = localStackOutcome(control, startedAt, run.final.committedEpoch);
  const measured = await measureCost(clients, outputs, params, startedAt, stoppedAt, say);
  const caution =
    'error' in measured
      ? undefined
      : costCaution(run.summary.checkpoints, outcome.state === 'replicating' ? undefined : outcome.text);
  const cost = caution === undefined ? measured : { ...measured, caution };
  const report: PolicyReport = {
    ...run,
    outcome,
    wallMs,
    modelled: summarise(modelled.checkpoints, modelled.roundTotals),
  };
  return {
    version: REPORT_VERSION,
    backend: 'localstack',
    scenario: {
      name: `localstack:${outputs.stackName}`,
      params,
      link: options.link,
      durationMs,
      policies: [params.policy],
    },
    runs: [report],
    localstack: { endpoint: clients.endpoint.url, stackName: outputs.stackName, vmId: params.vmId },
    cost,
  };
}

/** Memory size of the stack's functions, MB (lib/constructs/colo-function.ts); heartbeat-monitor and tick-arm run at context monitorMemoryMb, which their usage records carry. */
const FUNCTION_MEMORY_MB = 1024;

/**
 * The run's cost per VM-month: the functions' usage records from CloudWatch Logs for the run's window
 * (chains started → replication stopped: the drain after the stop is not the VM's steady state), priced
 * by the cost model; the driver's own requests
 * are listed apart. A failure to read the logs is reported in the section, not thrown: the run stands.
 */
async function measureCost(
  clients: Clients,
  outputs: StackOutputs,
  params: ColoParams,
  startMs: number,
  endMs: number,
  say: (line: string) => void,
): Promise<CostSection | { error: string }> {
  say(`[localstack] reading the functions' usage records (CloudWatch Logs) for the cost model`);
  try {
    const logged = await readLoggedUsage(clients, outputs.functionNames, startMs, endMs);
    if (logged.records === 0) {
      return { error: "no usage records in the functions' logs: was the stack deployed from this version?" };
    }
    return costSection(
      {
        byFunction: logged.byFunction,
        windowMs: endMs - startMs,
        vms: 1,
        deployment: {
          ...SINGLE_VM_STACK,
          metricsPerVm: logged.metricSeries.perVm,
          sharedMetrics: logged.metricSeries.total - logged.metricSeries.perVm,
        },
        storedBytesPerVm: (
          await measureStoredBytes(
            clients.s3,
            outputs.bucketName,
            [params.vmId],
            { startMs, endMs },
            (await deltaExpiryDaysOf(clients.s3, outputs.bucketName)) ?? 1,
          )
        ).steadyStateBytes,
        prices: CURRENT_PRICES,
      },
      {
        checkpointDelayMs: params.checkpointDelayMs,
        pendingCheckIntervalMs: params.pendingCheckIntervalMs,
        heartbeatIntervalMs: params.heartbeatIntervalMs,
        heartbeatChainMs: chainPeriodMs('heartbeat', params.heartbeatIntervalMs),
        // What the deployed functions do (this checkout's code: `colo run` and the deploy share it).
        heartbeatMessages: LEAN_INVOCATION.heartbeatMessages ?? true,
        // The deployed stack runs the pulse and the monitor (docs/cloud.md "The pulse and the monitor").
        stackChains: true,
        memoryMb: FUNCTION_MEMORY_MB,
      },
      clients.meter.usage,
    );
  } catch (e) {
    return { error: `usage records could not be read: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Messages on a queue: visible, in flight and delayed. */
export async function queueDepth(clients: Clients, queueUrl: string): Promise<number> {
  const r = await clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  const a = r.Attributes ?? {};
  return (
    Number(a.ApproximateNumberOfMessages ?? 0) +
    Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

/**
 * Waits until the VM's node documents and logs stop changing and both channels are empty for 2 s.
 *
 * @returns False when that did not happen within `timeoutMs`.
 */
export async function waitQuiet(
  clients: Clients,
  outputs: StackOutputs,
  vmId: string,
  timeoutMs: number,
  sleep: (ms: number) => Promise<void>,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  let since = performance.now();
  for (;;) {
    const listed = await clients.s3.send(
      new ListObjectsV2Command({ Bucket: outputs.bucketName, Prefix: `${STATE_PREFIX}${vmId}/` }),
    );
    const docs = (listed.Contents ?? [])
      .filter((o) => !o.Key?.includes('/timers/') && !o.Key?.endsWith('/control.json'))
      .map((o) => `${o.Key}@${o.ETag}`)
      .join(',');
    const depth =
      (await queueDepth(clients, outputs.p2sQueueUrl)) + (await queueDepth(clients, outputs.s2pQueueUrl));
    const snapshot = `${docs}|${depth}`;
    const now = performance.now();
    if (snapshot !== last || depth > 0) {
      last = snapshot;
      since = now;
    } else if (now - since >= 2000) return true;
    if (now >= deadline) return false;
    await sleep(500);
  }
}

/** Forgets the VM's previous run (call it when the VM is stopped and quiet): queues purged, node documents, logs and deltas deleted, chains stale. */
export async function reset(
  clients: Clients,
  outputs: StackOutputs,
  state: S3StateStore,
  vmId: string,
): Promise<void> {
  const queues = [
    outputs.p2sQueueUrl,
    outputs.s2pQueueUrl,
    outputs.p2sDlqUrl,
    outputs.s2pDlqUrl,
    ...Object.values(outputs.tickQueueUrls),
  ];
  for (const q of queues) await clients.sqs.send(new PurgeQueueCommand({ QueueUrl: q }));
  await emptyBucket(clients.s3, outputs.bucketName, `${STATE_PREFIX}${vmId}/node/`);
  await emptyBucket(clients.s3, outputs.bucketName, `${STATE_PREFIX}${vmId}/log/`);
  await emptyBucket(clients.s3, outputs.bucketName, `deltas/${vmId}/`);
  // The stack's pulse and monitor documents describe the run being forgotten (a one-VM stack: its VM's).
  for (const key of [PULSE_DOCUMENT_KEY, MONITOR_DOCUMENT_KEY]) {
    await clients.s3.send(new DeleteObjectCommand({ Bucket: outputs.bucketName, Key: STATE_PREFIX + key }));
  }
  // Stale chain documents make tick-arm start new generations; ticks of the old ones are then dropped.
  // The purge above took the stack chains' ticks too: they are made stale the same way.
  const chains: [string, ChainName][] = [
    ...TIMER_NAMES.map((t): [string, ChainName] => [vmId, t]),
    ...STACK_TIMER_NAMES.map((t): [string, ChainName] => [STACK_CHAIN_ID, t]),
  ];
  for (const [owner, timer] of chains) {
    const key = timerStateKey(owner, timer);
    for (let attempt = 1; attempt <= 5; attempt++) {
      const d = await state.load(key);
      if (!d) break;
      const doc = JSON.parse(Buffer.from(d.value).toString('utf8')) as Record<string, unknown>;
      try {
        await state.save(key, Buffer.from(JSON.stringify({ ...doc, lastTickAt: 0 }), 'utf8'), d.etag);
        break;
      } catch (e) {
        if (!(e instanceof StateConflictError) || attempt === 5) throw e;
      }
    }
  }
}

/**
 * Readies a VM to start from nothing: stops its replication (the control flag, with `reason`), waits until
 * it is quiet ({@link waitQuiet}), forgets the previous run ({@link reset}) and deletes the control document,
 * so that the next arm (tick-arm, or the minute rule) starts it afresh.
 *
 * @returns False when it did not go quiet within `quietTimeoutMs` (the reset is done anyway).
 */
export async function startFromNothing(
  clients: Clients,
  outputs: StackOutputs,
  state: S3StateStore,
  vmId: string,
  o: { reason: string; quietTimeoutMs: number; sleep: (ms: number) => Promise<void> },
): Promise<boolean> {
  await markFailedOver(state, vmId, o.reason, Date.now());
  const quiet = await waitQuiet(clients, outputs, vmId, o.quietTimeoutMs, o.sleep);
  await reset(clients, outputs, state, vmId);
  await clients.s3.send(
    new DeleteObjectCommand({ Bucket: outputs.bucketName, Key: STATE_PREFIX + controlStateKey(vmId) }),
  );
  return quiet;
}

/** Reads the run back: logs, node documents, dead-letter queues; checks the replica. */
async function collect(
  clients: Clients,
  outputs: StackOutputs,
  state: S3StateStore,
  params: ColoParams,
  quiet: boolean,
  endedAt: number | undefined,
): Promise<Omit<PolicyReport, 'wallMs'>> {
  const primaryLog = (await readLog(state, params.vmId, 'primary')).records;
  const secondaryLog = (await readLog(state, params.vmId, 'secondary')).records;
  const checkpoints: CheckpointRecord[] = [];
  const rounds: RoundRecord[] = [];
  for (const r of primaryLog) {
    if (r.type === 'checkpoint') checkpoints.push(r.data);
    else if (r.type === 'round') rounds.push(r.data);
  }
  const primary = await readPrimaryDocument(state, params);
  const secondary = await readSecondaryDocument(state, params);
  const empty = new Uint32Array(pageCount(params));
  const final = {
    primaryDigest: memoryDigest(params.seed, primary?.state.versions ?? empty),
    committedDigest: memoryDigest(params.seed, secondary?.state.committed ?? empty),
    runningDigest: memoryDigest(params.seed, secondary?.state.running ?? empty),
    committedEpoch: secondary?.state.committedEpoch ?? 0,
  };
  const dlq = (await queueDepth(clients, outputs.p2sDlqUrl)) + (await queueDepth(clients, outputs.s2pDlqUrl));
  const verification = verifyLogs(params, checkpoints, primaryLog, secondaryLog, final, {
    quiet,
    dlq,
    started: primary !== undefined && secondary !== undefined,
    ...(endedAt !== undefined ? { endedAt } : {}),
  });
  return {
    policy: params.policy,
    summary: summarise(checkpoints, rounds),
    verification,
    final,
    messages: (primary?.state.outSeq ?? 0) + (secondary?.state.outSeq ?? 0),
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * The control document with a claim that landed after `before` was read — between that read and the run's
 * own stop, a checkpoint's wait ran out (review D: "outcome replicating" over a secondary that had taken
 * over, which then counted as a divergence) — as the run's failover: reason and time from the winner's
 * `colo-exit` record. `before` itself when it already showed a failover, or no side claimed.
 */
export async function claimedAsItStopped(
  state: StateStore,
  vmId: string,
  before: ControlDocument,
): Promise<ControlDocument> {
  if (before.failedOver && before.reason !== STOP_REASON) return before;
  const after = await readControl(state, vmId);
  if (after.owner === null) return before;
  const exit = (await readLog(state, vmId, after.owner)).records.findLast((r) => r.type === 'colo-exit');
  return {
    ...after,
    reason: exit?.type === 'colo-exit' ? exit.data.detail : 'a side claimed the VM as the run stopped',
    at: exit?.at ?? after.at,
  };
}

/**
 * How a LocalStack run ended, from the VM's control document as it stood before `colo run` stopped the VM:
 * still replicating, or which side won the fence, when (ms of run time) and why — the same outcome an
 * embedded run reports, so a failover is `failed-over` (exit 3), not a divergence. A failover is a fenced
 * end of replication from a verified image; the replica checks are the same either way.
 *
 * @param startedAt - When the run started, ms since the Unix epoch.
 */
export function localStackOutcome(
  control: ControlDocument,
  startedAt: number,
  committedEpoch: number,
): RunOutcome {
  const phases = { primaryPhase: 'unknown', secondaryPhase: 'unknown' };
  if (!control.failedOver || control.reason === STOP_REASON) {
    return { state: 'replicating', text: 'replicating', at: null, reason: null, ...phases };
  }
  const reason = control.reason ?? 'unknown';
  const at = control.at === null ? null : Math.max(0, control.at - startedAt);
  const when = at === null ? '' : ` at ${seconds(at)}`;
  if (control.owner === null) {
    return {
      state: 'ending',
      text: `replication ending${when}: no side has claimed the VM yet (${reason})`,
      at: null,
      reason,
      ...phases,
    };
  }
  const what =
    control.owner === 'primary'
      ? 'primary runs alone'
      : `secondary took over from its last commit (epoch ${committedEpoch})`;
  return {
    state: control.owner === 'primary' ? 'primary-alone' : 'secondary-took-over',
    text: `replication ended${when}: ${what} — ${reason}`,
    at,
    reason,
    ...phases,
  };
}

/**
 * The replica checks of a LocalStack run, from its metrics logs: every commit equals the PVM at that
 * checkpoint's stop (by digest), the committed image is the last commit, and nothing was refused, exited,
 * or dead-lettered. A failover is not a problem here: it is the run's outcome ({@link localStackOutcome}).
 */
export function verifyLogs(
  params: ColoParams,
  checkpoints: readonly CheckpointRecord[],
  primaryLog: readonly LogRecord[],
  secondaryLog: readonly LogRecord[],
  final: { committedDigest: string; committedEpoch: number },
  facts: { quiet: boolean; dlq: number; started: boolean; endedAt?: number },
): Verification {
  const problems: string[] = [];
  if (!facts.started) problems.push('the VM never started (no node documents): are the tick chains running?');
  const atStop = new Map(checkpoints.map((c) => [c.epoch, c.digest]));
  // Logs written by a build with another digest format cannot be checked against this one's: say so once.
  const stored = [
    ...checkpoints.map((c) => c.digest),
    ...secondaryLog.flatMap((r) => (r.type === 'commit' ? [r.data.digest] : [])),
  ];
  const older = stored.find(isFormat1MemoryDigest);
  if (older !== undefined) problems.push(memoryDigestProblem(older) ?? older);
  let verified = 0;
  let last: { epoch: number; digest: string } | undefined;
  for (const r of secondaryLog) {
    if (r.type !== 'commit') continue;
    last = { epoch: r.data.epoch, digest: r.data.digest };
    const want = atStop.get(r.data.epoch);
    if (want === undefined)
      problems.push(`epoch ${r.data.epoch} committed with no checkpoint on the primary`);
    else if (want !== r.data.digest)
      problems.push(`epoch ${r.data.epoch}: committed image ${r.data.digest} ≠ PVM at stop ${want}`);
    else verified++;
  }
  const lastDigest = last?.digest ?? zeroImageDigest(params.seed, pageCount(params));
  if (final.committedDigest !== lastDigest) problems.push('committed image differs from the last commit');
  if (final.committedEpoch !== (last?.epoch ?? 0))
    problems.push(`committed epoch ${final.committedEpoch}, last commit ${last?.epoch ?? 0}`);
  for (const r of [...primaryLog, ...secondaryLog]) {
    // After a failover, the sides leaving COLO is the failover itself.
    const ended = facts.endedAt !== undefined;
    if (r.type === 'colo-exit') {
      if (ended && r.data.reason !== 'error') continue;
      problems.push(`${r.node} left COLO: ${r.data.reason}: ${r.data.detail}`);
    }
    if (r.type === 'send-retired') problems.push(`${r.node} retired seq ${r.data.seq}: ${r.data.reason}`);
    if (r.type === 'log-dropped') problems.push(`${r.node} dropped ${r.data.dropped} log records`);
  }
  if (facts.dlq > 0) problems.push(`${facts.dlq} message(s) in the channels' dead-letter queues`);
  if (!facts.quiet) problems.push('in-flight work did not finish within the stop timeout');
  return { consistent: problems.length === 0, checkpointsVerified: verified, problems };
}
