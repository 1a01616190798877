/**
 * `ReplicationKey`: the deployment's replication secret in AWS Secrets Manager — 64 random characters the
 * stack generates at creation (`GenerateSecretString`; CloudFormation cannot create an SSM SecureString) —
 * from which each VM's HMAC-SHA-256 key is derived (src/wire/replication-key.ts). The key text never
 * appears in code, the template, an environment variable or a log: functions get the secret's ARN and
 * read the value with `GetSecretValue`, which only the functions that seal or open messages may call.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SECRET_KEY_FIELD } from '../../lambda/adapters/contract.ts';

/** Characters of the generated key text. */
export const GENERATED_KEY_CHARS = 64;

/** Props of {@link ReplicationKey}. */
export interface ReplicationKeyProps {
  /** What the secret is for (its description). */
  readonly description: string;
}

/**
 * A Secrets Manager secret `{"key":"<64 random letters and digits>"}`, encrypted with the account's
 * `aws/secretsmanager` key, removed with the stack. Rotation is a `PutSecretValue` of a new
 * `{"key":…}` (docs/reliability.md, "Rotating the replication key"): the replaced version is staged
 * `AWSPREVIOUS` and still accepted while traffic sealed with it drains.
 */
export class ReplicationKey extends Construct {
  /** The secret. */
  readonly secret: secretsmanager.Secret;

  /** Creates the secret. */
  constructor(scope: Construct, id: string, props: ReplicationKeyProps) {
    super(scope, id);
    this.secret = new secretsmanager.Secret(this, 'Secret', {
      description: props.description,
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: SECRET_KEY_FIELD,
        passwordLength: GENERATED_KEY_CHARS,
        excludePunctuation: true,
        includeSpace: false,
      },
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  /** Lets `grantee` read the key: `secretsmanager:GetSecretValue` on this secret, nothing else. */
  grantRead(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [this.secret.secretArn],
    });
  }
}
