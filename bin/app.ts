/**
 * CDK app entry: one `ColoStack` (stack name from context `stackName`, default `ColoServerless`), checked by
 * cdk-nag's AWS Solutions rules (cdk-nag 3 runs as a CDK policy-validation plugin: a finding that is not
 * acknowledged with a reason fails synthesis). Run through the pinned CLI (`npm run synth`, `npm run cdk -- deploy`) or
 * directly (`npx tsx bin/app.ts`).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ColoStack } from '../lib/colo-stack.ts';

const app = new App();
const stackName: unknown = app.node.tryGetContext('stackName') ?? 'ColoServerless';
if (typeof stackName !== 'string' || !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) {
  throw new Error(
    `context "stackName" must be a CloudFormation stack name, got ${JSON.stringify(stackName)}`,
  );
}
new ColoStack(app, stackName, {
  description: 'COLO VM replication with background dirty-RAM migration, on Lambda, SQS FIFO and S3',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
