// CloudFormation on the project's LocalStack (see docs/localstack.md): a hand-written template with the resource
// types the CDK stack uses — Lambda functions with code from an S3 asset, SQS FIFO queues with DLQs, an
// event-source mapping with ReportBatchItemFailures, an S3 bucket, an EventBridge rule, an IAM role, an SSM
// parameter and a log group — is created, checked (functions Active and running on the host-node executor,
// SQS -> Lambda -> S3), updated with new function code, and deleted.
//
// Needs a LocalStack on AWS_ENDPOINT_URL (default http://127.0.0.1:4566): `npm run localstack:up`.
// Run: npx vitest run --project integration test/integration/localstack-cloudformation.test.ts
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  type Stack,
  UpdateStackCommand,
} from '@aws-sdk/client-cloudformation';
import {
  DescribeRuleCommand,
  EventBridgeClient,
  ListTargetsByRuleCommand,
} from '@aws-sdk/client-eventbridge';
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
} from '@aws-sdk/client-lambda';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const endpoint = process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:4566';
const region = process.env.AWS_REGION ?? 'us-east-1';
const common = { endpoint, region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
const cfn = new CloudFormationClient(common);
const lambda = new LambdaClient(common);
const s3 = new S3Client({ ...common, forcePathStyle: true });
const sqs = new SQSClient(common);
const events = new EventBridgeClient(common);

const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
const stackName = `colo-cfn-smoke-${suffix}`;
const assetBucket = `colo-cfn-assets-${suffix}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const decoder = new TextDecoder();

function must<T>(value: T | null | undefined, what: string): T {
  if (value === undefined || value === null) throw new Error(`missing ${what}`);
  return value;
}

// Worker: CommonJS bundle (like an esbuild cjs bundle); the AWS SDK comes from the runtime, as on Lambda.
const workerSource = (version: string) => `
const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');
const s3 = new S3Client({ forcePathStyle: true });
exports.handler = async (event) => {
  if (!Array.isArray(event.Records)) return { version: '${version}', table: process.env.TABLE_PARAM };
  const batchItemFailures = [];
  for (const r of event.Records) {
    const body = JSON.parse(r.body);
    if (body.fail) { batchItemFailures.push({ itemIdentifier: r.messageId }); continue; }
    await s3.send(new PutObjectCommand({ Bucket: process.env.BUCKET, Key: 'in/' + body.id, Body: '${version}' }));
  }
  return { batchItemFailures };
};
`;
// Ticker: ES module.
const tickerSource = `export const handler = async (event) => ({ tick: event.source ?? 'direct' });\n`;

function template() {
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Parameters: {
      AssetBucket: { Type: 'String' },
      WorkerKey: { Type: 'String' },
      TickerKey: { Type: 'String' },
    },
    Resources: {
      DataBucket: { Type: 'AWS::S3::Bucket' },
      FunctionRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          AssumeRolePolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
            ],
          },
          ManagedPolicyArns: ['arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
          Policies: [
            {
              PolicyName: 'data',
              PolicyDocument: {
                Version: '2012-10-17',
                Statement: [
                  {
                    Effect: 'Allow',
                    Action: ['s3:PutObject', 's3:GetObject'],
                    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
                    Resource: { 'Fn::Sub': '${DataBucket.Arn}/*' },
                  },
                  {
                    Effect: 'Allow',
                    Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
                    Resource: { 'Fn::GetAtt': ['WorkQueue', 'Arn'] },
                  },
                ],
              },
            },
          ],
        },
      },
      // FIFO queues without explicit names, as the CDK emits them
      WorkDlq: { Type: 'AWS::SQS::Queue', Properties: { FifoQueue: true } },
      WorkQueue: {
        Type: 'AWS::SQS::Queue',
        Properties: {
          FifoQueue: true,
          ContentBasedDeduplication: true,
          VisibilityTimeout: 10,
          RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['WorkDlq', 'Arn'] }, maxReceiveCount: 3 },
        },
      },
      TableParam: {
        Type: 'AWS::SSM::Parameter',
        Properties: { Type: 'String', Value: 'colo-table-v1' },
      },
      WorkerLogs: {
        Type: 'AWS::Logs::LogGroup',
        Properties: { LogGroupName: `/aws/lambda/${stackName}-worker`, RetentionInDays: 7 },
      },
      Worker: {
        Type: 'AWS::Lambda::Function',
        DependsOn: ['WorkerLogs'],
        Properties: {
          FunctionName: `${stackName}-worker`,
          Runtime: 'nodejs22.x',
          Handler: 'index.handler',
          Role: { 'Fn::GetAtt': ['FunctionRole', 'Arn'] },
          Code: { S3Bucket: { Ref: 'AssetBucket' }, S3Key: { Ref: 'WorkerKey' } },
          Timeout: 10,
          MemorySize: 256,
          Environment: {
            Variables: {
              BUCKET: { Ref: 'DataBucket' },
              TABLE_PARAM: { 'Fn::GetAtt': ['TableParam', 'Value'] },
            },
          },
        },
      },
      WorkerMapping: {
        Type: 'AWS::Lambda::EventSourceMapping',
        Properties: {
          FunctionName: { Ref: 'Worker' },
          EventSourceArn: { 'Fn::GetAtt': ['WorkQueue', 'Arn'] },
          BatchSize: 10,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
        },
      },
      Ticker: {
        Type: 'AWS::Lambda::Function',
        Properties: {
          Runtime: 'nodejs22.x',
          Handler: 'index.handler',
          Role: { 'Fn::GetAtt': ['FunctionRole', 'Arn'] },
          Code: { S3Bucket: { Ref: 'AssetBucket' }, S3Key: { Ref: 'TickerKey' } },
        },
      },
      TickRule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          ScheduleExpression: 'rate(1 minute)',
          State: 'ENABLED',
          Targets: [{ Arn: { 'Fn::GetAtt': ['Ticker', 'Arn'] }, Id: 'ticker' }],
        },
      },
      TickPermission: {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          Action: 'lambda:InvokeFunction',
          FunctionName: { Ref: 'Ticker' },
          Principal: 'events.amazonaws.com',
          SourceArn: { 'Fn::GetAtt': ['TickRule', 'Arn'] },
        },
      },
    },
    Outputs: {
      WorkerName: { Value: { Ref: 'Worker' } },
      TickerName: { Value: { Ref: 'Ticker' } },
      QueueUrl: { Value: { Ref: 'WorkQueue' } },
      DlqUrl: { Value: { Ref: 'WorkDlq' } },
      DataBucketName: { Value: { Ref: 'DataBucket' } },
      RuleName: { Value: { Ref: 'TickRule' } },
    },
  };
}

async function uploadZip(key: string, files: Record<string, string>): Promise<void> {
  const zip = zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)])));
  await s3.send(new PutObjectCommand({ Bucket: assetBucket, Key: key, Body: zip }));
}

async function describe1(): Promise<Stack | undefined> {
  try {
    const res = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    return res.Stacks?.[0];
  } catch (err) {
    if (String(err).includes('does not exist')) return undefined;
    throw err;
  }
}

async function waitStack(done: string, timeoutMs: number): Promise<Stack | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stack = await describe1();
    const status = stack?.StackStatus ?? 'DELETE_COMPLETE';
    if (status === done) return stack;
    if (status.endsWith('_FAILED') || status.includes('ROLLBACK')) {
      const ev = await cfn
        .send(new DescribeStackEventsCommand({ StackName: stackName }))
        .catch(() => undefined);
      const reasons = (ev?.StackEvents ?? [])
        .filter((e) => e.ResourceStatusReason)
        .map((e) => `${e.LogicalResourceId} ${e.ResourceStatus}: ${e.ResourceStatusReason}`)
        .slice(0, 10);
      throw new Error(`stack ${stackName} is ${status}:\n${reasons.join('\n')}`);
    }
    if (Date.now() > deadline) throw new Error(`stack ${stackName} still ${status} after ${timeoutMs} ms`);
    await sleep(1000);
  }
}

function outputs(stack: Stack | undefined): Record<string, string> {
  return Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
}

async function invokeJson(name: string, payload: unknown): Promise<Record<string, unknown>> {
  const res = await lambda.send(
    new InvokeCommand({ FunctionName: name, Payload: strToU8(JSON.stringify(payload)) }),
  );
  const text = decoder.decode(must(res.Payload, 'payload'));
  if (res.FunctionError) throw new Error(`function error: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

async function emptyBucket(bucket: string): Promise<void> {
  const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  const keys = (res.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
  if (keys.length > 0) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
}

const timings: Record<string, number> = {};
let out: Record<string, string> = {};

describe('CloudFormation on LocalStack (Lambda from S3 asset, SQS FIFO + DLQ, ESM, S3, Events rule)', () => {
  beforeAll(async () => {
    const health = await fetch(`${endpoint}/_localstack/health`).catch((err: unknown) => {
      throw new Error(
        `no LocalStack at ${endpoint} (${String(err)}); start it with \`npm run localstack:up\``,
      );
    });
    expect(health.ok).toBe(true);
    await s3.send(new CreateBucketCommand({ Bucket: assetBucket }));
    await uploadZip('worker-v1.zip', { 'index.js': workerSource('v1') });
    await uploadZip('worker-v2.zip', { 'index.js': workerSource('v2') });
    await uploadZip('ticker.zip', { 'index.mjs': tickerSource });
  });

  afterAll(async () => {
    try {
      if (out.DataBucketName) await emptyBucket(out.DataBucketName).catch(() => undefined);
      if (await describe1()) {
        await cfn.send(new DeleteStackCommand({ StackName: stackName }));
        await waitStack('DELETE_COMPLETE', 120_000);
      }
    } finally {
      await emptyBucket(assetBucket).catch(() => undefined);
      await s3.send(new DeleteBucketCommand({ Bucket: assetBucket })).catch(() => undefined);
      console.log('CloudFormation smoke timings:', JSON.stringify(timings, null, 2));
    }
  });

  it('creates the stack; functions are Active', async () => {
    const started = performance.now();
    await cfn.send(
      new CreateStackCommand({
        StackName: stackName,
        TemplateBody: JSON.stringify(template()),
        Capabilities: ['CAPABILITY_IAM'],
        Parameters: [
          { ParameterKey: 'AssetBucket', ParameterValue: assetBucket },
          { ParameterKey: 'WorkerKey', ParameterValue: 'worker-v1.zip' },
          { ParameterKey: 'TickerKey', ParameterValue: 'ticker.zip' },
        ],
      }),
    );
    const stack = await waitStack('CREATE_COMPLETE', 180_000);
    timings.createStackMs = Math.round(performance.now() - started);
    out = outputs(stack);
    expect(out.QueueUrl).toMatch(/\.fifo$/);
    expect(out.DlqUrl).toMatch(/\.fifo$/);
    for (const name of [out.WorkerName, out.TickerName]) {
      const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
      expect(cfg.State, `${name}: ${cfg.StateReason ?? ''}`).toBe('Active');
      expect(cfg.Runtime).toBe('nodejs22.x');
    }
  });

  it('wires queue attributes, the mapping and the rule as declared', async () => {
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: out.QueueUrl, AttributeNames: ['All'] }),
    );
    expect(attrs.Attributes?.FifoQueue).toBe('true');
    expect(JSON.parse(attrs.Attributes?.RedrivePolicy ?? '{}')).toMatchObject({ maxReceiveCount: 3 });
    const mappings = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: out.WorkerName }));
    expect(mappings.EventSourceMappings?.[0]?.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    const rule = await events.send(new DescribeRuleCommand({ Name: out.RuleName }));
    expect(rule.ScheduleExpression).toBe('rate(1 minute)');
    const targets = await events.send(new ListTargetsByRuleCommand({ Rule: out.RuleName }));
    expect(targets.Targets?.[0]?.Arn).toContain(out.TickerName);
  });

  it('runs both functions (CommonJS worker, ESM ticker) with resolved environment', async () => {
    expect(await invokeJson(out.WorkerName ?? '', {})).toEqual({ version: 'v1', table: 'colo-table-v1' });
    expect(await invokeJson(out.TickerName ?? '', {})).toEqual({ tick: 'direct' });
  });

  it('delivers SQS FIFO messages to the worker through the mapping', async () => {
    const sentAt = Date.now();
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: out.QueueUrl,
        MessageBody: JSON.stringify({ id: 'a' }),
        MessageGroupId: 'g',
      }),
    );
    const deadline = Date.now() + 60_000;
    let body: string | undefined;
    while (!body) {
      try {
        const res = await s3.send(new GetObjectCommand({ Bucket: out.DataBucketName, Key: 'in/a' }));
        body = await must(res.Body, 'body').transformToString();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(500);
      }
    }
    expect(body).toBe('v1');
    timings.sqsToS3Ms = Date.now() - sentAt;
  });

  it('updates the worker code through UpdateStack', async () => {
    const started = performance.now();
    await cfn.send(
      new UpdateStackCommand({
        StackName: stackName,
        TemplateBody: JSON.stringify(template()),
        Capabilities: ['CAPABILITY_IAM'],
        Parameters: [
          { ParameterKey: 'AssetBucket', ParameterValue: assetBucket },
          { ParameterKey: 'WorkerKey', ParameterValue: 'worker-v2.zip' },
          { ParameterKey: 'TickerKey', ParameterValue: 'ticker.zip' },
        ],
      }),
    );
    await waitStack('UPDATE_COMPLETE', 180_000);
    timings.updateStackMs = Math.round(performance.now() - started);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: out.WorkerName }));
      if (cfg.State === 'Active' && cfg.LastUpdateStatus === 'Successful') break;
      if (Date.now() > deadline) throw new Error(`worker not updated: ${cfg.State} ${cfg.LastUpdateStatus}`);
      await sleep(500);
    }
    expect(await invokeJson(out.WorkerName ?? '', {})).toMatchObject({ version: 'v2' });
  });

  it('deletes the stack and its functions', async () => {
    await emptyBucket(out.DataBucketName ?? '');
    const started = performance.now();
    await cfn.send(new DeleteStackCommand({ StackName: stackName }));
    await waitStack('DELETE_COMPLETE', 120_000);
    timings.deleteStackMs = Math.round(performance.now() - started);
    await expect(
      lambda.send(new GetFunctionConfigurationCommand({ FunctionName: out.WorkerName })),
    ).rejects.toThrow();
  });
});
