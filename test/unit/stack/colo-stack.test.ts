import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  controlStateKey,
  FLEET_WATCHDOG_CURSOR_KEY,
  MONITOR_DOCUMENT_KEY,
  PULSE_DOCUMENT_KEY,
  timerStateKey,
} from '../../../lambda/adapters/contract.ts';
import { CALL_TIMEOUTS } from '../../../lambda/adapters/env.ts';
import { testFaultsKey } from '../../../lambda/handlers/common/test-hooks.ts';
import {
  FUNCTION_NAMES,
  FUNCTION_TIMEOUT_SECONDS,
  HANDLER_ENTRIES,
  KEY_ACCESS,
  MONITOR_FUNCTIONS,
  REPLAY_HANDLER_ENTRIES,
  secondaryApplyTimeout,
} from '../../../lib/colo-stack.ts';
import { DEFAULT_PARAMETERS } from '../../../lib/parameters.ts';
import { parseVmConfig, vmConfigOf } from '../../../src/parameters/vm-config.ts';
import { chunkKey, logSegmentKey, nodeStateKey, segmentKey } from '../../../src/runtime/cloud/keys.ts';
import { arnOf, logicalId, objectsArn, type Synthesized, synthColo } from './helpers.ts';

let s: Synthesized;
let ids: {
  bucket: string;
  p2s: string;
  p2sDlq: string;
  s2p: string;
  s2pDlq: string;
  secret: string;
  ticks: Record<'checkpoint' | 'pending-check' | 'heartbeat', string>;
};

beforeAll(() => {
  s = synthColo();
  const { stack } = s;
  ids = {
    bucket: logicalId(stack.store.bucket),
    p2s: logicalId(stack.p2s.queue),
    p2sDlq: logicalId(stack.p2s.deadLetterQueue),
    s2p: logicalId(stack.s2p.queue),
    s2pDlq: logicalId(stack.s2p.deadLetterQueue),
    secret: logicalId(stack.replicationKey.secret),
    ticks: {
      checkpoint: logicalId(stack.tickChains.checkpoint.queue),
      'pending-check': logicalId(stack.tickChains['pending-check'].queue),
      heartbeat: logicalId(stack.tickChains.heartbeat.queue),
    },
  };
});

const SEND = ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'];
const CONSUME = [
  'sqs:ReceiveMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueUrl',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
];

