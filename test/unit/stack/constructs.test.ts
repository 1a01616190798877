import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { ColoChannel } from '../../../lib/constructs/colo-channel.ts';
import { ColoFunction } from '../../../lib/constructs/colo-function.ts';
import { DeltaStoreBucket } from '../../../lib/constructs/delta-store-bucket.ts';
import { TickChain } from '../../../lib/constructs/tick-chain.ts';
import { arnOf, logicalId, TEST_CONTEXT } from './helpers.ts';

function stack(): Stack {
  return new Stack(new App({ builtinCloudFormationValidation: false, context: TEST_CONTEXT }), 'C');
}

const entry = 'lambda/handlers/tick-arm.ts';

describe('ColoFunction', () => {
  it('holds the defaults and lets a caller override them', () => {
    const s = stack();
    const fn = new ColoFunction(s, 'Fn', {
      entry,
      serviceName: 'svc',
      memorySize: 256,
      timeout: Duration.seconds(5),
      logRetentionDays: 30,
      environment: { EXTRA: 'x' },
    });
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['x86_64'],
      MemorySize: 256,
      Timeout: 5,
      Environment: {
        Variables: { POWERTOOLS_SERVICE_NAME: 'svc', NODE_OPTIONS: '--enable-source-maps', EXTRA: 'x' },
      },
    });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    t.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
        ],
      },
    });
    expect(fn.executionRole).toBe(fn.role);
    expect(fn.functionLogGroup.node.id).toBe('FnLogs');
  });
});

describe('ColoChannel', () => {
  it('bounds maxReceiveCount', () => {
    expect(
      () => new ColoChannel(stack(), 'Ch', { visibilityTimeout: Duration.seconds(60), maxReceiveCount: 0 }),
    ).toThrow(/maxReceiveCount/);
    const s = stack();
    new ColoChannel(s, 'Ch', { visibilityTimeout: Duration.seconds(60), maxReceiveCount: 2 });
    Template.fromStack(s).hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: true,
      RedrivePolicy: { maxReceiveCount: 2 },
      VisibilityTimeout: 60,
    });
  });
});

describe('TickChain', () => {
  it('refuses a consumer whose recursive-loop detection would stop the chain', () => {
    const s = stack();
    const fn = new ColoFunction(s, 'Fn', { entry, serviceName: 'svc' });
    expect(() => new TickChain(s, 'Ticks', { timer: 'checkpoint', consumer: fn, periodMs: 20_000 })).toThrow(
      /RecursiveLoop.ALLOW/,
    );
  });

  it('wires a consumer that allows the loop', () => {
    const s = stack();
    const fn = new ColoFunction(s, 'Fn', {
      entry,
      serviceName: 'svc',
      recursiveLoop: lambda.RecursiveLoop.ALLOW,
    });
    const chain = new TickChain(s, 'Ticks', { timer: 'heartbeat', consumer: fn, periodMs: 1000 });
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::Lambda::Function', {
      RecursiveLoop: 'Allow',
      Environment: { Variables: { HEARTBEAT_TICK_QUEUE_URL: { Ref: logicalId(chain.queue) } } },
    });
    t.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
  });
});

describe('DeltaStoreBucket', () => {
  it('builds prefix-scoped object ARNs', () => {
    const s = stack();
    const store = new DeltaStoreBucket(s, 'Store', { deltaExpiryDays: 3 });
    expect(s.resolve(store.objectsArn('deltas/'))).toEqual({
      'Fn::Join': ['', [arnOf(logicalId(store.bucket)), '/deltas/*']],
    });
  });
});
