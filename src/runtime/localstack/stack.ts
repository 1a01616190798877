/**
 * Finding a deployed `ColoStack`: its outputs from a `cdk deploy --outputs-file` JSON file or from
 * CloudFormation by stack name, and the engine parameters its functions run with (read from the deployed
 * `primary` function's environment, parsed exactly as the handlers parse it).
 */
import { readFileSync } from 'node:fs';
import {
  DeleteStackCommand,
  DescribeStacksCommand,
  waitUntilStackDeleteComplete,
} from '@aws-sdk/client-cloudformation';
import { type CloudWatchLogsClient, DeleteLogGroupCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { controlStateKey, type TimerName } from '../../../lambda/adapters/contract.ts';
import { S3VmRegistry } from '../../../lambda/adapters/s3-vm-registry.ts';
import { vmEnvironment } from '../../../lambda/handlers/common/fleet-entry.ts';
import { paramsFromEnv } from '../../../lambda/handlers/common/params.ts';
import type { ColoParams } from '../../engine/params.ts';
import type { VmConfig } from '../../parameters/vm-config.ts';
import { BackendError, type Clients, emptyBucket } from './aws.ts';

/** The stack is not there, or its outputs are not what this backend needs. */
export class StackNotFoundError extends BackendError {
  override readonly name = 'StackNotFoundError';
}

/** What the LocalStack backend needs from a deployed stack. */
export interface StackOutputs {
  /** CloudFormation stack name. */
  stackName: string;
  /** Replicated VM id. */
  vmId: string;
  /** Delta and state bucket. */
  bucketName: string;
  /** FIFO channels and their dead-letter queues. */
  p2sQueueUrl: string;
  s2pQueueUrl: string;
  p2sDlqUrl: string;
  s2pDlqUrl: string;
  /** Tick queues. */
  tickQueueUrls: Record<TimerName, string>;
  /** Function names. */
  primaryFunction: string;
  secondaryApplyFunction: string;
  tickArmFunction: string;
  /** Every function of the stack (each output named `*FunctionName`): whose logs hold the usage records. */
  functionNames: string[];
  /** The config of the VM the deploy registers (output `VmConfigJson`), when the stack has it. */
  vmConfigJson?: string;
  /** Largest `applyTimeoutMs` a VM on the stack may have, ms (output `ApplyTimeoutCapMs`). */
  applyTimeoutCapMs?: number;
}

const REQUIRED = [
  'VmId',
  'BucketName',
  'PrimaryToSecondaryQueueUrl',
  'SecondaryToPrimaryQueueUrl',
  'PrimaryToSecondaryDlqUrl',
  'SecondaryToPrimaryDlqUrl',
  'CheckpointTickQueueUrl',
  'PendingCheckTickQueueUrl',
  'HeartbeatTickQueueUrl',
  'PrimaryFunctionName',
  'SecondaryApplyFunctionName',
  'TickArmFunctionName',
] as const;

/**
 * Picks the outputs this backend needs from a stack's output map.
 *
 * @throws StackNotFoundError naming the missing outputs.
 */
export function outputsFromRecord(
  stackName: string,
  record: Readonly<Record<string, unknown>>,
): StackOutputs {
  const missing = REQUIRED.filter((k) => typeof record[k] !== 'string' || record[k] === '');
  if (missing.length > 0) {
    throw new StackNotFoundError(
      `stack ${stackName} has no output ${missing.join(', ')}: is it a ColoStack deployed from this repository?`,
    );
  }
  const o = record as Record<(typeof REQUIRED)[number], string>;
  return {
    stackName,
    vmId: o.VmId,
    bucketName: o.BucketName,
    p2sQueueUrl: o.PrimaryToSecondaryQueueUrl,
    s2pQueueUrl: o.SecondaryToPrimaryQueueUrl,
    p2sDlqUrl: o.PrimaryToSecondaryDlqUrl,
    s2pDlqUrl: o.SecondaryToPrimaryDlqUrl,
    tickQueueUrls: {
      checkpoint: o.CheckpointTickQueueUrl,
      'pending-check': o.PendingCheckTickQueueUrl,
      heartbeat: o.HeartbeatTickQueueUrl,
    },
    primaryFunction: o.PrimaryFunctionName,
    secondaryApplyFunction: o.SecondaryApplyFunctionName,
    tickArmFunction: o.TickArmFunctionName,
    functionNames: Object.entries(record)
      .filter(([k, v]) => k.endsWith('FunctionName') && typeof v === 'string' && v !== '')
      .map(([, v]) => v as string),
    ...(typeof record.VmConfigJson === 'string' ? { vmConfigJson: record.VmConfigJson } : {}),
    ...(typeof record.ApplyTimeoutCapMs === 'string' && /^\d+$/.test(record.ApplyTimeoutCapMs)
      ? { applyTimeoutCapMs: Number(record.ApplyTimeoutCapMs) }
      : {}),
  };
}

/**
 * Reads a `cdk deploy --outputs-file` file (`{ "<stack>": { "<output>": "<value>", … } }`).
 *
 * @param stackName - Which stack, when the file holds several (else the only one).
 * @throws StackNotFoundError when the file is missing, malformed, or lacks the stack.
 */
export function readOutputsFile(path: string, stackName?: string): StackOutputs {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new StackNotFoundError(
      `cannot read stack outputs from ${path}: ${e instanceof Error ? e.message : String(e)} ` +
        '(write it with `npm run deploy:local -- --outputs-file FILE`)',
    );
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new StackNotFoundError(`${path} is not a CDK outputs file (expected {"<stack>": {…}})`);
  }
  const stacks = Object.keys(doc);
  const name = stackName ?? (stacks.length === 1 ? stacks[0] : undefined);
  if (name === undefined) {
    throw new StackNotFoundError(
      `${path} holds ${stacks.length} stacks (${stacks.join(', ')}): name one with --stack`,
    );
  }
  const record = (doc as Record<string, unknown>)[name];
  if (typeof record !== 'object' || record === null) {
    throw new StackNotFoundError(
      `${path} has no outputs for stack ${name} (it has ${stacks.join(', ') || 'none'})`,
    );
  }
  return outputsFromRecord(name, record as Record<string, unknown>);
}

