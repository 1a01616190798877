/**
 * SDK clients of the Step Functions backend. With an endpoint (`--endpoint`, else `AWS_ENDPOINT_URL`) they
 * talk to that emulator (path-style S3; `test` credentials unless `AWS_ACCESS_KEY_ID` is set); without one,
 * to AWS through the SDK's usual configuration (profile, region, credentials chain).
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { StepFunctionsClients } from './backend.ts';

/** Clients for `endpoint` (or `env.AWS_ENDPOINT_URL`; AWS itself when neither is set). */
export function stepFunctionsClients(env: NodeJS.ProcessEnv, endpoint?: string): StepFunctionsClients {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const url = endpoint ?? env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (url ? 'us-east-1' : undefined);
  const common = {
    ...(region ? { region } : {}),
    ...(url ? { endpoint: url } : {}),
    ...(url && !env.AWS_ACCESS_KEY_ID
      ? { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }
      : {}),
  };
  return {
    s3: new S3Client({
      ...common,
      ...(url ? { endpoint: endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? url, forcePathStyle: true } : {}),
    }),
    sfn: new SFNClient(common),
    cloudformation: new CloudFormationClient(common),
    where: url ?? `AWS (${region ?? 'the configured region'})`,
  };
}
