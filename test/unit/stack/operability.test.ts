import { App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { COLO_METRICS, METRIC_NAMESPACE } from '../../../lambda/adapters/metrics-contract.ts';
import { ColoStack, FUNCTION_NAMES } from '../../../lib/colo-stack.ts';
import { coloEventSum, STUCK_CHANNEL_AGE_SECONDS } from '../../../lib/constructs/colo-alarms.ts';
import { SINGLE_VM_STACK } from '../../../src/cost/model.ts';
import { arnOf, logicalId, type Synthesized, synthColo, TEST_CONTEXT } from './helpers.ts';

let s: Synthesized;
type Alarm = { Properties: Record<string, unknown> };
let alarms: Record<string, Alarm>;

beforeAll(() => {
  s = synthColo();
  alarms = Object.fromEntries(
    Object.entries(s.stack.alarms.alarms).map(([label, alarm]) => [
      label,
      s.template.toJSON().Resources[logicalId(alarm)] as Alarm,
    ]),
  );
});

const NODE_SERVICES = [
  'checkpoint-timer',
  'pending-check-timer',
  'primary',
  'secondary-apply',
  'heartbeat-monitor',
];

describe('alarms', () => {
  it('has exactly the alarms of the ops list: dead letters, stuck channels, errors, throttles, COLO events', () => {
    expect(Object.keys(alarms).sort()).toEqual(
      [
        ...['p2s', 's2p', 'checkpoint', 'pending-check', 'heartbeat'].map((q) => `DeadLetters-${q}`),
        'StuckChannel-p2s',
        'StuckChannel-s2p',
        ...FUNCTION_NAMES.flatMap((f) => [`Errors-${f}`, `Throttles-${f}`]),
        'Failovers',
        'ChainRepairs',
        'AbandonedSends',
      ].sort(),
    );
    expect(Object.keys(s.template.findResources('AWS::CloudWatch::Alarm'))).toHaveLength(
      Object.keys(alarms).length,
    );
  });

  it("the cost model's deployment profile prices exactly the stack's alarms and dashboards", () => {
    expect(SINGLE_VM_STACK.alarms).toBe(
      Object.keys(s.template.findResources('AWS::CloudWatch::Alarm')).length,
    );
    expect(SINGLE_VM_STACK.dashboards).toBe(
      Object.keys(s.template.findResources('AWS::CloudWatch::Dashboard')).length,
    );
  });

  it('alarms on any message in a dead-letter queue, within a minute', () => {
    const dlqs = {
      p2s: s.stack.p2s.deadLetterQueue,
      s2p: s.stack.s2p.deadLetterQueue,
      checkpoint: s.stack.tickChains.checkpoint.deadLetterQueue,
      'pending-check': s.stack.tickChains['pending-check'].deadLetterQueue,
      heartbeat: s.stack.tickChains.heartbeat.deadLetterQueue,
    };
    for (const [label, queue] of Object.entries(dlqs)) {
      expect(alarms[`DeadLetters-${label}`]?.Properties).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(queue), 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('alarms on a stuck FIFO group: the oldest channel message over 60 s for 3 minutes', () => {
    expect(STUCK_CHANNEL_AGE_SECONDS).toBe(60);
    for (const [label, channel] of [
      ['p2s', s.stack.p2s],
      ['s2p', s.stack.s2p],
    ] as const) {
      expect(alarms[`StuckChannel-${label}`]?.Properties).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(channel.queue), 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 60,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
      });
    }
  });

  it('alarms on errors and throttles of each function in 3 of 5 minutes', () => {
    for (const name of FUNCTION_NAMES) {
      for (const [kind, metric] of [
        ['Errors', 'Errors'],
        ['Throttles', 'Throttles'],
      ] as const) {
        expect(alarms[`${kind}-${name}`]?.Properties, `${kind}-${name}`).toMatchObject({
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(s.stack.functions[name]) } }],
          Statistic: 'Sum',
          Period: 60,
          Threshold: 1,
          EvaluationPeriods: 5,
          DatapointsToAlarm: 3,
          TreatMissingData: 'notBreaching',
        });
      }
    }
  });

  it('alarms on failovers, chain repairs and abandoned sends from the functions, dimensioned by service only', () => {
    type Query = { Id: string; Expression?: string; MetricStat?: { Metric: Record<string, unknown> } };
    const series = (label: string) => {
      const queries = alarms[label]?.Properties.Metrics as Query[];
      const sum = queries.find((q) => q.Expression);
      const stats = queries.flatMap((q) => (q.MetricStat ? [q.MetricStat.Metric] : []));
      expect(sum?.Expression).toBe(
        `SUM([${queries
          .filter((q) => q.MetricStat)
          .map((q) => q.Id)
          .join(',')}])`,
      );
      for (const m of stats) {
        expect(m.Namespace).toBe(METRIC_NAMESPACE);
        // The one dimension: the function's service, never the VM (fixed cardinality at any fleet size).
        expect((m.Dimensions as { Name: string }[]).map((d) => d.Name)).toEqual(['service']);
      }
      return stats.map((m) => `${m.MetricName}@${(m.Dimensions as { Value: string }[])[0]?.Value}`).sort();
    };
    expect(series('Failovers')).toEqual(
      NODE_SERVICES.map((svc) => `${COLO_METRICS.failovers}@${svc}`).sort(),
    );
    // The watchdog's repairs and the sibling repairs of the checkpoint chains and of the stack's two chains.
    expect(series('ChainRepairs')).toEqual(
      ['checkpoint-timer', 'heartbeat-monitor', 'pending-check-timer', 'tick-arm'].map(
        (svc) => `${COLO_METRICS.chainsRepaired}@${svc}`,
      ),
    );
    expect(series('AbandonedSends')).toEqual(
      [COLO_METRICS.sendsRetired, COLO_METRICS.roundsAbandoned]
        .flatMap((m) => NODE_SERVICES.map((svc) => `${m}@${svc}`))
        .sort(),
    );
    for (const label of ['Failovers', 'ChainRepairs', 'AbandonedSends']) {
      expect(alarms[label]?.Properties).toMatchObject({ Threshold: 1, EvaluationPeriods: 1 });
    }
  });

  it('an alarm sums at most 10 series (the metric-math limit of an alarm)', () => {
    expect(() => coloEventSum(['A', 'B', 'C'], ['s1', 's2', 's3', 's4'])).toThrow(
      /at most 10 series, got 12/,
    );
    expect(coloEventSum(['A', 'B'], ['s1', 's2', 's3', 's4', 's5']).expression).toBe(
      'SUM([m0,m1,m2,m3,m4,m5,m6,m7,m8,m9])',
    );
  });

  it('notifies nobody by default: no topic, no alarm actions', () => {
    expect(Object.keys(s.template.findResources('AWS::SNS::Topic'))).toEqual([]);
    for (const [label, alarm] of Object.entries(alarms)) {
      expect(alarm.Properties.AlarmActions, label).toBeUndefined();
      expect(alarm.Properties.OKActions, label).toBeUndefined();
    }
  });

  it('with alarmTopic=create: an encrypted, TLS-only topic that every alarm notifies on alarm and OK', () => {
    const t = synthColo({ alarmTopic: 'create' });
    const topics = t.template.findResources('AWS::SNS::Topic');
    expect(Object.keys(topics)).toHaveLength(1);
    const topicId = Object.keys(topics)[0] as string;
    const keyId = logicalId(t.stack.alarms.topic?.masterKey as never);
    expect(topics[topicId]?.Properties.KmsMasterKeyId).toEqual(arnOf(keyId));
    t.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    // CloudWatch may use the key (it cannot use the AWS-managed aws/sns key).
    const keyPolicy = JSON.stringify(t.template.toJSON().Resources[keyId].Properties.KeyPolicy);
    expect(keyPolicy).toContain('cloudwatch.amazonaws.com');
    const topicPolicy = JSON.stringify(t.template.findResources('AWS::SNS::TopicPolicy'));
    expect(topicPolicy).toContain('aws:SecureTransport');
    const all = Object.values(t.template.findResources('AWS::CloudWatch::Alarm'));
    expect(all.length).toBeGreaterThan(0);
    for (const alarm of all) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: topicId }]);
    }
    expect(t.template.toJSON().Outputs.AlarmTopicArn.Value).toEqual({ Ref: topicId });
    expect(() => synthColo({ alarmTopic: 'email' })).toThrow(
      /context "alarmTopic" must be one of off, create/,
    );
  });

  it('with alarmTopic=create the stack stays clean under cdk-nag', () => {
    const app = new App({
      builtinCloudFormationValidation: false,
      context: { ...TEST_CONTEXT, alarmTopic: 'create' },
    });
    new ColoStack(app, 'NagTopic');
    const findings = new AwsSolutionsChecks(app, { verbose: true })
      .validateScope(app)
      .violations.filter((v) => v.ruleName.startsWith('AwsSolutions-'))
      .map((v) => v.ruleName);
    expect(findings).toEqual([]);
  });
});

