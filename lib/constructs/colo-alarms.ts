/**
 * `ColoAlarms`: the stack's CloudWatch alarms — dead letters, function errors and throttles, a stuck FIFO
 * group, failovers, tick-chain repairs and abandoned sends — and, when asked, the SNS topic they notify.
 * Every alarm reads a fixed set of metric series (by function or queue, never by VM), so a fleet of any
 * size has the same alarms.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { COLO_METRICS, METRIC_DIMENSION, METRIC_NAMESPACE } from '../../lambda/adapters/metrics-contract.ts';

/** Period of every alarm's metric, 1 minute: the finest standard-resolution period. */
export const ALARM_PERIOD = Duration.minutes(1);

/**
 * Age of the oldest message on a COLO channel above which its FIFO group counts as stuck, seconds. A healthy
 * message is consumed within seconds (LocalStack polls once a second); a checkpoint waits at most
 * `checkpointTimeoutMs` (30 s by default) for a reply, so a message a minute old is blocking its group.
 */
export const STUCK_CHANNEL_AGE_SECONDS = 60;

/**
 * Errors and throttles alarm when they occur in this many of the last {@link NOISY_EVALUATION_PERIODS}
 * minutes: one transient error is retried by SQS and repaired by the protocol; a repeating one is not.
 */
export const NOISY_DATAPOINTS = 3;

/** Minutes looked back over for errors and throttles. */
export const NOISY_EVALUATION_PERIODS = 5;

/** The COLO events counted from the functions' EMF metrics (lambda/handlers/common/observability.ts). */
export const COLO_EVENT_METRICS = {
  /** The secondary took over (heartbeat lost or requested). */
  failovers: [COLO_METRICS.failovers],
  /** The watchdog replaced a tick chain that had gone quiet (lambda/handlers/tick-arm.ts). */
  chainRepairs: [COLO_METRICS.chainsRepaired],
  /** A send whose object could not be stored, or a background round the secondary gave up. */
  abandonedSends: [COLO_METRICS.sendsRetired, COLO_METRICS.roundsAbandoned],
} as const;

/** Props of {@link ColoAlarms}. */
export interface ColoAlarmsProps {
  /** The functions, by service name (the `service` dimension of their metrics). */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  /** Services that step a COLO node and so emit the node's metrics (checkpoints, failovers, sends). */
  readonly nodeServices: readonly string[];
  /** The service that runs the once-a-minute watchdog (emits `ChainsRepaired`). */
  readonly watchdogService: string;
  /**
   * Every service that repairs a tick chain (emits `ChainsRepaired`): the watchdog, and the chains that
   * repair their siblings within seconds (a VM's checkpoint chain; the pulse and the monitor each other).
   * Default: the watchdog's alone.
   */
  readonly repairServices?: readonly string[];
  /** COLO channels (FIFO queues), by label. */
  readonly channels: Readonly<Record<string, sqs.IQueue>>;
  /** Every dead-letter queue, by label. */
  readonly deadLetterQueues: Readonly<Record<string, sqs.IQueue>>;
  /** `create`: make an SNS topic (with its own KMS key) that every alarm notifies on alarm and on OK. */
  readonly topic: 'off' | 'create';
}

/** The alarms, and the topic when one was asked for. */
export class ColoAlarms extends Construct {
  /** Every alarm, by a stable label (`DeadLetters-p2s`, `Errors-primary`, `Failovers`, …). */
  readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** The topic the alarms notify, when `topic` was `create`. */
  readonly topic?: sns.Topic;

