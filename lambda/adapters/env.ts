/**
 * AWS clients and handler configuration built only from the environment. Endpoints come from the SDK's own
 * `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` handling and the region from `AWS_REGION`, so the same
 * code talks to AWS or to any emulator it is pointed at; the one extra switch is path-style S3 addressing.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ENV, TICK_QUEUE_ENV, type TimerName } from './contract.ts';

/** Environment as a plain record (`process.env` fits). */
export type Env = Readonly<Record<string, string | undefined>>;

/** True when `AWS_S3_FORCE_PATH_STYLE` is `1` or `true` (case-insensitive). */
export function forcePathStyleFromEnv(env: Env = process.env): boolean {
  const value = env[ENV.s3ForcePathStyle]?.trim().toLowerCase();
  return value === '1' || value === 'true';
}

/** An S3 client configured from the environment (path-style when {@link forcePathStyleFromEnv}). */
export function s3ClientFromEnv(env: Env = process.env): S3Client {
  return new S3Client({ forcePathStyle: forcePathStyleFromEnv(env) });
}

/** An SQS client configured from the environment. */
export function sqsClientFromEnv(): SQSClient {
  return new SQSClient({});
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

function requireInt(name: string, env: Env): number {
  const raw = requireEnv(name, env);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`environment variable ${name} must be a non-negative integer, got ${raw}`);
  }
  return value;
}

/** The stack parameters every function receives, parsed. Times in ms, sizes in bytes. */
export interface FunctionConfig {
  /** VM id. */
  vmId: string;
  /** Workload and page-content seed. */
  seed: number;
  /** Guest RAM, bytes. */
  guestBytes: number;
  /** Workload kind name. */
  workload: string;
  /** Background policy name. */
  policy: string;
  /** Checkpoint timer period, ms. */
  checkpointDelayMs: number;
  /** Pending-RAM check period, ms. */
  pendingCheckIntervalMs: number;
  /** Background-round threshold, bytes. */
  thresholdBytes: number;
  /** Secondary apply deadline, ms. */
  applyTimeoutMs: number;
  /** Heartbeat period, ms. */
  heartbeatIntervalMs: number;
  /** Heartbeat timeout, ms. */
  heartbeatTimeoutMs: number;
  /** Bucket holding deltas and state. */
  bucketName: string;
}

/**
 * Parses the parameters the stack puts in every function's environment.
 *
 * @throws Error naming the first missing or malformed variable.
 */
export function loadFunctionConfig(env: Env = process.env): FunctionConfig {
  return {
    vmId: requireEnv(ENV.vmId, env),
    seed: requireInt(ENV.seed, env),
    guestBytes: requireInt(ENV.guestBytes, env),
    workload: requireEnv(ENV.workload, env),
    policy: requireEnv(ENV.policy, env),
    checkpointDelayMs: requireInt(ENV.checkpointDelayMs, env),
    pendingCheckIntervalMs: requireInt(ENV.pendingCheckIntervalMs, env),
    thresholdBytes: requireInt(ENV.thresholdBytes, env),
    applyTimeoutMs: requireInt(ENV.applyTimeoutMs, env),
    heartbeatIntervalMs: requireInt(ENV.heartbeatIntervalMs, env),
    heartbeatTimeoutMs: requireInt(ENV.heartbeatTimeoutMs, env),
    bucketName: requireEnv(ENV.bucketName, env),
  };
}

/** The tick queue URL of a timer, from its environment variable. */
export function tickQueueUrlFromEnv(timer: TimerName, env: Env = process.env): string {
  return requireEnv(TICK_QUEUE_ENV[timer], env);
}
