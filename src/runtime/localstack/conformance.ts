/**
 * The conformance run on LocalStack: an embedded run's schedule replayed on the cloud runtime with the real
 * adapters — `S3StateStore` and `S3DeltaStore` on a real bucket, `SqsChannel` sending to and an SQS inbox
 * receiving from real FIFO queues — in this process, on virtual clocks (docs/conformance.md).
 */

// The adapters live with the Lambda code; the replay uses them unchanged.
import { S3DeltaStore } from '../../../lambda/adapters/s3-delta-store.ts';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { SqsChannel } from '../../../lambda/adapters/sqs-channel.ts';
import { type ColoParams, DEFAULT_PARAMS } from '../../engine/params.ts';
import type { MessageChannel } from '../../engine/ports.ts';
import type { ColoMessage } from '../../engine/protocol/messages.ts';
import { seedKeySet } from '../../wire/replication-key.ts';
import { sealingSerializer } from '../cloud/authenticate.ts';
import { Keyring } from '../cloud/keyring.ts';
import { SealedDeltaStore } from '../cloud/sealed-delta-store.ts';
import type { LinkParams } from '../embedded/link.ts';
import { type Clients, type ScratchResources, SqsInbox } from './aws.ts';
import { type LambdaStepperStats, lambdaStepper } from './lambda-stepper.ts';
import { type ReplayOptions, type ReplayResult, replaySchedule } from './replay.ts';
import type { ScheduledStep } from './schedule.ts';
import type { StackOutputs } from './stack.ts';

/**
 * The conformance scenario: a 16 MiB guest with a hot set of 256 pages written 1 200 times a second plus 800
 * cold first touches a second, checkpoints every 2 700 ms, pending checks every 1 000 ms with a 1 MiB
 * threshold, a 10 s heartbeat timeout, on a 40 Mbit/s link with 1 ms latency, for 10 s. Small enough to replay over real S3 and SQS
 * in seconds, and slow enough on the link that sends take hundreds of ms: three timer checkpoints that fall
 * due while a background round is still leaving (and so start at that round's completion), pending checks
 * that find a round in flight, six rounds — each of which depends on the modelled completion times the
 * replay must reproduce. Every parameter can be given to the stack as context (see
 * {@link CONFORMANCE_STACK_CONTEXT}), so the same scenario also runs inside the deployed functions.
 */
export function conformanceScenario(vmId: string): {
  params: ColoParams;
  link: LinkParams;
  durationMs: number;
} {
  return {
    params: {
      ...DEFAULT_PARAMS,
      vmId,
      seed: 1,
      guestBytes: 16 * 1024 * 1024,
      workload: { kind: 'hotcold', hotPages: 256, hotRate: 1200, coldRate: 800 },
      checkpointDelayMs: 2700,
      pendingCheckIntervalMs: 1000,
      thresholdBytes: 1024 * 1024,
      policy: 'fixed',
      // Heartbeats keep arriving in the replay; on the wall clock (`colo run --backend localstack` on the
      // same stack) LocalStack's latency under load made 3 s, and then 10 s (a checkpoint's RAM waited
      // longer than that in CI), a spurious failover. No wait in the replay comes near it.
      heartbeatTimeoutMs: 30_000,
    },
    link: { bandwidthBytesPerSec: 40e6 / 8, latencyMs: 1 },
    durationMs: 10_000,
  };
}

/** CDK context (`-c key=value`) that deploys a stack whose functions run {@link conformanceScenario}. */
export const CONFORMANCE_STACK_CONTEXT: Readonly<Record<string, string>> = {
  seed: '1',
  guestBytes: String(16 * 1024 * 1024),
  workload: 'hotcold:hotPages=256,hotRate=1200,coldRate=800',
  checkpointDelayMs: '2700',
  pendingCheckIntervalMs: '1000',
  thresholdBytes: String(1024 * 1024),
  policy: 'fixed',
  heartbeatTimeoutMs: '30000',
  // The replay entries of primary and secondary-apply, which answer the virtual-clock event.
  virtualClock: 'allow',
};