describe('channels', () => {
  it('has two FIFO channels with FIFO DLQs, redrive after 5 receives, SQS-managed SSE', () => {
    for (const [queue, dlq] of [
      [ids.p2s, ids.p2sDlq],
      [ids.s2p, ids.s2pDlq],
    ] as const) {
      expect(s.template.toJSON().Resources[queue].Properties).toEqual({
        FifoQueue: true,
        ContentBasedDeduplication: false,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 86_400,
        VisibilityTimeout: expect.any(Number),
        RedrivePolicy: { deadLetterTargetArn: arnOf(dlq), maxReceiveCount: 5 },
      });
      expect(s.template.toJSON().Resources[dlq].Properties).toEqual({
        FifoQueue: true,
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 1_209_600,
      });
    }
  });

  it('hides a received channel batch for six times its consumer timeout (AWS guidance for event sources)', () => {
    const props = (id: string) => s.template.toJSON().Resources[id].Properties;
    expect(props(ids.p2s).VisibilityTimeout).toBe(6 * secondaryApplyTimeout(5000).toSeconds());
    expect(props(ids.p2s).VisibilityTimeout).toBe(180);
    expect(props(ids.s2p).VisibilityTimeout).toBe(6 * FUNCTION_TIMEOUT_SECONDS.primary);
    expect(props(ids.s2p).VisibilityTimeout).toBe(360);
    // Every queue that feeds a function: visibility ≥ 6 × that function's timeout.
    const fnTimeout = (ref: { Ref: string }) =>
      s.template.toJSON().Resources[ref.Ref].Properties.Timeout as number;
    for (const m of Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping'))) {
      const queueId = (m.Properties.EventSourceArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      expect(props(queueId).VisibilityTimeout, queueId).toBeGreaterThanOrEqual(
        6 * fnTimeout(m.Properties.FunctionName),
      );
    }
  });

  it('every queue is encrypted and denies non-TLS access', () => {
    const queues = s.template.findResources('AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(10);
    for (const [id, queue] of Object.entries(queues)) {
      expect(queue.Properties.SqsManagedSseEnabled, id).toBe(true);
      s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: [
            {
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Resource: arnOf(id),
            },
          ],
        },
      });
    }
  });

  it('maps each queue to its consumer with batches of 10, ReportBatchItemFailures and a concurrency cap', () => {
    const fn = (name: (typeof FUNCTION_NAMES)[number]) => ({ Ref: logicalId(s.stack.functions[name]) });
    const mappings = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping'));
    const byQueue = (queueId: string) =>
      mappings.filter((m) => JSON.stringify(m.Properties.EventSourceArn) === JSON.stringify(arnOf(queueId)));
    const expected: [string, (typeof FUNCTION_NAMES)[number]][] = [
      [ids.p2s, 'secondary-apply'],
      [ids.s2p, 'primary'],
      [ids.ticks.checkpoint, 'checkpoint-timer'],
      [ids.ticks['pending-check'], 'pending-check-timer'],
      [ids.ticks.heartbeat, 'heartbeat-monitor'],
    ];
    expect(mappings).toHaveLength(expected.length);
    for (const [queue, name] of expected) {
      expect(byQueue(queue).map((m) => m.Properties)).toEqual([
        {
          BatchSize: 10,
          EventSourceArn: arnOf(queue),
          FunctionName: fn(name),
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          ScalingConfig: { MaximumConcurrency: 100 },
        },
      ]);
    }
    const capped = synthColo({ eventSourceMaxConcurrency: '7' });
    const caps = Object.values(capped.template.findResources('AWS::Lambda::EventSourceMapping')).map(
      (m) => m.Properties.ScalingConfig,
    );
    expect(caps).toEqual(Array(5).fill({ MaximumConcurrency: 7 }));
    expect(() => synthColo({ eventSourceMaxConcurrency: 1 })).toThrow(/eventSourceMaxConcurrency/);
    expect(() => synthColo({ eventSourceMaxConcurrency: 1001 })).toThrow(/eventSourceMaxConcurrency/);
  });

  it('channelPollers: further mappings on each channel, each on an alias of the consumer; tick queues keep one', () => {
    const polled = synthColo({ channelPollers: '3' });
    const mappings = Object.values(polled.template.findResources('AWS::Lambda::EventSourceMapping'));
    expect(mappings).toHaveLength(5 + 2 * 2);
    const aliases = polled.template.findResources('AWS::Lambda::Alias');
    // On $LATEST: a code change leaves the aliases as they are (on a published version each was replaced,
    // and LocalStack's create-before-delete failed the update: "Alias already exists").
    expect(Object.values(aliases).map((a) => a.Properties.FunctionVersion)).toEqual(
      Object.values(aliases).map(() => '$LATEST'),
    );
    expect(Object.keys(polled.template.findResources('AWS::Lambda::Version'))).toEqual([]);
    for (const [channel, name] of [
      [polled.stack.p2s.queue, 'secondary-apply'],
      [polled.stack.s2p.queue, 'primary'],
    ] as const) {
      const fn = polled.stack.functions[name];
      const on = mappings.filter(
        (m) => JSON.stringify(m.Properties.EventSourceArn) === JSON.stringify(arnOf(logicalId(channel))),
      );
      // The function itself, then its aliases poller-2 and poller-3 (one mapping per function ARN).
      const aliasId = (aliasName: string): string =>
        Object.entries(aliases).find(
          ([, a]) =>
            a.Properties.Name === aliasName &&
            JSON.stringify(a.Properties.FunctionName) === JSON.stringify({ Ref: logicalId(fn) }),
        )?.[0] ?? 'missing';
      const targets = on.map((m) => JSON.stringify(m.Properties.FunctionName));
      expect(targets[0]).toBe(JSON.stringify({ Ref: logicalId(fn) }));
      expect(
        targets
          .slice(1)
          .map((t) => [aliasId('poller-2'), aliasId('poller-3')].filter((id) => t.includes(`"${id}"`))),
      ).toEqual([[aliasId('poller-2')], [aliasId('poller-3')]]);
      // Same batching and partial failures on every mapping.
      for (const m of on) {
        expect(m.Properties).toMatchObject({
          BatchSize: 10,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
        });
      }
    }
    expect(Object.keys(aliases)).toHaveLength(4);
    // The default: one mapping per queue, no alias.
    expect(Object.keys(s.template.findResources('AWS::Lambda::Alias'))).toEqual([]);
    expect(() => synthColo({ channelPollers: 0 })).toThrow(/channelPollers/);
    expect(() => synthColo({ channelPollers: 9 })).toThrow(/channelPollers/);
  });

  it('tickPollers: further mappings on each tick queue, each on an alias of its consumer; channels keep one', () => {
    const polled = synthColo({ tickPollers: '3' });
    const mappings = Object.values(polled.template.findResources('AWS::Lambda::EventSourceMapping'));
    expect(mappings).toHaveLength(5 + 3 * 2);
    const aliases = polled.template.findResources('AWS::Lambda::Alias');
    expect(Object.keys(aliases)).toHaveLength(3 * 2);
    for (const chain of Object.values(polled.stack.tickChains)) {
      const consumer =
        polled.stack.functions[
          (
            {
              checkpoint: 'checkpoint-timer',
              'pending-check': 'pending-check-timer',
              heartbeat: 'heartbeat-monitor',
            } as const
          )[chain.timer]
        ];
      const on = mappings.filter(
        (m) => JSON.stringify(m.Properties.EventSourceArn) === JSON.stringify(arnOf(logicalId(chain.queue))),
      );
      expect(on).toHaveLength(3);
      expect(JSON.stringify(on[0]?.Properties.FunctionName)).toBe(
        JSON.stringify({ Ref: logicalId(consumer) }),
      );
      // The others target the consumer's aliases poller-2 and poller-3, with the same batching.
      const mine = Object.entries(aliases).filter(
        ([, a]) => JSON.stringify(a.Properties.FunctionName) === JSON.stringify({ Ref: logicalId(consumer) }),
      );
      expect(mine.map(([, a]) => a.Properties.Name).sort()).toEqual(['poller-2', 'poller-3']);
      for (const m of on.slice(1)) {
        expect(mine.some(([id]) => JSON.stringify(m.Properties.FunctionName).includes(`"${id}"`))).toBe(true);
      }
      for (const m of on) {
        expect(m.Properties).toMatchObject({
          BatchSize: 10,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
        });
      }
    }
    expect(() => synthColo({ tickPollers: 0 })).toThrow(/tickPollers/);
    expect(() => synthColo({ tickPollers: 9 })).toThrow(/tickPollers/);
  });
});

