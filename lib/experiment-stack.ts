/**
 * `ExperimentStack`: the optional fan-out of `colo experiment FILE --backend stepfunctions` — a bucket for a
 * run's items and results, the `experiment-cell` function (one embedded cell per invocation) and a Step
 * Functions state machine whose map runs one invocation per cell, retrying transient Lambda errors. On AWS
 * the map is a Distributed Map reading the items from S3 (thousands of cells, each its own child
 * execution); context `mapKind=inline` makes it an inline Map over the items in the execution input, for
 * emulators whose Distributed Map is incomplete (docs/experiment.md).
 */
import {
  type CfnElement,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Token,
  Validations,
} from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import {
  EXPERIMENT_BUCKET_ENV,
  EXPERIMENT_OUTPUTS,
  RUNS_PREFIX,
} from '../src/experiment/stepfunctions/contract.ts';
import { ColoFunction } from './constructs/colo-function.ts';
import { EXPERIMENT_STACK_DEFAULTS, type ExperimentStackSettings } from './experiment-context.ts';

/** Handler module of the cell function, relative to the repository root. */
export const EXPERIMENT_CELL_ENTRY = 'lambda/handlers/experiment-cell.ts';

/**
 * Errors the map retries: Lambda's own transient failures (throttling, service errors) and a failed result
 * write. A cell's own error (bad input, an engine error) or a timeout is not retried: it would fail again.
 */
export const RETRIED_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'ResultWriteError',
] as const;

/** Props of {@link ExperimentStack}. */
export interface ExperimentStackProps extends StackProps {
  /** Settings (default {@link EXPERIMENT_STACK_DEFAULTS}). */
  readonly settings?: Partial<ExperimentStackSettings>;
}

/** The experiment fan-out stack. */
export class ExperimentStack extends Stack {
  /** Items and results of runs, under `runs/<runId>/`. */
  readonly bucket: s3.Bucket;
  /** Runs one cell. */
  readonly cellFunction: ColoFunction;
  /** The map over a run's cells. */
  readonly stateMachine: sfn.StateMachine;
  /** The settings it was built with. */
  readonly settings: ExperimentStackSettings;