/**
 * Reads a stack's outputs from CloudFormation.
 *
 * @throws StackNotFoundError when the stack does not exist or is not in a usable state.
 */
export async function describeStackOutputs(clients: Clients, stackName: string): Promise<StackOutputs> {
  let stack: { StackStatus?: string; Outputs?: { OutputKey?: string; OutputValue?: string }[] } | undefined;
  try {
    const r = await clients.cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
    stack = r.Stacks?.[0];
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (!/does not exist/i.test(message)) throw e;
  }
  if (!stack) {
    throw new StackNotFoundError(
      `stack ${stackName} is not deployed on ${clients.endpoint.url}: deploy it with ` +
        `\`npm run deploy:local -- -c stackName=${stackName}\` (or pass --outputs FILE)`,
    );
  }
  const status = stack.StackStatus ?? 'UNKNOWN';
  if (!/_COMPLETE$/.test(status) || /DELETE|ROLLBACK/.test(status)) {
    throw new StackNotFoundError(
      `stack ${stackName} is ${status}: redeploy it with \`npm run deploy:local\``,
    );
  }
  const record: Record<string, string> = {};
  for (const o of stack.Outputs ?? []) if (o.OutputKey && o.OutputValue) record[o.OutputKey] = o.OutputValue;
  return outputsFromRecord(stackName, record);
}

/**
 * The engine parameters the stack's functions run VM `vmId` (default: the VM its deploy registers) with:
 * the VM's registered config laid over the deployed `primary` function's stack-wide environment, parsed by
 * the handlers' own `paramsFromEnv` — exactly what the function builds for that VM.
 *
 * @throws StackNotFoundError when the function does not exist (the stack was deleted or LocalStack
 *   restarted) or the VM is not registered.
 */