describe('timers', () => {
  it('has one scheduled rule, rate(1 minute), invoking tick-arm with the watchdog event, no retries', () => {
    const rules = s.template.findResources('AWS::Events::Rule');
    expect(Object.values(rules).map((r) => r.Properties)).toEqual([
      {
        Description: expect.any(String),
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [
          {
            Arn: arnOf(logicalId(s.stack.functions['tick-arm'])),
            Id: 'Target0',
            Input: JSON.stringify({ source: 'colo.watchdog' }),
            RetryPolicy: { MaximumEventAgeInSeconds: 60, MaximumRetryAttempts: 0 },
          },
        ],
      },
    ]);
    s.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: arnOf(logicalId(s.stack.functions['tick-arm'])),
    });
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(s.stack.functions['tick-arm']) },
      MaximumRetryAttempts: 0,
    });
  });

  it('has three standard tick queues with DLQs after 3 receives, kept one hour', () => {
    const consumer = {
      checkpoint: 'checkpoint-timer',
      'pending-check': 'pending-check-timer',
      heartbeat: 'heartbeat-monitor',
    } as const;
    for (const timer of ['checkpoint', 'pending-check', 'heartbeat'] as const) {
      const chain = s.stack.tickChains[timer];
      const props = s.template.toJSON().Resources[ids.ticks[timer]].Properties;
      expect(props).toEqual({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 3600,
        VisibilityTimeout: 6 * FUNCTION_TIMEOUT_SECONDS[consumer[timer]],
        RedrivePolicy: { deadLetterTargetArn: arnOf(logicalId(chain.deadLetterQueue)), maxReceiveCount: 3 },
      });
      expect(props.FifoQueue).toBeUndefined();
    }
    expect(s.stack.tickChains.checkpoint.periodMs).toBe(20_000);
    expect(s.stack.tickChains['pending-check'].periodMs).toBe(1000);
    expect(s.stack.tickChains.heartbeat.periodMs).toBe(1000);
  });

  it('lets exactly the tick consumers loop through their own queue (RecursiveLoop Allow)', () => {
    const loop = Object.fromEntries(
      FUNCTION_NAMES.map((name) => [
        name,
        s.template.toJSON().Resources[logicalId(s.stack.functions[name])].Properties.RecursiveLoop,
      ]),
    );
    expect(loop).toEqual({
      'checkpoint-timer': 'Allow',
      'pending-check-timer': 'Allow',
      'tick-arm': 'Terminate',
      primary: 'Terminate',
      'secondary-apply': 'Terminate',
      'heartbeat-monitor': 'Allow',
    });
  });
});

