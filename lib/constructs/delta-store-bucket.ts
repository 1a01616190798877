/**
 * `DeltaStoreBucket`: the S3 bucket that holds page deltas (`deltas/`, expiring) and node state
 * (`state/`, updated by compare-and-swap), with grants scoped to one prefix and exact actions.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DELTA_PREFIX, STATE_PREFIX, VM_CONFIG_PREFIX } from '../../lambda/adapters/contract.ts';

/** Props of {@link DeltaStoreBucket}. */
export interface DeltaStoreBucketProps {
  /** Days after which objects under `deltas/` expire, ≥ 1. */
  readonly deltaExpiryDays: number;
}

/**
 * An S3 bucket: S3-managed encryption, all public access blocked, TLS 1.2+ enforced by bucket policy, ACLs
 * off, versioning off (conditional writes are the concurrency control), a lifecycle rule expiring
 * `deltas/` after `deltaExpiryDays` (the secondary deletes each object it consumed; the rule catches what a
 * failed delete leaves; state documents are kept). `RemovalPolicy.DESTROY` without
 * `autoDeleteObjects` (that needs a custom resource, which LocalStack cannot run): `cdk destroy` removes an
 * empty bucket and leaves a non-empty one for you to empty first.
 */
export class DeltaStoreBucket extends Construct {
  /** The bucket. */
  readonly bucket: s3.Bucket;

  /** Creates the bucket. */
  constructor(scope: Construct, id: string, props: DeltaStoreBucketProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: false,
      lifecycleRules: [
        {
          id: 'expire-deltas',
          prefix: DELTA_PREFIX,
          expiration: Duration.days(props.deltaExpiryDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
  }

  /** ARN pattern of the objects under one key prefix. */
  objectsArn(prefix: string): string {
    return this.bucket.arnForObjects(`${prefix}*`);
  }

  /**
   * `s3:GetObject` and `s3:DeleteObject` on `deltas/*`: claim-check reads, and deleting each object once the
   * secondary is saved past it (the lifecycle rule only catches what a failed delete left).
   */
  grantDeltaConsume(grantee: iam.IGrantable): iam.Grant {
    return this.#grant(grantee, ['s3:DeleteObject', 's3:GetObject'], DELTA_PREFIX);
  }

  /** `s3:PutObject` and `s3:GetObject` on `deltas/*`: create-only writes read back on a 412. */
  grantDeltaWrite(grantee: iam.IGrantable): iam.Grant {
    return this.#grant(grantee, ['s3:GetObject', 's3:PutObject'], DELTA_PREFIX);
  }

  /**
   * `s3:GetObject` on `state/*`, plus `s3:ListBucket` on the bucket: without it S3 answers a read of a
   * missing key with 403 instead of 404, and a state store could not tell "no document yet" from "denied".
   */
  grantStateRead(grantee: iam.IGrantable): iam.Grant {
    const list = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
    });
    return this.#grant(grantee, ['s3:GetObject'], STATE_PREFIX).combine(list);
  }

  /**
   * `s3:GetObject` on `vms/*`: the registered VMs' configs (each function reads the config of the VM a
   * record names; the watchdog lists them with the `s3:ListBucket` of {@link grantStateRead}).
   */
  grantVmConfigRead(grantee: iam.IGrantable): iam.Grant {
    return this.#grant(grantee, ['s3:GetObject'], VM_CONFIG_PREFIX);
  }

  /** {@link grantStateRead} plus `s3:PutObject` on `state/*` (compare-and-swap writes). */
  grantStateReadWrite(grantee: iam.IGrantable): iam.Grant {
    return this.grantStateRead(grantee).combine(this.#grant(grantee, ['s3:PutObject'], STATE_PREFIX));
  }

  #grant(grantee: iam.IGrantable, actions: string[], prefix: string): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.objectsArn(prefix)] });
  }
}
