/** Shared synthesis for the stack tests: bundling skipped, CDK's built-in template validation off (slow). */
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ColoStack, type ColoStackProps } from '../../../lib/colo-stack.ts';

/** Context that makes `NodejsFunction` skip bundling in every stack. */
export const SKIP_BUNDLING = { 'aws:cdk:bundling-stacks': [] as string[] };

/** A synthesized ColoStack with its template. */
export interface Synthesized {
  app: App;
  stack: ColoStack;
  template: Template;
}

/** Builds a `ColoStack` named `Test` in a fresh app with `context` and synthesizes its template. */
export function synthColo(context: Record<string, unknown> = {}, props: ColoStackProps = {}): Synthesized {
  const app = new App({ builtinCloudFormationValidation: false, context: { ...SKIP_BUNDLING, ...context } });
  const stack = new ColoStack(app, 'Test', props);
  return { app, stack, template: Template.fromStack(stack) };
}

/** The logical id a construct's CloudFormation resource gets. */
export function logicalId(element: { node: { defaultChild?: unknown } } | CfnElement): string {
  const cfn = ('logicalId' in element ? element : element.node.defaultChild) as CfnElement;
  return Stack.of(cfn).resolve(cfn.logicalId) as string;
}

/** `{ "Fn::GetAtt": [id, "Arn"] }`. */
export function arnOf(id: string): unknown {
  return { 'Fn::GetAtt': [id, 'Arn'] };
}

/** The ARN pattern of a bucket prefix as the template spells it. */
export function objectsArn(bucketId: string, prefix: string): unknown {
  return { 'Fn::Join': ['', [arnOf(bucketId), `/${prefix}*`]] };
}
