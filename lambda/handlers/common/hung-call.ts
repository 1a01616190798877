/**
 * A hung AWS call, made for real (the fault hook's `hangPuts`): an S3 `PutObject` built exactly as the
 * function's own clients are (`callTimeoutConfig()`: bounded connect, socket silence and attempts) but sent to
 * a server inside this process that reads every request and never answers. What the call does then — fail
 * with the SDK's `TimeoutError` after its attempts, instead of holding the invocation until the function's
 * timeout — is what docs/reliability.md ("A hung call becomes a failed call") promises of every call.
 */
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type CallTimeouts, callTimeoutConfig } from '../../adapters/env.ts';

/** How a hung call ended. */
export interface HungCallOutcome {
  /** The error the SDK failed the call with (its `name`, e.g. `TimeoutError`). */
  error: Error;
  /** From the call's start to its failure, ms. */
  elapsedMs: number;
  /** Requests the silent server received: one per attempt. */
  attempts: number;
}

/** Starts a loopback HTTP server that reads each request and never answers; `close` drops its connections. */
async function silentServer(): Promise<{ endpoint: string; requests: () => number; close: () => void }> {
  let requests = 0;
  const held: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    requests++;
    req.resume(); // read the body, so the client's upload never waits on a full socket
    held.push(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
}

/**
 * Puts `bytes` under `key` through a client with the functions' call timeouts, to a server that never
 * answers, and reports how the call failed.
 *
 * @param timeouts - The client's timeouts (default the functions' own; tests pass short ones).
 * @param now - Clock for the elapsed time, ms.
 * @throws Error when the call does not fail (it cannot: nothing ever answers it).
 */
export async function hungPut(
  key: string,
  bytes: Uint8Array,
  timeouts?: CallTimeouts,
  now: () => number = Date.now,
): Promise<HungCallOutcome> {
  const server = await silentServer();
  const s3 = new S3Client({
    ...callTimeoutConfig(timeouts),
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'hung-call', secretAccessKey: 'hung-call' },
    forcePathStyle: true,
  });
  const start = now();
  try {
    await s3.send(new PutObjectCommand({ Bucket: 'hung-call', Key: key, Body: bytes }));
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    return { error, elapsedMs: now() - start, attempts: server.requests() };
  } finally {
    s3.destroy();
    server.close();
  }
  throw new Error(`hung put of ${key}: the silent server answered`);
}