describe('functions', () => {
  it('has six functions on nodejs22.x x86_64, tracing off, ESM handler index.handler', () => {
    const fns = s.template.findResources('AWS::Lambda::Function');
    expect(Object.keys(fns)).toHaveLength(6);
    for (const fn of Object.values(fns)) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['x86_64'],
        Handler: 'index.handler',
      });
      expect(fn.Properties.TracingConfig).toBeUndefined();
    }
  });

  it('runs heartbeat-monitor and tick-arm at monitorMemoryMb (256 MB by default), the others at 1 024 MB', () => {
    const memory = (synth: Synthesized) =>
      Object.fromEntries(
        FUNCTION_NAMES.map((name) => [
          name,
          synth.template.toJSON().Resources[logicalId(synth.stack.functions[name])].Properties.MemorySize,
        ]),
      );
    expect(memory(s)).toEqual({
      'checkpoint-timer': 1024,
      'pending-check-timer': 1024,
      'tick-arm': 256,
      primary: 1024,
      'secondary-apply': 1024,
      'heartbeat-monitor': 256,
    });
    expect([...MONITOR_FUNCTIONS].sort()).toEqual(['heartbeat-monitor', 'tick-arm']);
    const large = memory(synthColo({ monitorMemoryMb: '1024' }));
    expect(new Set(Object.values(large))).toEqual(new Set([1024]));
    expect(() => synthColo({ monitorMemoryMb: 127 })).toThrow(/monitorMemoryMb/);
    expect(() => synthColo({ monitorMemoryMb: 10_241 })).toThrow(/monitorMemoryMb/);
  });

  it('sets the timeouts, secondary-apply above the apply timeout', () => {
    const timeouts = Object.fromEntries(
      FUNCTION_NAMES.map((name) => [
        name,
        s.template.toJSON().Resources[logicalId(s.stack.functions[name])].Properties.Timeout,
      ]),
    );
    expect(timeouts).toEqual({
      'checkpoint-timer': 60,
      'pending-check-timer': 60,
      'tick-arm': 30,
      primary: 60,
      'secondary-apply': 30,
      'heartbeat-monitor': 60,
    });
    expect(timeouts['secondary-apply'] * 1000).toBeGreaterThan(DEFAULT_PARAMETERS.applyTimeoutMs);
    // Each function that may step a primary (and so perform a round's put) outlives a put's worst case, with
    // 10 s for the SDK's backoff and the invocation's own work: a hung put fails and is recorded, not killed.
    const worstPutMs =
      CALL_TIMEOUTS.maxAttempts * (CALL_TIMEOUTS.connectionTimeoutMs + CALL_TIMEOUTS.socketIdleTimeoutMs) +
      10_000;
    for (const name of ['checkpoint-timer', 'pending-check-timer', 'primary', 'heartbeat-monitor'] as const) {
      expect(timeouts[name] * 1000, name).toBeGreaterThan(worstPutMs);
    }
    const slow = synthColo({ applyTimeoutMs: 120_000 });
    const t = slow.template.toJSON().Resources[logicalId(slow.stack.functions['secondary-apply'])].Properties;
    expect(t.Timeout).toBe(145);
  });

  it('gives each function an explicit log group with retention, and no log-retention custom resource', () => {
    for (const name of FUNCTION_NAMES) {
      const fn = s.stack.functions[name];
      const props = s.template.toJSON().Resources[logicalId(fn)].Properties;
      expect(props.LoggingConfig).toEqual({ LogGroup: { Ref: logicalId(fn.functionLogGroup) } });
    }
    s.template.resourceCountIs('AWS::Logs::LogGroup', 6);
    s.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    s.template.resourceCountIs('Custom::LogRetention', 0);
    const types = new Set(
      Object.values(s.template.toJSON().Resources).map((r) => (r as { Type: string }).Type),
    );
    expect(
      [...types].filter((t) => t.startsWith('Custom::') || t === 'AWS::CloudFormation::CustomResource'),
    ).toEqual([]);
  });

  it('passes no VM parameter, and exactly the queue URLs each function may use', () => {
    const env = (name: (typeof FUNCTION_NAMES)[number]) =>
      s.template.toJSON().Resources[logicalId(s.stack.functions[name])].Properties.Environment.Variables;
    const common = {
      POWERTOOLS_SERVICE_NAME: expect.any(String),
      NODE_OPTIONS: '--enable-source-maps',
      // Stack-wide only: a VM's parameters are its registered config (vms/<vmId>.json), never env.
      BUCKET_NAME: { Ref: ids.bucket },
    };
    const ref = (id: string) => ({ Ref: id });
    // The secret's ARN (a Ref), never its value.
    const key = { REPLICATION_KEY_SECRET_ARN: ref(ids.secret) };
    // The watchdog and every tick consumer (its ticks repair the VM's other chains): all three tick queues.
    const tickQueues = {
      CHECKPOINT_TICK_QUEUE_URL: ref(ids.ticks.checkpoint),
      PENDING_CHECK_TICK_QUEUE_URL: ref(ids.ticks['pending-check']),
      HEARTBEAT_TICK_QUEUE_URL: ref(ids.ticks.heartbeat),
    };
    expect(env('checkpoint-timer')).toEqual({
      ...common,
      ...key,
      P2S_QUEUE_URL: ref(ids.p2s),
      ...tickQueues,
    });
    expect(env('pending-check-timer')).toEqual({
      ...common,
      ...key,
      P2S_QUEUE_URL: ref(ids.p2s),
      ...tickQueues,
    });
    expect(env('tick-arm')).toEqual({ ...common, ...tickQueues });
    expect(env('primary')).toEqual({
      ...common,
      ...key,
      P2S_QUEUE_URL: ref(ids.p2s),
      S2P_DLQ_URL: ref(ids.s2pDlq),
    });
    expect(env('secondary-apply')).toEqual({
      ...common,
      ...key,
      S2P_QUEUE_URL: ref(ids.s2p),
      P2S_DLQ_URL: ref(ids.p2sDlq),
    });
    expect(env('heartbeat-monitor')).toEqual({
      ...common,
      ...key,
      S2P_QUEUE_URL: ref(ids.s2p),
      ...tickQueues,
    });
    for (const name of FUNCTION_NAMES) expect(env(name).POWERTOOLS_SERVICE_NAME).toBe(name);
  });

  it('sets AWS_S3_FORCE_PATH_STYLE only when asked', () => {
    const withPathStyle = synthColo({ s3ForcePathStyle: 'true' });
    for (const name of FUNCTION_NAMES) {
      const props =
        withPathStyle.template.toJSON().Resources[logicalId(withPathStyle.stack.functions[name])].Properties;
      expect(props.Environment.Variables.AWS_S3_FORCE_PATH_STYLE).toBe('1');
      const plain = s.template.toJSON().Resources[logicalId(s.stack.functions[name])].Properties;
      expect(plain.Environment.Variables.AWS_S3_FORCE_PATH_STYLE).toBeUndefined();
    }
  });

  it('sets the fault hook (COLO_TEST_FAULTS=allow) on every function only with context testFaults=allow', () => {
    const hooked = synthColo({ testFaults: 'allow' });
    const off = synthColo({ testFaults: 'off' });
    for (const name of FUNCTION_NAMES) {
      const vars = (x: typeof s) =>
        x.template.toJSON().Resources[logicalId(x.stack.functions[name])].Properties.Environment.Variables;
      expect(vars(hooked).COLO_TEST_FAULTS, name).toBe('allow');
      expect(vars(s).COLO_TEST_FAULTS, name).toBeUndefined();
      expect(vars(off).COLO_TEST_FAULTS, name).toBeUndefined();
    }
    expect(() => synthColo({ testFaults: 'yes' })).toThrow(/context "testFaults" must be one of off, allow/);
  });

  it('points every function at its handler entry under lambda/handlers', () => {
    expect(HANDLER_ENTRIES).toEqual({
      'checkpoint-timer': 'lambda/handlers/checkpoint-timer.ts',
      'pending-check-timer': 'lambda/handlers/pending-check-timer.ts',
      'tick-arm': 'lambda/handlers/tick-arm.ts',
      primary: 'lambda/handlers/primary.ts',
      'secondary-apply': 'lambda/handlers/secondary-apply.ts',
      'heartbeat-monitor': 'lambda/handlers/heartbeat-monitor.ts',
    });
  });
});

