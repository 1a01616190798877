// A call to a server that accepts and never answers must fail (and be retried), not hang until the function's
// timeout: a real HTTP server on loopback, a real SDK client with the functions' settings (short values).
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALL_TIMEOUTS, callTimeoutConfig } from '../../../lambda/adapters/env.ts';

let server: Server;
let endpoint: string;
let requests = 0;
const held: import('node:http').ServerResponse[] = [];

beforeAll(async () => {
  // Reads each request and then says nothing: the hung call of docs/reliability.md.
  server = createServer((req, res) => {
    requests++;
    req.resume();
    held.push(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  server.close();
});

const short = { connectionTimeoutMs: 1000, socketIdleTimeoutMs: 300, maxAttempts: 2 };
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

describe('function clients against a server that never answers', () => {
  it('the defaults bound every attempt and the attempts', () => {
    const c = callTimeoutConfig();
    expect(c.requestHandler.socketTimeout).toBe(CALL_TIMEOUTS.socketIdleTimeoutMs);
    expect(c.requestHandler.connectionTimeout).toBe(CALL_TIMEOUTS.connectionTimeoutMs);
    expect(c.maxAttempts).toBe(CALL_TIMEOUTS.maxAttempts);
    // A call's worst case (every attempt silent) stays well inside the shortest function timeout (30 s).
    expect(CALL_TIMEOUTS.maxAttempts * CALL_TIMEOUTS.socketIdleTimeoutMs).toBeLessThanOrEqual(30_000);
  });

  it('an S3 read times out on each attempt and fails with a timeout, after retrying', async () => {
    const before = requests;
    const s3 = new S3Client({
      ...callTimeoutConfig(short),
      endpoint,
      region: 'us-east-1',
      credentials,
      forcePathStyle: true,
    });
    const error = await s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('TimeoutError');
    // Both attempts reached the server: the timeout is retried, as a transient failure.
    expect(requests - before).toBe(short.maxAttempts);
    s3.destroy();
  }, 20_000);

  it('an SQS send times out the same way', async () => {
    const before = requests;
    const sqs = new SQSClient({ ...callTimeoutConfig(short), endpoint, region: 'us-east-1', credentials });
    const error = await sqs
      .send(new SendMessageCommand({ QueueUrl: `${endpoint}/000000000000/q`, MessageBody: 'x' }))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((error as Error).name).toBe('TimeoutError');
    expect(requests - before).toBe(short.maxAttempts);
    sqs.destroy();
  }, 20_000);

  it('without the settings the same call is still waiting when the bounded one has failed', async () => {
    // The control: what the functions did before (no request timeout): the call outlives the bound.
    const before = requests;
    const s3 = new S3Client({
      endpoint,
      region: 'us-east-1',
      credentials,
      forcePathStyle: true,
      maxAttempts: 1,
    });
    let settled = false;
    const call = s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })).finally(() => {
      settled = true;
    });
    call.catch(() => undefined);
    const bounded = new S3Client({
      ...callTimeoutConfig({ ...short, maxAttempts: 1 }),
      endpoint,
      region: 'us-east-1',
      credentials,
      forcePathStyle: true,
    });
    await expect(bounded.send(new GetObjectCommand({ Bucket: 'b', Key: 'k2' }))).rejects.toThrow();
    // Wait until the server holds the unbounded request, so that "not settled" means waiting on it.
    while (requests - before < 2) await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    s3.destroy();
    bounded.destroy();
  }, 20_000);
});
