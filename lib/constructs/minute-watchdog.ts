/**
 * `MinuteWatchdog`: the one schedule EventBridge can give (once a minute), invoking the tick-arm function
 * that starts the tick chains and repairs a lost one.
 */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** Props of {@link MinuteWatchdog}. */
export interface MinuteWatchdogProps {
  /** The function the rule invokes (asynchronously). */
  readonly target: lambda.IFunction;
}

/** Event the watchdog rule sends to its target. */
export interface WatchdogEvent {
  /** Always `colo.watchdog`. */
  source: 'colo.watchdog';
}

/**
 * A scheduled EventBridge rule, `rate(1 minute)`, targeting one function with a fixed
 * {@link WatchdogEvent} — one rule for the whole fleet (the target lists the registered VMs). Failed deliveries are not retried: the next minute's run does the same work.
 */
export class MinuteWatchdog extends Construct {
  /** The scheduled rule. */
  readonly rule: events.Rule;

  /** Creates the rule and its target. */
  constructor(scope: Construct, id: string, props: MinuteWatchdogProps) {
    super(scope, id);
    const event: WatchdogEvent = { source: 'colo.watchdog' };
    this.rule = new events.Rule(this, 'Rule', {
      description: 'Once a minute: start or repair the COLO tick chains (sub-minute timers)',
      schedule: events.Schedule.rate(Duration.minutes(1)),
    });
    this.rule.addTarget(
      new targets.LambdaFunction(props.target, {
        event: events.RuleTargetInput.fromObject(event),
        retryAttempts: 0,
        maxEventAge: Duration.minutes(1),
      }),
    );
  }
}
