/**
 * AWS clients and handler configuration built only from the environment. Endpoints come from the SDK's own
 * `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` handling and the region from `AWS_REGION`, so the same
 * code talks to AWS or to any emulator it is pointed at; the one extra switch is path-style S3 addressing.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type DeployedValues, readDeployed, readDeployedValue } from '../../src/parameters/deployed.ts';
import { parameter } from '../../src/parameters/registry.ts';
import { ENV, TICK_QUEUE_ENV, type TimerName } from './contract.ts';
import { processMeter } from './usage-meter.ts';

/** Environment as a plain record (`process.env` fits). */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * True when `AWS_S3_FORCE_PATH_STYLE` is `1` or `true` (case-insensitive), read by the same registry reader
 * as the rest of the function's configuration, so the two never disagree.
 *
 * @throws ParameterError when the variable is set to anything else (e.g. `yes`).
 */
export function forcePathStyleFromEnv(env: Env = process.env): boolean {
  const raw = env[ENV.s3ForcePathStyle];
  if (raw === undefined || raw === '') return false;
  return readDeployedValue(PATH_STYLE, raw, 'env') === true;
}

const PATH_STYLE = (() => {
  const p = parameter('s3ForcePathStyle');
  if (p.deployed === undefined) throw new Error('s3ForcePathStyle is not a deployed parameter');
  return { ...p, deployed: p.deployed };
})();

/**
 * How long a function's AWS call may stay silent before the SDK abandons that attempt. Without these the
 * SDK waits on a socket that never answers until the function's own timeout kills the process — and a
 * consumer that dies reports nothing, so its batch stays hidden for the queue's visibility timeout
 * (6 × the function's timeout: minutes), stalling every VM behind it (docs/reliability.md). With them a hung
 * call becomes a failed attempt the SDK retries, and a failed call takes the handlers' fast paths (records
 * back in ~1 s).
 */
export const CALL_TIMEOUTS = {
  /** TCP connect of one attempt, ms. */
  connectionTimeoutMs: 3000,
  /**
   * Socket silence within one attempt (nothing sent or received), ms: an idle timeout, not a deadline, so a
   * large upload that keeps flowing is never cut (the SDK's `requestTimeout` is a whole-request deadline,
   * and only a warning unless told to throw).
   */
  socketIdleTimeoutMs: 10_000,
  /** Attempts per call (the SDK's standard retry strategy retries timeouts and other transient errors). */
  maxAttempts: 3,
} as const;

/** Timeouts of a function's AWS calls, in the shape of {@link CALL_TIMEOUTS}. */
export type CallTimeouts = { readonly [K in keyof typeof CALL_TIMEOUTS]: number };

/**
 * The client settings every function client shares: bounded connect and silence per attempt, bounded
 * attempts (`timeouts` in ms; tests pass short ones).
 */
export function callTimeoutConfig(timeouts: CallTimeouts = CALL_TIMEOUTS): {
  maxAttempts: number;
  requestHandler: { connectionTimeout: number; socketTimeout: number };
} {
  return {
    maxAttempts: timeouts.maxAttempts,
    requestHandler: {
      connectionTimeout: timeouts.connectionTimeoutMs,
      socketTimeout: timeouts.socketIdleTimeoutMs,
    },
  };
}

// One client per kind for the whole process: a fleet function builds ports for many VMs, and each client
// holds its own connection pool. Each is attached once to the process's usage meter (usage-meter.ts).
const s3Clients = new Map<boolean, S3Client>();
let sqsClient: SQSClient | undefined;

/**
 * The process's S3 client configured from the environment (path-style when {@link forcePathStyleFromEnv}),
 * its requests counted by the process's usage meter.
 */
export function s3ClientFromEnv(env: Env = process.env): S3Client {
  const pathStyle = forcePathStyleFromEnv(env);
  let client = s3Clients.get(pathStyle);
  if (!client) {
    client = processMeter.attach(new S3Client({ ...callTimeoutConfig(), forcePathStyle: pathStyle }));
    s3Clients.set(pathStyle, client);
  }
  return client;
}

/** The process's SQS client configured from the environment, its requests counted by the usage meter. */
export function sqsClientFromEnv(): SQSClient {
  sqsClient ??= processMeter.attach(new SQSClient(callTimeoutConfig()));
  return sqsClient;
}

/**
 * Reads a required environment variable.
 *
 * @throws Error naming the variable when it is unset or empty.
 */
export function requireEnv(name: string, env: Env = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') throw new Error(`environment variable ${name} is not set`);
  return value;
}

/** The stack parameters every function receives, parsed (src/parameters/deployed.ts), and its bucket. */
export interface FunctionConfig extends DeployedValues {
  /** Bucket holding deltas and state. */
  bucketName: string;
}

/**
 * Parses the parameters the stack puts in every function's environment, with the registry's bounds (the
 * same reader the stack validates its context with).
 *
 * @throws ParameterError naming the first missing or malformed variable.
 */
export function loadFunctionConfig(env: Env = process.env): FunctionConfig {
  const values = readDeployed((p) => (p.deployed.env === undefined ? undefined : env[p.deployed.env]), 'env');
  return { ...values, bucketName: requireEnv(ENV.bucketName, env) };
}

/** The tick queue URL of a timer, from its environment variable. */
export function tickQueueUrlFromEnv(timer: TimerName, env: Env = process.env): string {
  return requireEnv(TICK_QUEUE_ENV[timer], env);
}