describe('dashboard', () => {
  it('is one dashboard with the alarm states and graphs of COLO events, functions and queues', () => {
    const dashboards = s.template.findResources('AWS::CloudWatch::Dashboard');
    expect(Object.keys(dashboards)).toEqual([logicalId(s.stack.dashboard.dashboard)]);
    const body = JSON.stringify(
      s.stack.resolve(
        (Object.values(dashboards)[0] as { Properties: { DashboardBody: unknown } }).Properties.DashboardBody,
      ),
    );
    // Widget titles, in the order the dashboard shows them.
    const titles = [...body.matchAll(/\\"title\\":\\"([^\\]+)\\"/g)].map((m) => m[1]);
    expect(titles).toEqual([
      'Alarms',
      'Checkpoints, background rounds and commits per minute',
      'Checkpoint downtime, ms (p50, p99)',
      'Failovers, chain repairs, retired sends, abandoned rounds',
      'State compare-and-swap conflicts; delta keys taken back from foreign objects',
      'Invocations',
      'Errors and throttles',
      'Duration, ms (p99)',
      'Concurrent executions (max)',
      'Messages visible (max)',
      'Age of oldest message, s (max)',
    ]);
    for (const alarm of Object.values(s.stack.alarms.alarms)) expect(body).toContain(logicalId(alarm));
    for (const metric of Object.values(COLO_METRICS)) expect(body, metric).toContain(`\\"${metric}\\"`);
    // No VM id anywhere: the graphs are per function and per queue.
    expect(body).not.toContain('vmId');
    expect(s.template.toJSON().Outputs.DashboardName.Value).toEqual({
      Ref: logicalId(s.stack.dashboard.dashboard),
    });
  });
});
