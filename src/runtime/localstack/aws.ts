/**
 * AWS SDK plumbing for the LocalStack backend and the conformance replay: clients pointed at the emulator,
 * a health check with a clear error, an {@link Inbox} on an SQS FIFO queue, and scratch resources (a bucket
 * and two FIFO queues) for a replay that needs no deployed stack.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { UsageMeter } from '../../../lambda/adapters/usage-meter.ts';
import type { Inbox } from './replay.ts';

/** Where the emulator is and how to sign for it. */
export interface Endpoint {
  /** Base URL, e.g. `http://127.0.0.1:4566`. */
  url: string;
  /** S3 URL (`AWS_ENDPOINT_URL_S3`, else {@link url}). */
  s3Url: string;
  /** Region. */
  region: string;
}

/** The default LocalStack address (the project's scripts listen there). */
export const DEFAULT_ENDPOINT_URL = 'http://127.0.0.1:4566';

/**
 * The LocalStack address when `AWS_ENDPOINT_URL` is unset: 127.0.0.1 on `LOCALSTACK_PORT` (the port
 * `npm run localstack:up` started it on), else {@link DEFAULT_ENDPOINT_URL}.
 *
 * @throws EndpointConfigError when `LOCALSTACK_PORT` is set but not a TCP port.
 */
export function localEndpointUrl(env: NodeJS.ProcessEnv = process.env): string {
  const port = env.LOCALSTACK_PORT?.trim();
  if (port === undefined || port === '') return DEFAULT_ENDPOINT_URL;
  if (!/^[1-9]\d{0,4}$/.test(port) || Number(port) > 65_535) {
    throw new EndpointConfigError(`LOCALSTACK_PORT must be a TCP port, got "${env.LOCALSTACK_PORT}"`);
  }
  return `http://127.0.0.1:${port}`;
}

/**
 * The endpoint from the environment: `AWS_ENDPOINT_URL` (default {@link localEndpointUrl}: `LOCALSTACK_PORT`,
 * else {@link DEFAULT_ENDPOINT_URL}), `AWS_ENDPOINT_URL_S3`, `AWS_REGION` / `AWS_DEFAULT_REGION` (default
 * `us-east-1`).
 *
 * @throws EndpointConfigError when `LOCALSTACK_PORT` is needed and is not a TCP port.
 */
export function endpointFromEnv(env: NodeJS.ProcessEnv = process.env, url?: string): Endpoint {
  const base = url ?? env.AWS_ENDPOINT_URL ?? localEndpointUrl(env);
  return {
    url: base,
    s3Url: url ?? env.AWS_ENDPOINT_URL_S3 ?? base,
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
  };
}

/** The endpoint value that means AWS itself (no endpoint override): `colo vm … --endpoint aws`. */
export const AWS_ENDPOINT = 'aws';

/** SDK clients for one endpoint. */
export interface Clients {
  /** The endpoint they talk to. */
  endpoint: Endpoint;
  s3: S3Client;
  sqs: SQSClient;
  lambda: LambdaClient;
  cloudformation: CloudFormationClient;
  logs: CloudWatchLogsClient;
  /** Counts every request these clients make (what the driver itself asks of the emulator). */
  meter: UsageMeter;
}

/**
 * Clients for `endpoint`. Credentials come from the environment when `AWS_ACCESS_KEY_ID` is set, else the
 * emulator's conventional `test`/`test`; S3 is addressed path-style (an IP endpoint has no bucket hosts).
 */
export function clientsFor(endpoint: Endpoint, env: NodeJS.ProcessEnv = process.env): Clients {
  // The SDK warns on every client about Node versions it will drop next year: noise for a CLI's user.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // `aws` (AWS_ENDPOINT_URL=aws or --endpoint aws): the real service endpoints and the SDK's credential chain.
  const real = endpoint.url === AWS_ENDPOINT;
  const credentials =
    env.AWS_ACCESS_KEY_ID || real ? undefined : { accessKeyId: 'test', secretAccessKey: 'test' };
  const common = {
    region: endpoint.region,
    ...(real ? {} : { endpoint: endpoint.url }),
    ...(credentials ? { credentials } : {}),
  };
  const meter = new UsageMeter();
  return {
    endpoint,
    s3: meter.attach(
      real
        ? new S3Client(common)
        : new S3Client({ ...common, endpoint: endpoint.s3Url, forcePathStyle: true }),
    ),
    sqs: meter.attach(new SQSClient(common)),
    lambda: meter.attach(new LambdaClient(common)),
    cloudformation: meter.attach(new CloudFormationClient(common)),
    logs: meter.attach(new CloudWatchLogsClient(common)),
    meter,
  };
}

/** A problem with the LocalStack backend's environment (emulator, stack), reported to the user as is. */
export class BackendError extends Error {
  override readonly name: string = 'BackendError';
}

/** The environment names the endpoint wrongly (bad input: the CLI's exit 1, not an internal error). */
export class EndpointConfigError extends BackendError {
  override readonly name = 'EndpointConfigError';
}

/** LocalStack did not answer, or answered as something else. */
export class LocalStackUnavailableError extends BackendError {
  override readonly name = 'LocalStackUnavailableError';
}

