/**
 * The exported Lambda entry points, built from the environment with the real adapters, against S3 and SQS
 * mocked at the SDK level (aws-sdk-client-mock): conditional writes and FIFO batches as the services do them.
 */
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  type SendMessageCommandInput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { readDeployed } from '../../../src/parameters/deployed.ts';
import { encodeVmConfig, vmConfigOf } from '../../../src/parameters/vm-config.ts';
import { keySetOf } from '../../../src/wire/replication-key.ts';
import { openMessage, sealMessageBody } from '../../../src/wire/sealed-message.ts';
import { sqsEvent, sqsRecord, typeOfBody } from './sim.ts';
import { STACK_ENV } from './stack-env.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const URLS = {
  P2S_QUEUE_URL: 'https://sqs.us-east-1.example/000000000000/p2s.fifo',
  S2P_QUEUE_URL: 'https://sqs.us-east-1.example/000000000000/s2p.fifo',
  CHECKPOINT_TICK_QUEUE_URL: 'https://sqs.us-east-1.example/000000000000/checkpoint-ticks',
  PENDING_CHECK_TICK_QUEUE_URL: 'https://sqs.us-east-1.example/000000000000/pending-ticks',
  HEARTBEAT_TICK_QUEUE_URL: 'https://sqs.us-east-1.example/000000000000/heartbeat-ticks',
  P2S_DLQ_URL: 'https://sqs.us-east-1.example/000000000000/p2s-dlq.fifo',
  REPLICATION_KEY_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:colo-key-AbCdEf',
};

/** The generated key text of the test's secret. */
const KEY_TEXT = 'k'.repeat(64);
const keys = keySetOf('vm-0', KEY_TEXT);
/** vm-0's registered config: the VM parameters of the test environment. */
const VM_CONFIG = vmConfigOf(
  readDeployed((p) => (p.deployed.env ? STACK_ENV[p.deployed.env] : undefined), 'env'),
);

const s3 = mockClient(S3Client);
const sqs = mockClient(SQSClient);
const secrets = mockClient(SecretsManagerClient);
const objects = new Map<string, { bytes: Uint8Array; etag: string }>();
type Queued = {
  body: string;
  group?: string;
  dedup?: string;
  delay?: number;
  attributes?: Record<string, { DataType?: string; StringValue?: string }>;
};
const queues = new Map<string, Queued[]>();
const puts: PutObjectCommandInput[] = [];
let etags = 0;

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

function take(url: string): Queued[] {
  const list = queues.get(url) ?? [];
  queues.set(url, []);
  return list;
}

const T0 = 1_767_225_600_000;

beforeAll(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(T0);
  for (const [k, v] of Object.entries({ ...STACK_ENV, ...URLS, AWS_REGION: 'us-east-1' })) vi.stubEnv(k, v);
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const o = objects.get(input.Key);
    if (!o) throw s3Error('NoSuchKey', 404);
    return { Body: Readable.from([Buffer.from(o.bytes)]), ContentLength: o.bytes.byteLength, ETag: o.etag };
  });
  // The stack's pulse and monitor list the registry (vms/).
  s3.on(ListObjectsV2Command).callsFake((input: { Prefix?: string }) => ({
    Contents: [...objects.keys()]
      .filter((k) => k.startsWith(input.Prefix ?? ''))
      .sort()
      .map((Key) => ({ Key })),
    IsTruncated: false,
  }));
  s3.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => {
    puts.push(input);
    const key = input.Key as string;
    const cur = objects.get(key);
    if (input.IfNoneMatch === '*' && cur) throw s3Error('PreconditionFailed', 412);
    if (input.IfMatch !== undefined && cur?.etag !== input.IfMatch) {
      throw cur ? s3Error('PreconditionFailed', 412) : s3Error('NoSuchKey', 404);
    }
    const etag = `"e${++etags}"`;
    objects.set(key, { bytes: new Uint8Array(input.Body as Uint8Array), etag });
    return { ETag: etag };
  });
  sqs
    .on(SendMessageBatchCommand)
    .callsFake((input: { QueueUrl: string; Entries: SendMessageBatchRequestEntry[] }) => {
      const list = queues.get(input.QueueUrl) ?? [];
      for (const e of input.Entries) {
        list.push({
          body: e.MessageBody as string,
          group: e.MessageGroupId,
          dedup: e.MessageDeduplicationId,
          ...(e.MessageAttributes ? { attributes: e.MessageAttributes } : {}),
        });
      }
      queues.set(input.QueueUrl, list);
      return {
        Successful: input.Entries.map((e) => ({ Id: e.Id, MessageId: `${e.Id}-id`, MD5OfMessageBody: '' })),
        Failed: [],
      };
    });
  secrets.on(GetSecretValueCommand).callsFake((input: { SecretId: string; VersionStage?: string }) => {
    if (input.SecretId !== URLS.REPLICATION_KEY_SECRET_ARN || input.VersionStage === 'AWSPREVIOUS') {
      throw new ResourceNotFoundException({ message: 'no such version', $metadata: {} });
    }
    return { SecretString: JSON.stringify({ key: KEY_TEXT }) };
  });
  sqs.on(SendMessageCommand).callsFake((input: SendMessageCommandInput) => {
    const list = queues.get(input.QueueUrl as string) ?? [];
    list.push({
      body: input.MessageBody as string,
      ...(input.DelaySeconds !== undefined ? { delay: input.DelaySeconds } : {}),
      ...(input.MessageGroupId ? { group: input.MessageGroupId } : {}),
      ...(input.MessageDeduplicationId ? { dedup: input.MessageDeduplicationId } : {}),
      ...(input.MessageAttributes ? { attributes: input.MessageAttributes } : {}),
    });
    queues.set(input.QueueUrl as string, list);
    return { MessageId: 'm' };
  });
});

