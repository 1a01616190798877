/**
 * `ColoFunction`: a `NodejsFunction` holding this project's defaults, after the Powertools for AWS Lambda
 * example app: one place for runtime, architecture, memory, bundling and logging.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  LogLevel,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ENV } from '../../lambda/adapters/contract.ts';
import { LOCK_FILE, PROJECT_ROOT, projectPath } from '../project.ts';

/**
 * esbuild banner for ESM output: bundled CommonJS dependencies (the AWS SDK's) call `require` for Node
 * built-ins, which an ES module lacks; this defines it.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __coloCreateRequire } from 'node:module'; const require = __coloCreateRequire(import.meta.url);";

/**
 * The functions' runtime. On LocalStack the host-node executor runs it on Node of the same major when
 * `scripts/localstack-up.sh` installed one (scripts/install-lambda-node.sh, whose default major a unit test
 * keeps equal to this), else on the host's Node with a warning in LocalStack's log.
 */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_22_X;

/** Props of {@link ColoFunction}. */
export interface ColoFunctionProps
  extends Omit<NodejsFunctionProps, 'entry' | 'role' | 'logGroup' | 'logRetention' | 'projectRoot'> {
  /** Handler module, relative to the repository root (e.g. `lambda/handlers/primary.ts`); exports `handler`. */
  readonly entry: string;
  /** Powertools service name (`POWERTOOLS_SERVICE_NAME`), e.g. `secondary-apply`. */
  readonly serviceName: string;
  /** Days the function's log group keeps events. Default 7. */
  readonly logRetentionDays?: number;
}

/**
 * A Node.js Lambda function with the project's defaults:
 * - runtime {@link FUNCTION_RUNTIME} (`nodejs22.x`; on LocalStack the executor runs Node 22 from
 *   localstack/.node), `x86_64` (what the LocalStack host executor runs), 1 024 MiB, 30 s timeout,
 *   X-Ray tracing off;
 * - bundled locally by the installed esbuild (never Docker) into one ES module `index.mjs` with a source map
 *   (`NODE_OPTIONS=--enable-source-maps`), the AWS SDK v3 included so the code runs on the SDK it was tested
 *   with and needs no `node_modules` beside it;
 * - its own log group with a retention (no log-retention custom resource) and its own role that may write
 *   only to that log group: every other permission is granted explicitly.
 */
export class ColoFunction extends NodejsFunction {
  /** The function's log group. */
  readonly functionLogGroup: logs.LogGroup;
  /** The function's execution role. */
  readonly executionRole: iam.Role;
  /** Handler module it was bundled from, relative to the repository root. */
  readonly entry: string;

  /** Creates the function, its role and its log group (the latter two as siblings `<id>Role`, `<id>Logs`). */
  constructor(scope: Construct, id: string, props: ColoFunctionProps) {
    const { entry, serviceName, logRetentionDays = 7, environment, bundling, ...rest } = props;
    const retention = logRetentionDays as logs.RetentionDays;
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${serviceName} function`,
    });
    super(scope, id, {
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.X86_64,
      memorySize: 1024,
      timeout: Duration.seconds(30),
      tracing: lambda.Tracing.DISABLED,
      ...rest,
      entry: projectPath(entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: LOCK_FILE,
      role,
      logGroup,
      environment: {
        [ENV.serviceName]: serviceName,
        NODE_OPTIONS: '--enable-source-maps',
        ...environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        bundleAwsSDK: true,
        minify: true,
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
        logLevel: LogLevel.WARNING,
        ...bundling,
      },
    });
    logGroup.grantWrite(role);
    this.functionLogGroup = logGroup;
    this.executionRole = role;
    this.entry = entry;
  }
}