  /** Builds the stack. */
  constructor(scope: Construct, id: string, props: ExperimentStackProps = {}) {
    super(scope, id, props);
    const settings: ExperimentStackSettings = { ...EXPERIMENT_STACK_DEFAULTS, ...props.settings };
    this.settings = settings;

    this.bucket = new s3.Bucket(this, 'Runs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      // No autoDeleteObjects: its custom resource does not run on LocalStack; an emptied bucket is deleted.
      removalPolicy: RemovalPolicy.DESTROY,
      lifecycleRules: [
        {
          id: 'expire-runs',
          prefix: RUNS_PREFIX,
          expiration: Duration.days(settings.runExpiryDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });

    this.cellFunction = new ColoFunction(this, 'CellFunction', {
      entry: EXPERIMENT_CELL_ENTRY,
      serviceName: 'experiment-cell',
      description: 'Runs one cell of a colo experiment on the embedded runtime and writes its result to S3',
      timeout: Duration.seconds(settings.cellTimeoutSeconds),
      memorySize: settings.cellMemoryMiB,
      logRetentionDays: settings.logRetentionDays,
      environment: {
        [EXPERIMENT_BUCKET_ENV]: this.bucket.bucketName,
        AWS_S3_FORCE_PATH_STYLE: String(settings.s3ForcePathStyle),
      },
    });
    // Exactly PutObject on the runs (the bucket's grantPut adds multipart and tagging actions it never uses).
    this.cellFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${RUNS_PREFIX}*`)],
      }),
    );

    const runCell = new tasks.LambdaInvoke(this, 'RunCell', {
      lambdaFunction: this.cellFunction,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      resultPath: sfn.JsonPath.DISCARD,
    });
    runCell.addRetry({
      errors: [...RETRIED_ERRORS],
      interval: Duration.seconds(2),
      backoffRate: 2,
      maxAttempts: 6,
      jitterStrategy: sfn.JitterType.FULL,
    });
    const itemSelector = {
      cell: sfn.JsonPath.stringAt('$$.Map.Item.Value'),
      resultPrefix: sfn.JsonPath.stringAt('$.resultPrefix'),
    };
    const map =
      settings.mapKind === 'distributed'
        ? new sfn.DistributedMap(this, 'Cells', {
            comment: 'One child execution per cell; items from s3://<bucket>/runs/<runId>/cells.json',
            itemReader: new sfn.S3JsonItemReader({
              bucket: this.bucket,
              key: sfn.JsonPath.stringAt('$.cellsKey'),
            }),
            itemSelector,
            maxConcurrency: settings.maxConcurrency,
            mapExecutionType: sfn.StateMachineType.STANDARD,
            toleratedFailurePercentage: 0,
            resultPath: sfn.JsonPath.DISCARD,
            label: 'Cells',
          })
        : new sfn.Map(this, 'Cells', {
            comment:
              'One iteration per cell; items from the execution input (emulators without Distributed Map)',
            itemsPath: sfn.JsonPath.stringAt('$.cells'),
            itemSelector,
            maxConcurrency: settings.maxConcurrency,
            resultPath: sfn.JsonPath.DISCARD,
          });
    map.itemProcessor(runCell);

    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      retention: settings.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'colo experiment: runs every cell of a run once',
      definitionBody: sfn.DefinitionBody.fromChainable(map),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: Duration.hours(24),
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });

    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out(
      EXPERIMENT_OUTPUTS.bucketName,
      this.bucket.bucketName,
      'Bucket of the runs: items and results under runs/<runId>/',
    );
    out(
      EXPERIMENT_OUTPUTS.stateMachineArn,
      this.stateMachine.stateMachineArn,
      "State machine that runs a run's cells",
    );
    out(EXPERIMENT_OUTPUTS.cellFunctionName, this.cellFunction.functionName, 'Function that runs one cell');
    out(
      EXPERIMENT_OUTPUTS.mapKind,
      settings.mapKind,
      'distributed (items read from S3) or inline (items in the input)',
    );
    this.#acknowledgements();
  }

  /** cdk-nag acknowledgements, each with its reason (findings one by one where they can be named). */
  #acknowledgements(): void {
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "Objects are a run's cell list and per-cell results, written only by this stack's function and the colo CLI; access logging would need a second bucket and is left to account-level CloudTrail data events.",
    });
    Validations.of(this.cellFunction).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x is pinned on purpose: Lambda supports it and so does the LocalStack release the integration tests run on; moving to a newer runtime is a deliberate, tested upgrade.',
    });
    const id = (c: Construct) => `<${this.getLogicalId(c.node.defaultChild as CfnElement)}.Arn>`;
    const bucket = id(this.bucket);
    Validations.of(this.cellFunction.executionRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${bucket}/${RUNS_PREFIX}*]`,
      reason:
        "Result keys are made at run time (run id and cell key), so s3:PutObject is granted on the one prefix runs/ of this stack's bucket, never the whole bucket.",
    });
    const role = this.stateMachine.role;
    if (this.settings.mapKind === 'distributed') {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<${this.getLogicalId(this.bucket.node.defaultChild as CfnElement)}>/*]`,
        reason:
          "The Distributed Map's S3 item reader is granted s3:GetObject on this stack's bucket only (its key is a path resolved per execution, so CDK cannot narrow it further); the bucket holds nothing but runs.",
      });
      const mapPolicy = this.stateMachine.node.tryFindChild('DistributedMapPolicy');
      // cdk-nag names a token as <AWS::…>; with an explicit env CDK resolves them.
      const partition = Token.isUnresolved(this.partition) ? '<AWS::Partition>' : this.partition;
      const region = Token.isUnresolved(this.region) ? '<AWS::Region>' : this.region;
      const account = Token.isUnresolved(this.account) ? '<AWS::AccountId>' : this.account;
      const name = `{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${this.getLogicalId(this.stateMachine.node.defaultChild as CfnElement)}"}]}]}`;
      for (const suffix of [':*', '/Cells:*'])
        if (mapPolicy)
          Validations.of(mapPolicy).acknowledge({
            id: `AwsSolutions-IAM5[Resource::arn:${partition}:states:${region}:${account}:execution:${name}${suffix}]`,
            reason:
              'A Distributed Map starts, describes, stops and redrives its own child executions, whose names are made at run time: the wildcard is on the executions of this one state machine.',
          });
    }
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${id(this.cellFunction)}:*]`,
      reason:
        'The state machine invokes the one cell function; the wildcard covers its versions and aliases.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'CloudWatch Logs delivery and X-Ray actions of the state machine have no resource-level permissions: AWS requires Resource "*" for them.',
    });
  }
}