afterAll(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
  s3.restore();
  sqs.restore();
  secrets.restore();
});

async function handlerOf(name: string): Promise<(event: unknown) => Promise<unknown>> {
  const mod = (await import(`../../../lambda/handlers/${name}.ts`)) as {
    handler: (event: unknown) => Promise<unknown>;
  };
  return mod.handler;
}

function fifoEvent(messages: { body: string; group?: string; dedup?: string }[]) {
  return sqsEvent(
    messages.map((m) => sqsRecord(m.body, { fifo: { group: m.group ?? '', dedup: m.dedup ?? '' } })),
  );
}

describe('exported handlers on mocked S3 and SQS', () => {
  test('watchdog → heartbeat tick starts the secondary → primary runs → a timer tick → the secondary applies', async () => {
    // The VM is registered on the stack: its config is the one document the functions read it from.
    objects.set('vms/vm-0.json', { bytes: Buffer.from(encodeVmConfig(VM_CONFIG)), etag: '"cfg"' });
    const tickArm = await handlerOf('tick-arm');
    // The VM's own chain is its checkpoint timer; its pending check and monitor are the stack's chains.
    expect(await tickArm({ source: 'colo.watchdog', vmIds: ['vm-0'] })).toMatchObject({
      vms: 1,
      byVm: { 'vm-0': { checkpoint: 'armed' } },
      stack: { pulse: 'armed', monitor: 'armed' },
    });
    // tick-arm seals nothing and never reads the key.
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
    expect([...objects.keys()].filter((k) => k.includes('/timers/')).sort()).toEqual([
      'state/_fleet/timers/monitor.json',
      'state/_fleet/timers/pulse.json',
      'state/vm-0/timers/checkpoint.json',
    ]);

    const heartbeat = await handlerOf('heartbeat-monitor');
    const hbTicks = take(URLS.HEARTBEAT_TICK_QUEUE_URL);
    expect(await heartbeat(sqsEvent(hbTicks.map((t) => sqsRecord(t.body))))).toEqual({
      batchItemFailures: [],
    });
    // The stack's monitor ticks every 2 s; its first tick found the new VM and started its secondary.
    expect(take(URLS.HEARTBEAT_TICK_QUEUE_URL).map((t) => t.delay)).toEqual([2]);
    const ready = take(URLS.S2P_QUEUE_URL);
    expect(ready).toEqual([
      expect.objectContaining({
        group: 'vm-0',
        dedup: expect.stringMatching(/^vm-0-1-0-checkpoint-ready-[0-9a-f]{16}$/),
      }),
    ]);
    const createdSecondary = puts.find((p) => p.Key === 'state/vm-0/node/secondary.bin');
    expect(createdSecondary?.IfNoneMatch).toBe('*');

    const primary = await handlerOf('primary');
    expect(await primary(fifoEvent(ready))).toEqual({ batchItemFailures: [] });
    expect(objects.has('state/vm-0/node/primary.bin')).toBe(true);

    vi.setSystemTime(T0 + 1500);
    const pending = await handlerOf('pending-check-timer');
    const pTicks = take(URLS.PENDING_CHECK_TICK_QUEUE_URL);
    expect(await pending(sqsEvent(pTicks.map((t) => sqsRecord(t.body))))).toEqual({ batchItemFailures: [] });
    const toSecondary = take(URLS.P2S_QUEUE_URL);
    // The stack's pulse stepped it (a pending check that starts a round). No heartbeat: deployed, the
    // pulse document is the primary's liveness evidence (heartbeat-monitor reads it).
    expect(toSecondary.map((m) => typeOfBody(m.body))).toEqual(['migrate-ram-background', 'delta']);
    const deltaPut = puts.find((p) => p.Key?.startsWith('deltas/vm-0/1/'));
    expect(deltaPut).toMatchObject({ IfNoneMatch: '*', Bucket: 'colo-bucket' });

    const apply = await handlerOf('secondary-apply');
    vi.setSystemTime(T0 + 1600);
    const applied = (await apply(fifoEvent(toSecondary))) as SQSBatchResponse;
    expect(applied).toEqual({ batchItemFailures: [] });
    expect(
      s3.commandCalls(GetObjectCommand).some((c) => c.args[0].input.Key?.startsWith('deltas/vm-0/1/')),
    ).toBe(true);
    expect(take(URLS.P2S_DLQ_URL)).toEqual([]);

    // Refused messages are acknowledged after secondary-apply forwarded them, with the reason, to the DLQ.
    const before = objects.get('state/vm-0/node/secondary.bin');
    // Every record was opened with the key read from Secrets Manager (once per cold start of a function).
    expect(secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toContainEqual({
      SecretId: URLS.REPLICATION_KEY_SECRET_ARN,
      VersionStage: 'AWSCURRENT',
    });
    const first = openMessage(keys, toSecondary[0]?.body ?? '');
    if (!first.ok) throw new Error('the first message does not open with the key');
    const shifted = { ...JSON.parse(first.body), seq: 999 };
    const outOfOrder = sealMessageBody(keys.signing, shifted, JSON.stringify(shifted));
    const refused = fifoEvent([
      { body: 'not json', group: 'vm-0', dedup: 'x1' },
      { body: outOfOrder, group: 'vm-0', dedup: 'x2' },
    ]);
    expect(await apply(refused)).toEqual({ batchItemFailures: [] });
    const letters = take(URLS.P2S_DLQ_URL);
    expect(letters.map((l) => [l.body, l.group, l.dedup])).toEqual(
      refused.Records.map((r) => [r.body, 'vm-0', `rejected-${r.messageId}`]),
    );
    expect(letters.map((l) => l.attributes?.ColoErrorCode?.StringValue)).toEqual([
      'unauthenticated',
      'wrong-sequence',
    ]);
    for (const l of letters) {
      expect(l.attributes?.ColoRejectedBy?.StringValue).toBe('primary'); // POWERTOOLS_SERVICE_NAME of STACK_ENV
      expect(l.attributes?.ColoErrorMessage?.StringValue).toMatch(/\w/);
      expect(l.attributes?.ColoRejectedAt).toEqual({ DataType: 'Number', StringValue: String(T0 + 1600) });
    }
    const after = objects.get('state/vm-0/node/secondary.bin');
    // Refusals change nothing, so nothing was written: the document's bytes are the same object's.
    expect(before).toBeDefined();
    expect(Buffer.from(after?.bytes ?? []).equals(Buffer.from(before?.bytes ?? [1]))).toBe(true);
    const log = objects.get('state/vm-0/log/primary/0000.json');
    expect(
      JSON.parse(Buffer.from(log?.bytes ?? []).toString()).records.map((r: { type: string }) => r.type),
    ).toEqual(expect.arrayContaining(['round', 'pending-check']));

    const failover = await handlerOf('heartbeat-monitor');
    expect(await failover({ source: 'colo.failover', vmId: 'vm-0' })).toEqual({
      vmId: 'vm-0',
      failedOver: true,
      phase: 'failed-over',
    });
    expect(
      JSON.parse(Buffer.from(objects.get('state/vm-0/control.json')?.bytes ?? []).toString()),
    ).toMatchObject({
      failedOver: true,
    });
  });
});
