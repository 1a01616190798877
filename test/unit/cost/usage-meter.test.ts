import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { UsageMeter } from '../../../lambda/adapters/usage-meter.ts';

/** A request handler that answers every request with `status` and a body of `bytes` bytes, counting calls. */
function stubHandler(status: number, body: string, headers: Record<string, string> = {}) {
  const seen: { method: string; bodyBytes: number }[] = [];
  return {
    seen,
    handler: {
      async handle(request: { method: string; body?: unknown }) {
        const b = request.body;
        seen.push({
          method: request.method,
          bodyBytes: typeof b === 'string' ? b.length : b instanceof Uint8Array ? b.length : 0,
        });
        const { Readable } = await import('node:stream');
        return {
          response: {
            statusCode: status,
            headers: { 'content-length': String(Buffer.byteLength(body)), ...headers },
            body: Readable.from([Buffer.from(body)]),
          },
        };
      },
      updateHttpClientConfig() {},
      httpHandlerConfigs: () => ({}),
    },
  };
}

const common = {
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:1',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
};

describe('UsageMeter', () => {
  it('counts each S3 request with its bytes, and a failed one as an error', async () => {
    const stub = stubHandler(200, 'hello world', { etag: '"x"' });
    const meter = new UsageMeter();
    const s3 = meter.attach(new S3Client({ ...common, forcePathStyle: true, requestHandler: stub.handler }));
    await s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: new Uint8Array(1000) }));
    await s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }));
    const u = meter.usage;
    expect(u.requests['s3:PutObject']).toMatchObject({ requests: 1, billed: 1, bytesOut: 1000, errors: 0 });
    expect(u.requests['s3:GetObject']).toMatchObject({ requests: 1, bytesIn: 11, errors: 0 });

    const failing = stubHandler(412, '<Error><Code>PreconditionFailed</Code></Error>');
    const s3b = meter.attach(
      new S3Client({ ...common, forcePathStyle: true, requestHandler: failing.handler, maxAttempts: 1 }),
    );
    await expect(
      s3b.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x', IfNoneMatch: '*' })),
    ).rejects.toThrow();
    expect(meter.usage.requests['s3:PutObject']).toMatchObject({ requests: 2, errors: 1 });
  });

  it('knows the attempts under way, oldest first, with their key or queue (what a hung invocation waits on)', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const stub = stubHandler(200, 'ok', { etag: '"x"' });
    const hanging = {
      ...stub.handler,
      async handle(request: { method: string; body?: unknown }) {
        await held;
        return stub.handler.handle(request);
      },
    };
    let now = 0;
    const meter = new UsageMeter(() => now);
    const s3 = meter.attach(new S3Client({ ...common, forcePathStyle: true, requestHandler: hanging }));
    const get = s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'state/vm-0/node/primary.bin' }));
    await new Promise((r) => setTimeout(r, 10));
    now = 500;
    const sqs = meter.attach(new SQSClient({ ...common, requestHandler: hanging }));
    const send = sqs.send(
      new SendMessageCommand({ QueueUrl: 'http://h/000/chan.fifo', MessageBody: 'x', MessageGroupId: 'g' }),
    );
    await new Promise((r) => setTimeout(r, 10));
    now = 1200;
    expect(meter.inFlight()).toEqual([
      { call: 's3:GetObject', target: 'state/vm-0/node/primary.bin', ageMs: 1200 },
      { call: 'sqs-fifo:SendMessage', target: 'chan.fifo', ageMs: 700 },
    ]);
    // Work the middleware does not see (a body read after the request returned) is tracked by hand.
    const done = meter.track('s3:GetObject body', 'state/vm-0/node/primary.bin');
    now = 1300;
    expect(meter.inFlight().at(-1)).toEqual({
      call: 's3:GetObject body',
      target: 'state/vm-0/node/primary.bin',
      ageMs: 100,
    });
    done();
    release();
    await get;
    await send.catch(() => {});
    expect(meter.inFlight()).toEqual([]);
  });

  it('counts every retry attempt (AWS bills attempts)', async () => {
    const stub = stubHandler(503, '<Error><Code>SlowDown</Code></Error>');
    const meter = new UsageMeter();
    const s3 = meter.attach(
      new S3Client({
        ...common,
        forcePathStyle: true,
        requestHandler: stub.handler,
        maxAttempts: 3,
        retryStrategy: undefined,
      }),
    );
    await expect(s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }))).rejects.toThrow();
    expect(stub.seen.length).toBe(3);
    expect(meter.usage.requests['s3:GetObject']?.requests).toBe(3);
  });

  it('tells FIFO queues apart and bills SQS in 64 KiB chunks', async () => {
    const stub = stubHandler(200, '{"MessageId":"m","MD5OfMessageBody":"x"}');
    const meter = new UsageMeter();
    const sqs = meter.attach(new SQSClient({ ...common, requestHandler: stub.handler }));
    // Attaching twice must not count twice.
    meter.attach(sqs);
    await sqs
      .send(
        new SendMessageCommand({
          QueueUrl: 'http://q/000/a.fifo',
          MessageBody: 'x'.repeat(100 * 1024),
          MessageGroupId: 'g',
        }),
      )
      .catch(() => {});
    await sqs
      .send(new SendMessageCommand({ QueueUrl: 'http://q/000/a', MessageBody: 'small' }))
      .catch(() => {});
    const fifo = meter.usage.requests['sqs-fifo:SendMessage'];
    expect(fifo?.requests).toBe(1);
    expect(fifo?.billed).toBe(2);
    expect(meter.usage.requests['sqs:SendMessage']).toMatchObject({ requests: 1, billed: 1 });
    const done = meter.reset();
    expect(Object.keys(done.requests).length).toBe(2);
    expect(meter.usage.requests).toEqual({});
  });
});
