/**
 * CDK app of the optional experiment stack (lib/experiment-stack.ts): one `ExperimentStack` named by context
 * `experimentStack` (default `ColoExperiments`), checked by cdk-nag's AWS Solutions rules like the main app.
 * Deploy to LocalStack with `npm run deploy:experiments:local`, to AWS with
 * `npx cdk deploy --app "npx tsx bin/experiment-app.ts"`.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { experimentSettingsFromContext } from '../lib/experiment-context.ts';
import { ExperimentStack } from '../lib/experiment-stack.ts';
import { ContextValidationError } from '../lib/parameters.ts';
import { STACK_NAME_PATTERN } from '../lib/stack-set.ts';
import { DEFAULT_EXPERIMENT_STACK } from '../src/experiment/stepfunctions/contract.ts';

/** Builds and synthesises the app. @throws ContextValidationError on bad context. */
function main(): void {
  const app = new App();
  // Not `stackName`: cdk.json sets that one for the main app, and it applies to every app run here.
  const stackName: unknown = app.node.tryGetContext('experimentStack') ?? DEFAULT_EXPERIMENT_STACK;
  if (typeof stackName !== 'string' || !STACK_NAME_PATTERN.test(stackName))
    throw new ContextValidationError(
      `context "experimentStack" must be a CloudFormation stack name, got ${JSON.stringify(stackName)}`,
    );
  new ExperimentStack(app, stackName, {
    description: 'colo experiment fan-out: a Step Functions map over a Lambda that runs one embedded cell',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    settings: experimentSettingsFromContext((k) => app.node.tryGetContext(k)),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  app.synth();
}

try {
  main();
} catch (e) {
  if (!(e instanceof ContextValidationError)) throw e;
  process.stderr.write(`colo experiment stack: ${e.message}\n`);
  process.exit(1);
}
