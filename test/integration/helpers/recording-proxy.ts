/**
 * A pass-through HTTP proxy in front of LocalStack that records the JSON-protocol calls it forwards (their
 * `X-Amz-Target`, request body and status), so a test can assert that a CLI made a call and when it was
 * answered — without mocking anything: every request still reaches the real LocalStack.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One forwarded call of the JSON protocol (Step Functions, SQS JSON, …). */
export interface RecordedCall {
  /** The `X-Amz-Target` header, e.g. `AWSStepFunctions.StopExecution`. */
  target: string;
  /** The request body as text. */
  body: string;
  /** LocalStack's HTTP status; 0 when the forward failed. */
  status: number;
  /** Wall-clock time the answer came back from LocalStack (`ms` since the epoch). */
  answeredAt: number;
}

/** A running proxy: its endpoint URL, what it recorded, and how to stop it. */
export interface RecordingProxy {
  /** `http://127.0.0.1:<port>`: use as AWS_ENDPOINT_URL. */
  endpoint: string;
  /** Calls answered so far, in order. */
  calls: RecordedCall[];
  close(): Promise<void>;
}

/** Starts a proxy on a free local port forwarding every request to `upstream` (an `http://` URL). */
export async function startRecordingProxy(upstream: string): Promise<RecordingProxy> {
  const up = new URL(upstream);
  const calls: RecordedCall[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const fwd = request(
        {
          host: up.hostname,
          port: up.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          const target = req.headers['x-amz-target'];
          if (typeof target === 'string')
            calls.push({
              target,
              body: body.toString('utf8'),
              status: answer.statusCode ?? 0,
              answeredAt: Date.now(),
            });
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.on('error', (e) => res.destroy(e));
          answer.pipe(res);
        },
      );
      // A failed forward is recorded with status 0; once the answer's head has gone out only the
      // connection can say it failed.
      fwd.on('error', (e) => {
        const target = req.headers['x-amz-target'];
        if (typeof target === 'string')
          calls.push({ target, body: body.toString('utf8'), status: 0, answeredAt: Date.now() });
        if (res.headersSent) return void res.destroy(e);
        res.writeHead(502);
        res.end(String(e));
      });
      fwd.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