describe('virtual-clock replay entries', () => {
  it('deploys the production entries by default and the test-only replay entries only with virtualClock=allow', () => {
    const replay = synthColo({ virtualClock: 'allow' });
    for (const name of FUNCTION_NAMES) {
      expect(s.stack.functions[name].entry, name).toBe(HANDLER_ENTRIES[name]);
      expect(replay.stack.functions[name].entry, name).toBe(
        REPLAY_HANDLER_ENTRIES[name] ?? HANDLER_ENTRIES[name],
      );
    }
    expect(REPLAY_HANDLER_ENTRIES).toEqual({
      primary: 'lambda/handlers/test/primary-replay.ts',
      'secondary-apply': 'lambda/handlers/test/secondary-apply-replay.ts',
    });
    expect(() => synthColo({ virtualClock: 'yes' })).toThrow(
      /context "virtualClock" must be one of off, allow/,
    );
  });
});

describe('least privilege', () => {
  type Name = (typeof FUNCTION_NAMES)[number];
  function statements(name: Name): { Action: string | string[]; Effect: string; Resource: unknown }[] {
    const role = logicalId(s.stack.functions[name].executionRole);
    const policies = Object.values(s.template.findResources('AWS::IAM::Policy')).filter(
      (p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: role }]),
    );
    expect(policies).toHaveLength(1);
    return policies[0]?.Properties.PolicyDocument.Statement;
  }
  type Statement = ReturnType<typeof statements>[number];
  /**
   * A role's permissions as sorted `action resource` pairs: the feature flag `@aws-cdk/aws-iam:minimizePolicies`
   * (cdk.json) merges statements, so the pairs (each once), not the statement layout, are what a test pins.
   */
  const pairs = (sts: readonly Statement[]): string[] =>
    [
      ...new Set(
        sts.flatMap((st) => {
          expect(st.Effect).toBe('Allow');
          const resources = ([] as unknown[]).concat(st.Resource);
          return ([] as string[])
            .concat(st.Action)
            .flatMap((a) => resources.map((r) => `${a} ${JSON.stringify(r)}`));
        }),
      ),
    ].sort();
  const grants = (name: Name): string[] => pairs(statements(name));

  const allow = (Action: string | string[], Resource: unknown): Statement => ({
    Action,
    Effect: 'Allow',
    Resource,
  });
  const logs = (name: Name) =>
    allow(
      ['logs:CreateLogStream', 'logs:PutLogEvents'],
      arnOf(logicalId(s.stack.functions[name].functionLogGroup)),
    );
  const key = () => allow('secretsmanager:GetSecretValue', { Ref: ids.secret });
  /** The ARN of one state key pattern, as the template spells it. */
  const stateKeys = (pattern: string) => ({ 'Fn::Join': ['', [arnOf(ids.bucket), `/state/${pattern}`]] });
  // Every function reads all of state/ and every VM's config, vms/<vmId>.json (read-only).
  const stateRead = () => [
    allow('s3:ListBucket', arnOf(ids.bucket)),
    allow('s3:GetObject', objectsArn(ids.bucket, 'state/')),
    allow('s3:GetObject', objectsArn(ids.bucket, 'vms/')),
  ];
  const writes = (...patterns: string[]) => patterns.map((p) => allow('s3:PutObject', stateKeys(p)));
  /** Deletes of one node's lean-state objects (retirement by its saves; the watchdog's sweep). */
  const deletes = (node: 'primary' | 'secondary') =>
    [`*/node/${node}/chunk/*`, `*/node/${node}/segment/*`].map((p) => allow('s3:DeleteObject', stateKeys(p)));
  const primaryState = () => [
    ...stateRead(),
    ...writes('*/node/primary*', '*/log/primary/*', '*/control.json'),
    ...deletes('primary'),
  ];
  const secondaryState = () => [
    ...stateRead(),
    ...writes('*/node/secondary*', '*/log/secondary/*', '*/control.json'),
    ...deletes('secondary'),
  ];
  const expectGrants = (name: Name, expected: Statement[]) => expect(grants(name)).toEqual(pairs(expected));

  // A tick consumer may send on every tick queue and write every timer document: its ticks repair the
  // VM's other chains (the sub-minute repair).
  it('checkpoint-timer: its tick queue, primary state and the timers, create-only deltas, send on p2s', () => {
    expectGrants('checkpoint-timer', [
      logs('checkpoint-timer'),
      allow(CONSUME, arnOf(ids.ticks.checkpoint)),
      allow(SEND, arnOf(ids.ticks.checkpoint)),
      allow(SEND, arnOf(ids.ticks['pending-check'])),
      allow(SEND, arnOf(ids.ticks.heartbeat)),
      ...primaryState(),
      ...writes('*/timers/checkpoint.json', '*/timers/pending-check.json', '*/timers/heartbeat.json'),
      allow(['s3:GetObject', 's3:PutObject'], objectsArn(ids.bucket, 'deltas/')),
      allow(SEND, arnOf(ids.p2s)),
      key(),
    ]);
  });

  it('pending-check-timer: its tick queue, primary state and the timers, create-only deltas, send on p2s', () => {
    expectGrants('pending-check-timer', [
      logs('pending-check-timer'),
      allow(CONSUME, arnOf(ids.ticks['pending-check'])),
      allow(SEND, arnOf(ids.ticks.checkpoint)),
      allow(SEND, arnOf(ids.ticks['pending-check'])),
      allow(SEND, arnOf(ids.ticks.heartbeat)),
      ...primaryState(),
      ...writes(
        '*/timers/checkpoint.json',
        '*/timers/pending-check.json',
        '*/timers/heartbeat.json',
        '*/timers/pulse.json',
        '*/timers/monitor.json',
        PULSE_DOCUMENT_KEY,
      ),
      allow(['s3:GetObject', 's3:PutObject'], objectsArn(ids.bucket, 'deltas/')),
      allow(SEND, arnOf(ids.p2s)),
      key(),
    ]);
  });

  it('tick-arm: send to the three tick queues, read state, write only the timers and its fleet cursor, sweep lean-state objects', () => {
    expectGrants('tick-arm', [
      logs('tick-arm'),
      allow(SEND, arnOf(ids.ticks.checkpoint)),
      allow(SEND, arnOf(ids.ticks['pending-check'])),
      allow(SEND, arnOf(ids.ticks.heartbeat)),
      ...stateRead(),
      ...writes(
        '*/timers/checkpoint.json',
        '*/timers/pending-check.json',
        '*/timers/heartbeat.json',
        '*/timers/pulse.json',
        '*/timers/monitor.json',
        FLEET_WATCHDOG_CURSOR_KEY,
      ),
      ...deletes('primary'),
      ...deletes('secondary'),
    ]);
  });

  it('primary: consume s2p, send unauthentic messages to its DLQ, primary state, create-only deltas, send on p2s, the key', () => {
    expectGrants('primary', [
      logs('primary'),
      allow(CONSUME, arnOf(ids.s2p)),
      allow(SEND, arnOf(ids.s2pDlq)),
      ...primaryState(),
      allow(['s3:GetObject', 's3:PutObject'], objectsArn(ids.bucket, 'deltas/')),
      allow(SEND, arnOf(ids.p2s)),
      key(),
    ]);
  });

  it('secondary-apply: consume p2s, send refused messages to its DLQ, secondary state, read and delete deltas, send on s2p', () => {
    expectGrants('secondary-apply', [
      logs('secondary-apply'),
      allow(CONSUME, arnOf(ids.p2s)),
      allow(SEND, arnOf(ids.p2sDlq)),
      ...secondaryState(),
      allow(['s3:DeleteObject', 's3:GetObject'], objectsArn(ids.bucket, 'deltas/')),
      allow(SEND, arnOf(ids.s2p)),
      key(),
    ]);
  });

  it('heartbeat-monitor: its tick queue, secondary state and the timers, send on s2p', () => {
    expectGrants('heartbeat-monitor', [
      logs('heartbeat-monitor'),
      allow(CONSUME, arnOf(ids.ticks.heartbeat)),
      allow(SEND, arnOf(ids.ticks.checkpoint)),
      allow(SEND, arnOf(ids.ticks['pending-check'])),
      allow(SEND, arnOf(ids.ticks.heartbeat)),
      ...secondaryState(),
      ...writes(
        '*/timers/checkpoint.json',
        '*/timers/pending-check.json',
        '*/timers/heartbeat.json',
        '*/timers/pulse.json',
        '*/timers/monitor.json',
        MONITOR_DOCUMENT_KEY,
      ),
      allow(SEND, arnOf(ids.s2p)),
      key(),
    ]);
  });

  it("only a channel's consumer may send to that channel's DLQ", () => {
    const senders = (dlq: string) =>
      FUNCTION_NAMES.filter((name) =>
        grants(name).some((g) => g === `sqs:SendMessage ${JSON.stringify(arnOf(dlq))}`),
      );
    expect(senders(ids.p2sDlq)).toEqual(['secondary-apply']);
    expect(senders(ids.s2pDlq)).toEqual(['primary']);
  });

  it("no function may write the other side's node documents, and nothing but the stack's keys (state keys of keys.ts)", () => {
    const writers = (key: string) =>
      FUNCTION_NAMES.filter((name) =>
        grants(name)
          .filter((g) => g.startsWith('s3:PutObject '))
          .some((g) => {
            const suffix = (
              JSON.parse(g.slice('s3:PutObject '.length)) as { 'Fn::Join': [string, unknown[]] }
            )['Fn::Join'][1][1] as string;
            // An IAM `*` matches any run of characters, `/` included.
            const re = new RegExp(
              `^${suffix
                .split('*')
                .map((x) => x.replace(/[.?+^$()[\]{}|\\]/g, '\\$&'))
                .join('.*')}$`,
            );
            return re.test(`/state/${key}`);
          }),
      );
    const primarySide = ['checkpoint-timer', 'pending-check-timer', 'primary'];
    const secondarySide = ['secondary-apply', 'heartbeat-monitor'];
    expect(writers(nodeStateKey('vm-7', 'primary'))).toEqual(primarySide);
    expect(writers(logSegmentKey('vm-7', 'primary', 3))).toEqual(primarySide);
    expect(writers(nodeStateKey('vm-7', 'secondary'))).toEqual(secondarySide);
    expect(writers(logSegmentKey('vm-7', 'secondary', 3))).toEqual(secondarySide);
    // Timers: the watchdog and the three tick consumers (each repairs its VM's other chains); never a
    // channel consumer.
    const timerWriters = ['checkpoint-timer', 'pending-check-timer', 'tick-arm', 'heartbeat-monitor'];
    for (const timer of ['checkpoint', 'pending-check', 'heartbeat'] as const) {
      expect(writers(timerStateKey('vm-7', timer))).toEqual(timerWriters);
    }
    expect(writers(controlStateKey('vm-7'))).toEqual([...primarySide, ...secondarySide]);
    // The fault hook's documents only on a stack deployed with testFaults=allow.
    expect(writers(testFaultsKey('vm-7'))).toEqual([]);
    expect(writers('vm-7/anything-else.json')).toEqual([]);
    // The fleet watchdog's cursor: the watchdog alone; no VM's key reaches it.
    expect(writers(FLEET_WATCHDOG_CURSOR_KEY)).toEqual(['tick-arm']);
    expect(writers(`vm-7/${FLEET_WATCHDOG_CURSOR_KEY}`)).toEqual([]);
    // The registry (vms/<vmId>.json) is written by the operator (colo vm), never by a function.
    for (const name of FUNCTION_NAMES) {
      expect(
        grants(name).filter((g) => g.startsWith('s3:PutObject') && g.includes('/vms/')),
        name,
      ).toEqual([]);
    }
  });

  it('deletes reach only chunks and segments (a node side its own, the watchdog both) and deltas (secondary-apply alone); never documents or configs', () => {
    const deleters = (key: string) =>
      FUNCTION_NAMES.filter((name) =>
        grants(name)
          .filter((g) => g.startsWith('s3:DeleteObject '))
          .some((g) => {
            const join = JSON.parse(g.slice('s3:DeleteObject '.length)) as {
              'Fn::Join': [string, unknown[]];
            };
            const suffix = join['Fn::Join'][1][1] as string;
            // An IAM `*` matches any run of characters, `/` included.
            const re = new RegExp(
              `^${suffix
                .split('*')
                .map((x) => x.replace(/[.?+^$()[\]{}|\\]/g, '\\$&'))
                .join('.*')}$`,
            );
            return re.test(key);
          }),
      );
    const sha = 'ab'.repeat(32);
    const primarySide = ['checkpoint-timer', 'pending-check-timer', 'primary'];
    const secondarySide = ['secondary-apply', 'heartbeat-monitor'];
    const state = (k: string) => `/state/${k}`;
    const sorted = (names: string[]) => [...names].sort();
    for (const node of ['primary', 'secondary'] as const) {
      const side = sorted([...(node === 'primary' ? primarySide : secondarySide), 'tick-arm']);
      expect(sorted(deleters(state(chunkKey('vm-7', node, 3, 12, sha))))).toEqual(side);
      expect(sorted(deleters(state(segmentKey('vm-7', node, 12, sha))))).toEqual(side);
    }
    for (const key of [
      nodeStateKey('vm-7', 'primary'),
      nodeStateKey('vm-7', 'secondary'),
      logSegmentKey('vm-7', 'primary', 3),
      logSegmentKey('vm-7', 'secondary', 3),
      timerStateKey('vm-7', 'heartbeat'),
      controlStateKey('vm-7'),
      testFaultsKey('vm-7'),
      FLEET_WATCHDOG_CURSOR_KEY,
    ]) {
      expect(deleters(state(key)), key).toEqual([]);
    }
    // Deltas: only the secondary's channel consumer, which deletes what it consumed; VM configs: nobody.
    expect(deleters('/deltas/vm-7/3/1-background-ram')).toEqual(['secondary-apply']);
    expect(deleters('/vms/vm-7.json')).toEqual([]);
    // Every delete grant is one of the four chunk/segment patterns, or deltas/.
    const patterns = new Set(
      FUNCTION_NAMES.flatMap((name) => grants(name).filter((g) => g.startsWith('s3:DeleteObject '))).map(
        (g) =>
          (JSON.parse(g.slice('s3:DeleteObject '.length)) as { 'Fn::Join': [string, unknown[]] })[
            'Fn::Join'
          ][1][1],
      ),
    );
    expect([...patterns].sort()).toEqual(
      [
        '/state/*/node/primary/chunk/*',
        '/state/*/node/primary/segment/*',
        '/state/*/node/secondary/chunk/*',
        '/state/*/node/secondary/segment/*',
        '/deltas/*',
      ].sort(),
    );
  });

  it('grants the fault-hook documents to the node functions only with testFaults=allow', () => {
    const hooked = synthColo({ testFaults: 'allow' });
    for (const name of FUNCTION_NAMES) {
      const role = logicalId(hooked.stack.functions[name].executionRole);
      const policy = Object.values(hooked.template.findResources('AWS::IAM::Policy')).find(
        (p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: role }]),
      );
      const has = JSON.stringify(policy).includes('/state/*/test-*.json');
      expect(has, name).toBe(name !== 'tick-arm');
      expect(grants(name).join('\n').includes('test-'), name).toBe(false);
    }
  });

  it('only the functions that seal or open may read the replication key, and nothing else of the secret', () => {
    const readers = FUNCTION_NAMES.filter((name) => grants(name).some((g) => g.startsWith('secretsmanager')));
    expect(readers).toEqual(FUNCTION_NAMES.filter((name) => KEY_ACCESS[name]));
    expect(readers).not.toContain('tick-arm');
    for (const name of readers) {
      expect(
        grants(name).filter((g) => g.includes('secretsmanager')),
        name,
      ).toEqual(pairs([key()]));
    }
    // No resource policy opens it to anyone else.
    expect(Object.keys(s.template.findResources('AWS::SecretsManager::ResourcePolicy'))).toEqual([]);
  });

  it('has no wildcard action and no "*" resource in any identity policy, and no managed policies', () => {
    for (const [id, policy] of Object.entries(s.template.findResources('AWS::IAM::Policy'))) {
      for (const st of policy.Properties.PolicyDocument.Statement) {
        const actions = ([] as string[]).concat(st.Action);
        expect(
          actions.filter((a) => a.includes('*')),
          id,
        ).toEqual([]);
        expect(([] as unknown[]).concat(st.Resource), id).not.toContain('*');
      }
    }
    for (const role of Object.values(s.template.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      expect(role.Properties.Policies).toBeUndefined();
    }
  });
});