  /** Creates the alarms (and the topic and its key). */
  constructor(scope: Construct, id: string, props: ColoAlarmsProps) {
    super(scope, id);
    const alarms: Record<string, cloudwatch.Alarm> = {};
    const add = (
      label: string,
      metric: cloudwatch.IMetric,
      description: string,
      options: { threshold?: number; datapoints?: number; periods?: number } = {},
    ): void => {
      alarms[label] = new cloudwatch.Alarm(this, label, {
        metric,
        alarmDescription: description,
        threshold: options.threshold ?? 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: options.periods ?? 1,
        datapointsToAlarm: options.datapoints ?? 1,
        // No data means nothing happened: no messages, no errors, no COLO events.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    };

    for (const [label, queue] of Object.entries(props.deadLetterQueues)) {
      add(
        `DeadLetters-${label}`,
        queue.metricApproximateNumberOfMessagesVisible({ period: ALARM_PERIOD, statistic: 'Maximum' }),
        `A message reached the ${label} dead-letter queue: it was refused or failed every delivery (docs/reliability.md)`,
      );
    }
    for (const [label, queue] of Object.entries(props.channels)) {
      add(
        `StuckChannel-${label}`,
        queue.metricApproximateAgeOfOldestMessage({ period: ALARM_PERIOD, statistic: 'Maximum' }),
        `The oldest message on the ${label} channel is ${STUCK_CHANNEL_AGE_SECONDS} s old for 3 minutes: a FIFO group (a VM) is stuck behind it`,
        { threshold: STUCK_CHANNEL_AGE_SECONDS, datapoints: 3, periods: 3 },
      );
    }
    const noisy = { datapoints: NOISY_DATAPOINTS, periods: NOISY_EVALUATION_PERIODS };
    for (const [name, fn] of Object.entries(props.functions)) {
      add(
        `Errors-${name}`,
        fn.metricErrors({ period: ALARM_PERIOD, statistic: 'Sum' }),
        `Function ${name} failed invocations in ${NOISY_DATAPOINTS} of the last ${NOISY_EVALUATION_PERIODS} minutes`,
        noisy,
      );
      add(
        `Throttles-${name}`,
        fn.metricThrottles({ period: ALARM_PERIOD, statistic: 'Sum' }),
        `Function ${name} was throttled in ${NOISY_DATAPOINTS} of the last ${NOISY_EVALUATION_PERIODS} minutes (account concurrency or an event-source cap)`,
        noisy,
      );
    }
    add(
      'Failovers',
      coloEventSum(COLO_EVENT_METRICS.failovers, props.nodeServices),
      'A VM failed over: its secondary now runs alone (colo status names it; docs/reliability.md)',
    );
    add(
      'ChainRepairs',
      coloEventSum(COLO_EVENT_METRICS.chainRepairs, props.repairServices ?? [props.watchdogService]),
      'A tick chain had gone quiet and was restarted: by its sibling within seconds, or by the minute watchdog',
    );
    add(
      'AbandonedSends',
      coloEventSum(COLO_EVENT_METRICS.abandonedSends, props.nodeServices),
      'A send was retired (its object could not be stored) or the secondary abandoned a background round',
    );
    this.alarms = alarms;

    if (props.topic === 'create') {
      // CloudWatch publishes to an encrypted topic only with a customer-managed key whose policy lets it use
      // the key (the AWS-managed aws/sns key cannot be granted to it).
      const key = new kms.Key(this, 'TopicKey', {
        description: 'Encrypts the COLO alarm topic',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.DESTROY,
        pendingWindow: Duration.days(7),
      });
      key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey');
      this.topic = new sns.Topic(this, 'Topic', {
        displayName: 'COLO alarms',
        masterKey: key,
        enforceSSL: true,
      });
      const action = new actions.SnsAction(this.topic);
      for (const alarm of Object.values(alarms)) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
  }
}

/**
 * The sum, per minute, of COLO event counts emitted by several services: one series per (metric, service),
 * summed with `SUM([...])`, which skips a series that has no point in a minute (most of them, usually).
 * At most 10 series (an alarm's metric-math limit).
 *
 * @throws RangeError when more than 10 series would be summed.
 */
export function coloEventSum(
  metricNames: readonly string[],
  services: readonly string[],
): cloudwatch.MathExpression {
  const usingMetrics: Record<string, cloudwatch.IMetric> = {};
  let i = 0;
  for (const metricName of metricNames) {
    for (const service of services) {
      usingMetrics[`m${i++}`] = new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName,
        dimensionsMap: { [METRIC_DIMENSION]: service },
        statistic: 'Sum',
        period: ALARM_PERIOD,
      });
    }
  }
  if (i > 10) throw new RangeError(`an alarm sums at most 10 series, got ${i} (${metricNames.join(', ')})`);
  return new cloudwatch.MathExpression({
    expression: `SUM([${Object.keys(usingMetrics).join(',')}])`,
    usingMetrics,
    label: metricNames.join(' + '),
    period: ALARM_PERIOD,
  });
}
