/**
 * `ColoDashboard`: one CloudWatch dashboard for the stack — alarm states, COLO events, checkpoint downtime,
 * function health and queue depths. Every graph reads per-function or per-queue series, never per-VM ones.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { COLO_METRICS, METRIC_DIMENSION, METRIC_NAMESPACE } from '../../lambda/adapters/metrics-contract.ts';

/** Width of a graph: half of the dashboard's 24 columns. */
const HALF = 12;

/** Props of {@link ColoDashboard}. */
export interface ColoDashboardProps {
  /** The functions, by service name. */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  /** Services that step a COLO node (they emit checkpoints, commits, failovers). */
  readonly nodeServices: readonly string[];
  /** The watchdog's service (emits `ChainsRepaired`). */
  readonly watchdogService: string;
  /** Every queue to graph (channels, tick queues, dead-letter queues), by label. */
  readonly queues: Readonly<Record<string, sqs.IQueue>>;
  /** Alarms shown in the status widget at the top. */
  readonly alarms: readonly cloudwatch.IAlarm[];
}

/** The stack's dashboard. */
export class ColoDashboard extends Construct {
  /** The dashboard. */
  readonly dashboard: cloudwatch.Dashboard;

  /** Creates the dashboard and its widgets. */
  constructor(scope: Construct, id: string, props: ColoDashboardProps) {
    super(scope, id);
    const period = Duration.minutes(1);
    const colo = (metricName: string, service: string, statistic = 'Sum'): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName,
        dimensionsMap: { [METRIC_DIMENSION]: service },
        statistic,
        period,
        label: `${metricName} (${service})`,
      });
    const across = (metricName: string, services: readonly string[], statistic = 'Sum') =>
      services.map((s) => colo(metricName, s, statistic));
    const fns = Object.entries(props.functions);
    const queues = Object.entries(props.queues);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new cloudwatch.AlarmStatusWidget({
            title: 'Alarms',
            alarms: [...props.alarms],
            width: 24,
            height: Math.max(3, Math.ceil(props.alarms.length / 4) + 1),
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Checkpoints, background rounds and commits per minute',
            width: HALF,
            left: [
              ...across(COLO_METRICS.checkpoints, props.nodeServices),
              ...across(COLO_METRICS.backgroundRounds, props.nodeServices),
              ...across(COLO_METRICS.commits, props.nodeServices),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'Checkpoint downtime, ms (p50, p99)',
            width: HALF,
            left: [
              ...across(COLO_METRICS.checkpointDowntime, props.nodeServices, 'p50'),
              ...across(COLO_METRICS.checkpointDowntime, props.nodeServices, 'p99'),
            ],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Failovers, chain repairs, retired sends, abandoned rounds',
            width: HALF,
            left: [
              ...across(COLO_METRICS.failovers, props.nodeServices),
              colo(COLO_METRICS.chainsRepaired, props.watchdogService),
              ...across(COLO_METRICS.sendsRetired, props.nodeServices),
              ...across(COLO_METRICS.roundsAbandoned, props.nodeServices),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'State compare-and-swap conflicts; delta keys taken back from foreign objects',
            width: HALF,
            left: [
              ...across(COLO_METRICS.casConflicts, props.nodeServices),
              ...across(COLO_METRICS.deltaObjectsTakenBack, props.nodeServices),
            ],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Invocations',
            width: HALF,
            left: fns.map(([name, fn]) => fn.metricInvocations({ period, label: name })),
          }),
          new cloudwatch.GraphWidget({
            title: 'Errors and throttles',
            width: HALF,
            left: fns.map(([name, fn]) => fn.metricErrors({ period, label: `errors ${name}` })),
            right: fns.map(([name, fn]) => fn.metricThrottles({ period, label: `throttles ${name}` })),
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Duration, ms (p99)',
            width: HALF,
            left: fns.map(([name, fn]) => fn.metricDuration({ period, statistic: 'p99', label: name })),
          }),
          new cloudwatch.GraphWidget({
            title: 'Concurrent executions (max)',
            width: HALF,
            left: fns.map(
              ([name, fn]) =>
                new cloudwatch.Metric({
                  namespace: 'AWS/Lambda',
                  metricName: 'ConcurrentExecutions',
                  dimensionsMap: { FunctionName: fn.functionName },
                  statistic: 'Maximum',
                  period,
                  label: name,
                }),
            ),
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Messages visible (max)',
            width: HALF,
            left: queues.map(([label, q]) =>
              q.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum', label }),
            ),
          }),
          new cloudwatch.GraphWidget({
            title: 'Age of oldest message, s (max)',
            width: HALF,
            left: queues.map(([label, q]) =>
              q.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum', label }),
            ),
          }),
        ],
      ],
    });
  }
}