describe('replication key', () => {
  it('is a Secrets Manager secret the stack generates: no key text in the template, removed with the stack', () => {
    const secrets = s.template.findResources('AWS::SecretsManager::Secret');
    expect(Object.keys(secrets)).toEqual([ids.secret]);
    const secret = secrets[ids.secret] ?? {};
    expect(secret.Properties).toEqual({
      Description: expect.stringMatching(/replication key of the stack's VMs/),
      GenerateSecretString: {
        SecretStringTemplate: '{}',
        GenerateStringKey: 'key',
        PasswordLength: 64,
        ExcludePunctuation: true,
        IncludeSpace: false,
      },
    });
    expect(secret.DeletionPolicy).toBe('Delete');
    expect(JSON.stringify(s.template.toJSON())).not.toMatch(/"SecretString"\s*:/);
  });
});

describe('bucket', () => {
  it('is S3-encrypted, private, not versioned, expires deltas/ after deltaExpiryDays', () => {
    const buckets = s.template.findResources('AWS::S3::Bucket');
    expect(Object.keys(buckets)).toEqual([ids.bucket]);
    const bucket = buckets[ids.bucket] ?? {};
    expect(bucket.Properties).toEqual({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LifecycleConfiguration: {
        Rules: [
          {
            Id: 'expire-deltas',
            Prefix: 'deltas/',
            ExpirationInDays: 1,
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            Status: 'Enabled',
          },
        ],
      },
    });
    expect(bucket.DeletionPolicy).toBe('Delete');
    const week = synthColo({ deltaExpiryDays: 7 });
    week.template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ Prefix: 'deltas/', ExpirationInDays: 7 })] },
    });
  });

  it('denies non-TLS and pre-1.2 TLS requests', () => {
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: ids.bucket },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
          }),
        ]),
      },
    });
  });
});

