/**
 * The experiment stack's template (lib/experiment-stack.ts): the state machine's map, its retries and what it
 * reads, the cell function and exactly what it may write, the outputs the CLI reads, cdk-nag, and the
 * context the app accepts.
 */
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { experimentSettingsFromContext } from '../../../lib/experiment-context.ts';
import { ExperimentStack, type ExperimentStackProps, RETRIED_ERRORS } from '../../../lib/experiment-stack.ts';
import { EXPERIMENT_BUCKET_ENV, EXPERIMENT_OUTPUTS } from '../../../src/experiment/stepfunctions/contract.ts';
import { TEST_CONTEXT } from './helpers.ts';

function synth(props: ExperimentStackProps = {}) {
  const app = new App({ builtinCloudFormationValidation: false, context: TEST_CONTEXT });
  const stack = new ExperimentStack(app, 'Exp', props);
  return { app, stack, template: Template.fromStack(stack) };
}

/** The state machine's definition, references replaced by `<ref>`. */
// biome-ignore lint/suspicious/noExplicitAny: a parsed ASL document, read by path in assertions
function definition(template: Template): Record<string, any> {
  const machines = template.findResources('AWS::StepFunctions::StateMachine');
  const body = Object.values(machines)[0]?.Properties.DefinitionString as unknown;
  const parts = (body as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : '<ref>')).join(''));
}

describe('ExperimentStack', () => {
  it("runs every cell through a Distributed Map reading the run's cell list from S3", () => {
    const { template } = synth();
    const def = definition(template);
    const map = def.States.Cells;
    expect(def.StartAt).toBe('Cells');
    expect(map.Type).toBe('Map');
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(map.ItemReader).toEqual({
      Resource: 'arn:<ref>:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSON' },
      Parameters: { Bucket: '<ref>', 'Key.$': '$.cellsKey' },
    });
    expect(map.ItemSelector).toEqual({ 'cell.$': '$$.Map.Item.Value', 'resultPrefix.$': '$.resultPrefix' });
    expect(map.MaxConcurrency).toBe(1000);
    // Thousands of cells: the map's output is discarded (each result is in S3), never 256 KiB of state.
    expect(map.ResultPath).toBeNull();
    expect(map.ToleratedFailurePercentage ?? 0).toBe(0);
    const task = map.ItemProcessor.States.RunCell;
    expect(task.Type).toBe('Task');
    expect(task.ResultPath).toBeNull();
    expect(task.Retry).toEqual([
      {
        ErrorEquals: [...RETRIED_ERRORS],
        IntervalSeconds: 2,
        MaxAttempts: 6,
        BackoffRate: 2,
        JitterStrategy: 'FULL',
      },
    ]);
    expect(task.Retry[0].ErrorEquals).not.toContain('States.ALL');
    expect(task.Retry[0].ErrorEquals).not.toContain('States.Timeout');
  });

  it('with mapKind=inline runs an inline Map over the cells in the execution input', () => {
    const map = definition(synth({ settings: { mapKind: 'inline', maxConcurrency: 2 } }).template).States
      .Cells;
    expect(map.ItemsPath).toBe('$.cells');
    expect(map.ItemReader).toBeUndefined();
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'INLINE' });
    expect(map.MaxConcurrency).toBe(2);
    expect(map.ItemProcessor.States.RunCell.Retry[0].ErrorEquals).toEqual([...RETRIED_ERRORS]);
  });

  it('gives the cell function its bucket, a 15-minute timeout and one full vCPU by default', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Timeout: 900,
      MemorySize: 1769,
      Environment: {
        Variables: Match.objectLike({
          [EXPERIMENT_BUCKET_ENV]: { Ref: Match.stringLikeRegexp('^Runs') },
          AWS_S3_FORCE_PATH_STYLE: 'false',
          POWERTOOLS_SERVICE_NAME: 'experiment-cell',
        }),
      },
    });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: false }),
    });
  });

  it('lets the cell function write only result objects under runs/, and nothing else in S3', () => {
    const { template } = synth();
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { PolicyName: Match.stringLikeRegexp('^CellFunctionRole') },
    });
    const statements = Object.values(policies).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[],
    );
    const s3 = statements.filter((s) => JSON.stringify(s.Action).includes('s3:'));
    expect(s3).toHaveLength(1);
    expect(s3[0]?.Action).toBe('s3:PutObject');
    expect(JSON.stringify(s3[0]?.Resource)).toMatch(/\/runs\/\*"\]\]\}$/);
  });

  it('expires runs and keeps the bucket private and TLS-only', () => {
    const { template } = synth({ settings: { runExpiryDays: 9 } });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [
          Match.objectLike({ Id: 'expire-runs', Prefix: 'runs/', ExpirationInDays: 9, Status: 'Enabled' }),
        ],
      },
      PublicAccessBlockConfiguration: Match.objectLike({
        BlockPublicAcls: true,
        RestrictPublicBuckets: true,
      }),
    });
  });

  it('exports what the CLI reads', () => {
    const { template } = synth();
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    for (const key of Object.values(EXPERIMENT_OUTPUTS)) expect(outputs, key).toHaveProperty(key);
    expect(outputs[EXPERIMENT_OUTPUTS.mapKind]?.Value).toBe('distributed');
  });

  it.each(['distributed', 'inline'] as const)('has no unacknowledged cdk-nag finding (%s map)', (mapKind) => {
    const { app } = synth({ settings: { mapKind } });
    const violations = new AwsSolutionsChecks(app, { verbose: true })
      .validateScope(app)
      .violations.filter((v) => v.ruleName.startsWith('AwsSolutions-'))
      .map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(',')}`);
    expect(violations).toEqual([]);
  });
});

describe('experiment stack context', () => {
  const from = (ctx: Record<string, unknown>) => experimentSettingsFromContext((k) => ctx[k]);

  it('parses -c values and keeps the defaults for the rest', () => {
    expect(from({ mapKind: 'inline', maxConcurrency: '2', s3ForcePathStyle: 'true' })).toMatchObject({
      mapKind: 'inline',
      maxConcurrency: 2,
      s3ForcePathStyle: true,
      cellTimeoutSeconds: 900,
      cellMemoryMiB: 1769,
    });
  });

  it.each([
    [{ mapKind: 'express' }, /context "mapKind" must be distributed or inline, got "express"/],
    [{ maxConcurrency: '0' }, /context "maxConcurrency" must be a whole number from 1 to 10000, got "0"/],
    [{ cellTimeoutSeconds: 901 }, /"cellTimeoutSeconds" must be a whole number from 1 to 900/],
    [{ logRetentionDays: 8 }, /"logRetentionDays" must be one of CloudWatch's retention periods/],
    [{ s3ForcePathStyle: 'yes' }, /"s3ForcePathStyle" must be true or false/],
  ])('refuses %j', (ctx, message) => {
    expect(() => from(ctx)).toThrow(message);
  });
});
