/**
 * Ports for the handlers, built from the environment with the adapters in `lambda/adapters/`: the S3 state
 * and delta stores on `BUCKET_NAME`, and SQS channels whose queue URL is read when the first message is sent
 * (so a function that never sends does not need the variable, and one that does gets a clear error).
 */
import type { MessageChannel } from '../../../src/engine/ports.ts';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';
import type { CloudPorts } from '../../../src/runtime/cloud/index.ts';
import { serializeMessage } from '../../../src/wire/message-schema.ts';
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
import { SqsChannel } from '../../adapters/sqs-channel.ts';
import { SqsTickQueue } from '../../adapters/sqs-tick-queue.ts';
import type { TickScheduler } from './tick-chain.ts';

/** A channel on the FIFO queue named by `variable`, created at the first send. */
export function lazyChannel(variable: string, env: Env = process.env): MessageChannel {
  let channel: SqsChannel | undefined;
  return {
    send(messages: readonly ColoMessage[]): Promise<void> {
      channel ??= new SqsChannel({
        queueUrl: requireEnv(variable, env),
        client: sqsClientFromEnv(),
        serialize: serializeMessage,
      });
      return channel.send(messages);
    },
  };
}

/** The state and delta stores on `BUCKET_NAME`. */
export function storesFromEnv(env: Env = process.env): Pick<CloudPorts, 'state' | 'deltas'> {
  const bucket = requireEnv(ENV.bucketName, env);
  const client = s3ClientFromEnv(env);
  return { state: new S3StateStore({ bucket, client }), deltas: new S3DeltaStore({ bucket, client }) };
}

/** The primary's ports: stores, and the primary → secondary channel (`P2S_QUEUE_URL`). */
export function primaryPortsFromEnv(env: Env = process.env): CloudPorts {
  return { ...storesFromEnv(env), channel: lazyChannel(ENV.p2sQueueUrl, env) };
}

/** The secondary's ports: stores, and the secondary → primary channel (`S2P_QUEUE_URL`). */
export function secondaryPortsFromEnv(env: Env = process.env): CloudPorts {
  return { ...storesFromEnv(env), channel: lazyChannel(ENV.s2pQueueUrl, env) };
}

/** The tick queue of `timer` (its `*_TICK_QUEUE_URL`), created at the first use. */
export function tickSchedulerFromEnv(timer: TimerName, env: Env = process.env): TickScheduler {
  let queue: SqsTickQueue | undefined;
  return {
    schedule(tick, now) {
      queue ??= new SqsTickQueue({ queueUrl: tickQueueUrlFromEnv(timer, env), client: sqsClientFromEnv() });
      return queue.schedule(tick, now);
    },
  };
}
