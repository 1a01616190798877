/**
 * AWS SDK clients for the integration tests, pointed at LocalStack (`AWS_ENDPOINT_URL`, default
 * 127.0.0.1 on `LOCALSTACK_PORT`, else 4566) with test credentials, and a polling helper.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { localEndpointUrl } from '../../../src/runtime/localstack/aws.ts';

/** LocalStack endpoint. */
export const ENDPOINT = process.env.AWS_ENDPOINT_URL ?? localEndpointUrl();

process.env.AWS_ENDPOINT_URL ??= ENDPOINT;
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const common = {
  endpoint: ENDPOINT,
  region: process.env.AWS_REGION,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
};

/** The clients the tests use. */
export interface Clients {
  s3: S3Client;
  sqs: SQSClient;
  lambda: LambdaClient;
  cfn: CloudFormationClient;
  logs: CloudWatchLogsClient;
  secrets: SecretsManagerClient;
}

let shared: Clients | undefined;

/** One set of clients per test file. */
export function clients(): Clients {
  shared ??= {
    s3: new S3Client({ ...common, forcePathStyle: true }),
    sqs: new SQSClient(common),
    lambda: new LambdaClient(common),
    cfn: new CloudFormationClient(common),
    logs: new CloudWatchLogsClient(common),
    secrets: new SecretsManagerClient(common),
  };
  return shared;
}

/** A wait that ran out: says what was awaited and what was last seen. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

/**
 * Polls `probe` until it returns something other than `undefined`, and returns that.
 *
 * @param what - What is awaited (for the error).
 * @param probe - Returns the value once the condition holds; may return `undefined` and stash a `last`
 *   description through `note` for the error message.
 * @param timeoutMs - Give up after this long, ms.
 * @param intervalMs - Pause between probes, ms.
 * @throws WaitTimeoutError after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  probe: (note: (last: unknown) => void) => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 500,
): Promise<T> {
  const start = Date.now();
  let last: unknown = 'nothing yet';
  const note = (v: unknown): void => {
    last = v;
  };
  for (;;) {
    try {
      const v = await probe(note);
      if (v !== undefined) return v;
    } catch (e) {
      last = e instanceof Error ? `${e.name}: ${e.message}` : e;
    }
    if (Date.now() - start > timeoutMs) {
      throw new WaitTimeoutError(
        `timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Milliseconds since `t0`, rounded. */
export function since(t0: number): number {
  return Math.round(Date.now() - t0);
}