export async function deployedParams(
  clients: Clients,
  outputs: StackOutputs,
  vmId: string = outputs.vmId,
): Promise<ColoParams> {
  const env = await primaryEnvironment(clients, outputs);
  let config: Awaited<ReturnType<S3VmRegistry['get']>>;
  try {
    config = await new S3VmRegistry({ bucket: outputs.bucketName, client: clients.s3 }).get(vmId);
  } catch (e) {
    throw new StackNotFoundError(
      `VM ${vmId} on stack ${outputs.stackName}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (!config) {
    throw new StackNotFoundError(
      `VM ${vmId} is not registered on stack ${outputs.stackName}: register it with \`colo vm add ${vmId} --stack ${outputs.stackName}\``,
    );
  }
  return paramsFromEnv(vmEnvironment(env, config));
}

/** The primary function's environment (the stack-wide settings). @throws StackNotFoundError */
async function primaryEnvironment(clients: Clients, outputs: StackOutputs): Promise<Record<string, string>> {
  let env: Record<string, string> | undefined;
  try {
    const r = await clients.lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: outputs.primaryFunction }),
    );
    env = r.Environment?.Variables;
  } catch (e) {
    throw new StackNotFoundError(
      `function ${outputs.primaryFunction} of stack ${outputs.stackName} is not on ${clients.endpoint.url} ` +
        `(${e instanceof Error ? e.message : String(e)}): redeploy with \`npm run deploy:local\``,
    );
  }
  if (!env) throw new StackNotFoundError(`function ${outputs.primaryFunction} has no environment`);
  return env;
}

/**
 * The engine parameters a stack's functions would build for `config` (registered or about to be): the
 * primary function's stack-wide environment with the VM's config over it.
 *
 * @throws StackNotFoundError when the function does not exist or has no environment.
 */
export async function paramsForConfig(
  clients: Clients,
  outputs: StackOutputs,
  config: VmConfig,
): Promise<ColoParams> {
  const env = await primaryEnvironment(clients, outputs);
  return paramsFromEnv(vmEnvironment(env, config));
}

/**
 * Destroys a deployed stack: stops its timer chains (control flag), empties its bucket (the stack has no
 * auto-delete custom resource), deletes the stack and waits (retried: the bucket may fill up again while
 * the last invocations finish), then removes the function log groups LocalStack writes outside the stack.
 * A stack that does not exist is left alone.
 *
 * @param logs - Client for the log groups; without one they are left.
 */
export async function destroyStack(
  clients: Clients,
  stackName: string,
  logs?: CloudWatchLogsClient,
): Promise<void> {
  let outputs: Record<string, string> = {};
  try {
    const r = await clients.cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = Object.fromEntries((r.Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  } catch {
    return;
  }
  const bucket = outputs.BucketName;
  const vmId = outputs.VmId;
  if (bucket && vmId) {
    const body = JSON.stringify({ failedOver: true, reason: 'stack destroyed', at: Date.now() });
    await clients.s3
      .send(new PutObjectCommand({ Bucket: bucket, Key: `state/${controlStateKey(vmId)}`, Body: body }))
      .catch(() => undefined);
  }
  for (let attempt = 1; ; attempt++) {
    if (bucket) await emptyBucket(clients.s3, bucket).catch(() => undefined);
    await clients.cloudformation.send(new DeleteStackCommand({ StackName: stackName }));
    try {
      await waitUntilStackDeleteComplete(
        { client: clients.cloudformation, maxWaitTime: 120, minDelay: 1, maxDelay: 3 },
        { StackName: stackName },
      );
      break;
    } catch (e) {
      if (attempt === 3) throw e;
    }
  }
  // LocalStack writes function logs to /aws/lambda/<name> whatever the function's LoggingConfig says, and
  // those groups are not the stack's: remove them with it (docs/localstack.md, emulator gaps).
  if (!logs) return;
  const functionNames = Object.entries(outputs).flatMap(([k, v]) => (k.endsWith('FunctionName') ? [v] : []));
  for (const name of functionNames) {
    await logs
      .send(new DeleteLogGroupCommand({ logGroupName: `/aws/lambda/${name}` }))
      .catch(() => undefined);
  }
}
