/**
 * Limits of the SQS event sources: how long a queue hides a batch it handed to a function (visibility
 * timeout) and how many invocations one event-source mapping may run at once (maximum concurrency).
 */
import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';

/**
 * Visibility timeout of a queue that feeds a function, as a multiple of the function's timeout: AWS asks for
 * at least six, so that a batch Lambda must retry after a throttled invocation is not redelivered to a
 * second consumer meanwhile (docs/cloud.md, "Event sources").
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/**
 * The visibility timeout for a queue consumed by a function with `functionTimeout`:
 * {@link VISIBILITY_TIMEOUT_FACTOR} × the timeout, whole seconds, at most SQS's 12 hours.
 *
 * @throws RangeError when that exceeds 12 hours (a function timeout above 2 hours, which Lambda refuses anyway).
 */
export function eventSourceVisibilityTimeout(functionTimeout: Duration): Duration {
  const seconds = VISIBILITY_TIMEOUT_FACTOR * functionTimeout.toSeconds();
  if (seconds > 43_200) throw new RangeError(`visibility timeout ${seconds} s exceeds SQS's 43 200 s`);
  return Duration.seconds(seconds);
}

/** Bounds of an SQS event source's maximum concurrency (Lambda `ScalingConfig.MaximumConcurrency`). */
export const MAX_CONCURRENCY_BOUNDS = { min: 2, max: 1000 } as const;

/**
 * Gives `fn` `pollers` event-source mappings made by `source`: the first on the function, the others on
 * its aliases `poller-2`, … (constructs `Poller<i>` under `scope`; Lambda allows one mapping per queue and
 * function ARN, and an alias has its own). For LocalStack, whose SQS event source runs one invocation at a
 * time per mapping (docs/localstack.md, quirk 18); 1 on AWS.
 */
export function addPollers(
  scope: Construct,
  fn: lambda.Function,
  pollers: number,
  source: () => lambda.IEventSource,
): void {
  fn.addEventSource(source());
  for (let i = 2; i <= pollers; i++) {
    const alias = new lambda.Alias(scope, `Poller${i}`, {
      aliasName: `poller-${i}`,
      // `$LATEST`, not a published version: the alias then never changes when the code does. On a version
      // it was replaced at every code update, and LocalStack creates the new alias before deleting the
      // old one — "Alias already exists", the update rolled back (a redeploy after a code change failed).
      version: fn.latestVersion,
    });
    alias.addEventSource(source());
  }
}