/** Options of {@link replayOnLocalStack}. */
export interface LocalStackReplayOptions extends ReplayOptions {
  /**
   * Fault injection for negative checks: rewrites each batch a node sends before it reaches the real queue
   * (drop, reorder or duplicate messages).
   */
  tamper?: (from: 'primary' | 'secondary', batch: readonly ColoMessage[]) => readonly ColoMessage[];
}

/** What a LocalStack replay did besides its result: SQS and S3 traffic. */
export interface LocalStackReplay extends ReplayResult {
  /** ReceiveMessage calls and messages received, per inbound queue. */
  sqs: { toSecondary: SqsInbox['stats']; toPrimary: SqsInbox['stats'] };
}

/**
 * Replays `steps` on the cloud runtime over the real bucket and FIFO queues of `resources`.
 *
 * @param params - The embedded run's parameters; `params.vmId` names documents, logs, deltas and the
 *   message group (use a fresh one per replay).
 */
export async function replayOnLocalStack(
  steps: readonly ScheduledStep[],
  params: ColoParams,
  clients: Clients,
  resources: ScratchResources,
  options: LocalStackReplayOptions = {},
): Promise<LocalStackReplay> {
  const { tamper, ...replayOptions } = options;
  // Sealed and authenticated as in the functions, with the embedded runtime's key for the scenario's seed.
  const keys = Keyring.fixed(seedKeySet(params.seed, params.vmId));
  const channel = (queueUrl: string, from: 'primary' | 'secondary'): MessageChannel => {
    const sqs = new SqsChannel({ queueUrl, client: clients.sqs, serialize: sealingSerializer(keys) });
    return tamper ? { send: (batch) => sqs.send(tamper(from, batch)) } : sqs;
  };
  const toSecondary = new SqsInbox(clients.sqs, resources.p2sQueueUrl);
  const toPrimary = new SqsInbox(clients.sqs, resources.s2pQueueUrl);
  const result = await replaySchedule(
    steps,
    params,
    {
      state: new S3StateStore({ bucket: resources.bucket, client: clients.s3 }),
      deltas: new SealedDeltaStore(new S3DeltaStore({ bucket: resources.bucket, client: clients.s3 }), keys),
      p2s: { send: channel(resources.p2sQueueUrl, 'primary'), inbox: toSecondary },
      s2p: { send: channel(resources.s2pQueueUrl, 'secondary'), inbox: toPrimary },
      keys,
    },
    replayOptions,
  );
  return { ...result, sqs: { toSecondary: toSecondary.stats, toPrimary: toPrimary.stats } };
}

/** What a replay inside the deployed functions did besides its result. */
export interface LambdaReplay extends LocalStackReplay {
  /** Invoke calls and their summed round-trip time, ms. */
  lambda: LambdaStepperStats;
}

/**
 * Replays `steps` inside the deployed stack's `primary` and `secondary-apply` functions (real Invoke with a
 * virtual-clock event per step), receiving every message from the stack's own FIFO queues. The stack must
 * be in replay mode (`enterReplayMode`) and run the same parameters as the embedded run (`params`: compare
 * them with `deployedParams` first).
 */
export async function replayInLambda(
  steps: readonly ScheduledStep[],
  params: ColoParams,
  clients: Clients,
  outputs: StackOutputs,
  options: ReplayOptions = {},
): Promise<LambdaReplay> {
  const toSecondary = new SqsInbox(clients.sqs, outputs.p2sQueueUrl);
  const toPrimary = new SqsInbox(clients.sqs, outputs.s2pQueueUrl);
  const stats: LambdaStepperStats = { invocations: 0, totalMs: 0 };
  const sentByFunctions: MessageChannel = {
    send: async () => {
      throw new Error('in a Lambda replay the functions send, not the driver');
    },
  };
  const result = await replaySchedule(
    steps,
    params,
    {
      state: new S3StateStore({ bucket: outputs.bucketName, client: clients.s3 }),
      deltas: new S3DeltaStore({ bucket: outputs.bucketName, client: clients.s3 }),
      p2s: { send: sentByFunctions, inbox: toSecondary },
      s2p: { send: sentByFunctions, inbox: toPrimary },
    },
    { ...options, stepper: lambdaStepper(clients, outputs, stats) },
  );
  return { ...result, sqs: { toSecondary: toSecondary.stats, toPrimary: toPrimary.stats }, lambda: stats };
}