describe('outputs', () => {
  it('exports everything a client or an integration test needs', () => {
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'VmId',
        'ParametersJson',
        'BucketName',
        'ReplicationKeySecretArn',
        'PrimaryToSecondaryQueueUrl',
        'PrimaryToSecondaryQueueArn',
        'PrimaryToSecondaryDlqUrl',
        'SecondaryToPrimaryQueueUrl',
        'SecondaryToPrimaryQueueArn',
        'SecondaryToPrimaryDlqUrl',
        'CheckpointTickQueueUrl',
        'CheckpointTickDlqUrl',
        'PendingCheckTickQueueUrl',
        'PendingCheckTickDlqUrl',
        'HeartbeatTickQueueUrl',
        'HeartbeatTickDlqUrl',
        'CheckpointTimerFunctionName',
        'PendingCheckTimerFunctionName',
        'TickArmFunctionName',
        'PrimaryFunctionName',
        'SecondaryApplyFunctionName',
        'HeartbeatMonitorFunctionName',
        'WatchdogRuleName',
        'VmConfigJson',
        'ApplyTimeoutCapMs',
        'DashboardName',
      ].sort(),
    );
    expect(outputs.BucketName?.Value).toEqual({ Ref: ids.bucket });
    expect(outputs.PrimaryToSecondaryQueueArn?.Value).toEqual(arnOf(ids.p2s));
    expect(JSON.parse(outputs.ParametersJson?.Value as string)).toEqual(DEFAULT_PARAMETERS);
    // The VM the deploy registers: its config document exactly as the functions parse it.
    expect(parseVmConfig(outputs.VmConfigJson?.Value as string)).toEqual(vmConfigOf(DEFAULT_PARAMETERS));
    expect(outputs.ApplyTimeoutCapMs?.Value).toBe(String(DEFAULT_PARAMETERS.applyTimeoutMs));
  });
});