/**
 * Checks that LocalStack answers at `endpoint` (`/_localstack/health`) and runs the services named.
 *
 * @throws LocalStackUnavailableError saying what was found and how to start it.
 */
export async function checkLocalStack(
  endpoint: Endpoint,
  services: readonly string[] = ['s3', 'sqs'],
  timeoutMs = 3000,
): Promise<void> {
  const url = `${endpoint.url.replace(/\/$/, '')}/_localstack/health`;
  let body: unknown;
  // A timer that holds the process open: with AbortSignal.timeout's (unref'd) one, a server that accepts
  // the connection and never answers left nothing pending, and the process exited 13 without a word.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    const res = await fetch(url, { signal: abort.signal });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (e) {
    throw new LocalStackUnavailableError(
      `LocalStack is not reachable at ${endpoint.url} (${e instanceof Error ? e.message : String(e)}); ` +
        'start it with `npm run localstack:up` or point AWS_ENDPOINT_URL at a running one',
    );
  } finally {
    clearTimeout(timer);
  }
  const states = (body as { services?: Record<string, string> } | null)?.services;
  if (!states) throw new LocalStackUnavailableError(`${url} did not answer like LocalStack`);
  const missing = services.filter((s) => !['running', 'available'].includes(states[s] ?? ''));
  if (missing.length > 0) {
    throw new LocalStackUnavailableError(
      `LocalStack at ${endpoint.url} does not run ${missing.join(', ')} (services: ${JSON.stringify(states)})`,
    );
  }
}

/**
 * An {@link Inbox} on an SQS FIFO queue: receives up to 10 messages at a time (long polling while it
 * waits), deletes them at once — as a Lambda event-source mapping does after a successful batch — and
 * hands them out in queue order.
 */
export class SqsInbox implements Inbox {
  readonly #buffer: string[] = [];
  /** ReceiveMessage calls made, and messages received. */
  readonly stats = { receives: 0, messages: 0 };

  /** Reads the queue at `queueUrl` with `client`. */
  constructor(
    private readonly client: SQSClient,
    readonly queueUrl: string,
  ) {}

  /** {@inheritDoc Inbox.receive} */
  async receive(waitMs: number): Promise<string | undefined> {
    const deadline = performance.now() + waitMs;
    for (;;) {
      const next = this.#buffer.shift();
      if (next !== undefined) return next;
      const remaining = deadline - performance.now();
      const r = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: Math.max(0, Math.min(20, Math.ceil(remaining / 1000))),
          VisibilityTimeout: 60,
        }),
      );
      this.stats.receives++;
      const messages = r.Messages ?? [];
      if (messages.length > 0) {
        await this.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
          }),
        );
        this.stats.messages += messages.length;
        for (const m of messages) this.#buffer.push(m.Body ?? '');
        continue;
      }
      if (performance.now() >= deadline) return undefined;
    }
  }
}

/** A bucket and two FIFO queues made for one replay. */
export interface ScratchResources {
  /** Bucket for node documents, logs and deltas. */
  bucket: string;
  /** FIFO queue primary → secondary. */
  p2sQueueUrl: string;
  /** FIFO queue secondary → primary. */
  s2pQueueUrl: string;
}

/**
 * Creates a bucket `<name>` and FIFO queues `<name>-p2s.fifo`, `<name>-s2p.fifo` (deduplication ids come
 * from the sender, as in the stack).
 */
export async function createScratchResources(clients: Clients, name: string): Promise<ScratchResources> {
  await clients.s3.send(new CreateBucketCommand({ Bucket: name }));
  const queue = async (suffix: string): Promise<string> => {
    const r = await clients.sqs.send(
      new CreateQueueCommand({
        QueueName: `${name}-${suffix}.fifo`,
        Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'false', VisibilityTimeout: '60' },
      }),
    );
    if (!r.QueueUrl) throw new Error(`CreateQueue ${name}-${suffix}.fifo returned no URL`);
    return r.QueueUrl;
  };
  return { bucket: name, p2sQueueUrl: await queue('p2s'), s2pQueueUrl: await queue('s2p') };
}

/** Deletes every object under `prefix` in `bucket` (all of them when `prefix` is empty). */
export async function emptyBucket(s3: S3Client, bucket: string, prefix = ''): Promise<number> {
  let deleted = 0;
  for (;;) {
    const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }));
    const keys = (list.Contents ?? []).map((o) => ({ Key: o.Key as string }));
    if (keys.length === 0) return deleted;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    deleted += keys.length;
  }
}

/** Deletes what {@link createScratchResources} made (best effort: every step is tried). */
export async function deleteScratchResources(clients: Clients, r: ScratchResources): Promise<void> {
  const steps = [
    () => clients.sqs.send(new DeleteQueueCommand({ QueueUrl: r.p2sQueueUrl })),
    () => clients.sqs.send(new DeleteQueueCommand({ QueueUrl: r.s2pQueueUrl })),
    async () => {
      await emptyBucket(clients.s3, r.bucket);
      await clients.s3.send(new DeleteBucketCommand({ Bucket: r.bucket }));
    },
  ];
  const errors: unknown[] = [];
  for (const s of steps) {
    try {
      await s();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length > 0) throw errors[0];
}
