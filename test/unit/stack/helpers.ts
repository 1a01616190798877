/**
 * Shared synthesis for the stack tests: cdk.json's feature flags on (so a test pins the template `cdk synth`
 * gives), bundling skipped, CDK's built-in template validation off (slow).
 */
import { readFileSync } from 'node:fs';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ColoStack, type ColoStackProps } from '../../../lib/colo-stack.ts';

/** The feature flags `cdk.json` sets: every context key that names a construct library (`@aws-cdk…`). */
export const FEATURE_FLAGS: Readonly<Record<string, unknown>> = Object.fromEntries(
  Object.entries(
    (
      JSON.parse(readFileSync(new URL('../../../cdk.json', import.meta.url), 'utf8')) as {
        context: Record<string, unknown>;
      }
    ).context,
  ).filter(([key]) => key.startsWith('@aws-cdk')),
);

/** Context of every test app: cdk.json's feature flags, and `NodejsFunction` bundling skipped in every stack. */
export const TEST_CONTEXT = { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] as string[] };

/** A synthesized ColoStack with its template. */
export interface Synthesized {
  app: App;
  stack: ColoStack;
  template: Template;
}

/** Builds a `ColoStack` named `Test` in a fresh app with `context` and synthesizes its template. */
export function synthColo(context: Record<string, unknown> = {}, props: ColoStackProps = {}): Synthesized {
  const app = new App({ builtinCloudFormationValidation: false, context: { ...TEST_CONTEXT, ...context } });
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
