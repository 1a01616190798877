/**
 * Ports for the handlers, built from the environment with the adapters in `lambda/adapters/`: the S3 state
 * and delta stores on `BUCKET_NAME`, and SQS channels whose queue URL is read when the first message is sent
 * (so a function that never sends does not need the variable, and one that does gets a clear error).
 * Channels seal every message and the delta store seals and opens every object with the node's
 * {@link Keyring}, loaded from Secrets Manager (`REPLICATION_KEY_SECRET_ARN`) at the first use.
 */
import type { MessageChannel, SendContext } from '../../../src/engine/ports.ts';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';
import {
  type CloudPorts,
  Keyring,
  type KeySource,
  SealedDeltaStore,
  sealingSerializer,
  sharedKeySource,
  type TakeBackListener,
} from '../../../src/runtime/cloud/index.ts';
import { ENV, type TimerName } from '../../adapters/contract.ts';
import {
  type Env,
  requireEnv,
  s3ClientFromEnv,
  sqsClientFromEnv,
  tickQueueUrlFromEnv,
} from '../../adapters/env.ts';
import { S3DeltaStore } from '../../adapters/s3-delta-store.ts';
import { S3StateStore } from '../../adapters/s3-state-store.ts';
import { SecretsManagerKeySource } from '../../adapters/secrets-manager-keys.ts';
import { SqsChannel } from '../../adapters/sqs-channel.ts';
import { SqsTickQueue } from '../../adapters/sqs-tick-queue.ts';
import type { TickScheduler } from './tick-chain.ts';

/**
 * The keyring of VM `vmId` on the secret named by `REPLICATION_KEY_SECRET_ARN`. Nothing is read before the
 * first seal or open, so a function that does neither (`tick-arm`) needs neither the variable nor access to
 * the secret; one that does and lacks them gets a `KeyringUnavailableError` naming the variable.
 */
export function keyringFromEnv(vmId: string, env: Env = process.env): Keyring {
  return new Keyring({
    vmId,
    source: {
      get description() {
        return `secret ${env[ENV.replicationKeySecretArn] || `(${ENV.replicationKeySecretArn} not set)`}`;
      },
      load(options) {
        return processSecretSource(requireEnv(ENV.replicationKeySecretArn, env)).load(options);
      },
    },
  });
}

/** The process's source per secret: one read shared by the keyrings of every VM it serves. */
const secretSources = new Map<string, KeySource>();

function processSecretSource(secretId: string): KeySource {
  let source = secretSources.get(secretId);
  if (!source) {
    source = sharedKeySource(new SecretsManagerKeySource({ secretId }));
    secretSources.set(secretId, source);
  }
  return source;
}

/** A channel on the FIFO queue named by `variable`, created at the first send; every message sealed. */
export function lazyChannel(variable: string, keyring: Keyring, env: Env = process.env): MessageChannel {
  let channel: SqsChannel | undefined;
  return {
    send(messages: readonly ColoMessage[], context?: SendContext): Promise<void> {
      channel ??= new SqsChannel({
        queueUrl: requireEnv(variable, env),
        client: sqsClientFromEnv(),
        serialize: sealingSerializer(keyring),
      });
      return channel.send(messages, context);
    },
  };
}

/** The state store on `BUCKET_NAME` (node documents, logs, timers, the control document). */
export function stateStoreFromEnv(env: Env = process.env): CloudPorts['state'] {
  return new S3StateStore({ bucket: requireEnv(ENV.bucketName, env), client: s3ClientFromEnv(env) });
}

/**
 * The state store and the sealed delta store on `BUCKET_NAME`; `onTakeBack` hears of each delta key the
 * store took back from a foreign object.
 */
export function storesFromEnv(
  keyring: Keyring,
  env: Env = process.env,
  onTakeBack?: TakeBackListener,
): Pick<CloudPorts, 'state' | 'deltas'> {
  const bucket = requireEnv(ENV.bucketName, env);
  const client = s3ClientFromEnv(env);
  return {
    state: new S3StateStore({ bucket, client }),
    deltas: new SealedDeltaStore(new S3DeltaStore({ bucket, client }), keyring, undefined, onTakeBack),
  };
}

/**
 * A node's ports: the stores, and the channel it sends on — the primary → secondary one (`P2S_QUEUE_URL`)
 * for the primary, the secondary → primary one (`S2P_QUEUE_URL`) for the secondary.
 */
export function nodePortsFromEnv(
  node: 'primary' | 'secondary',
  keyring: Keyring,
  env: Env = process.env,
  onTakeBack?: TakeBackListener,
): CloudPorts {
  const queue = node === 'primary' ? ENV.p2sQueueUrl : ENV.s2pQueueUrl;
  return { ...storesFromEnv(keyring, env, onTakeBack), channel: lazyChannel(queue, keyring, env) };
}

/** The tick queue of `timer` (its `*_TICK_QUEUE_URL`), created at the first use. */
export function tickSchedulerFromEnv(timer: TimerName, env: Env = process.env): TickScheduler {
  let queue: SqsTickQueue | undefined;
  return {
    schedule(tick, now, minDelaySeconds) {
      queue ??= new SqsTickQueue({ queueUrl: tickQueueUrlFromEnv(timer, env), client: sqsClientFromEnv() });
      return queue.schedule(tick, now, minDelaySeconds);
    },
  };
}
