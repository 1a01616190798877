/**
 * CDK app entry: one `ColoStack` (stack name from context `stackName`, default `ColoServerless`) — or, with
 * context `stackSet=<file>`, one per entry of that stack set (lib/stack-set.ts: several VMs from one
 * synthesis) — checked by cdk-nag's AWS Solutions rules (cdk-nag 3 runs as a CDK policy-validation plugin:
 * a finding that is not acknowledged with a reason fails synthesis). Run through the pinned CLI
 * (`npm run synth`, `npm run cdk -- deploy`, `npm run deploy:local`) or directly (`npx tsx bin/app.ts`).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ColoStack } from '../lib/colo-stack.ts';
import { ContextValidationError, checkContextKeys } from '../lib/parameters.ts';
import { readStackSet, STACK_NAME_PATTERN, type StackSetEntry, StackSetError } from '../lib/stack-set.ts';

/** Builds and synthesises the app. @throws ContextValidationError, StackSetError on bad context. */
function main(): void {
  const app = new App();
  checkContextKeys(Object.keys(app.node.getAllContext() as Record<string, unknown>));
  const stackSet: unknown = app.node.tryGetContext('stackSet');
  let stacks: StackSetEntry[];
  if (stackSet !== undefined && stackSet !== '') {
    if (typeof stackSet !== 'string')
      throw new ContextValidationError('context "stackSet" must be the path of a JSON file');
    stacks = readStackSet(stackSet);
  } else {
    const stackName: unknown = app.node.tryGetContext('stackName') ?? 'ColoServerless';
    if (typeof stackName !== 'string' || !STACK_NAME_PATTERN.test(stackName)) {
      throw new ContextValidationError(
        `context "stackName" must be a CloudFormation stack name, got ${JSON.stringify(stackName)}`,
      );
    }
    stacks = [{ stackName, context: {} }];
  }
  for (const { stackName, context } of stacks) {
    new ColoStack(app, stackName, {
      description: 'COLO VM replication with background dirty-RAM migration, on Lambda, SQS FIFO and S3',
      env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
      context,
    });
  }
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  app.synth();
}

// A bad context value is bad input, not a bug: one line naming the key, exit 1, no stack trace.
try {
  main();
} catch (e) {
  if (!(e instanceof ContextValidationError || e instanceof StackSetError)) throw e;
  process.stderr.write(`colo stack: ${e.message}\n`);
  process.exit(1);
}
