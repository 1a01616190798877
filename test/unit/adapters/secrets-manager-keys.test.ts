import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  parseReplicationSecret,
  ReplicationSecretFormatError,
  SecretsManagerKeySource,
} from '../../../lambda/adapters/secrets-manager-keys.ts';
import { keyringFromEnv } from '../../../lambda/handlers/common/ports.ts';
import { KeyringUnavailableError } from '../../../src/runtime/cloud/index.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:colo-AbCdEf';
const sm = mockClient(SecretsManagerClient);
const client = () => new SecretsManagerClient({ region: 'us-east-1' });
const KEY = 'q'.repeat(64);

beforeEach(() => sm.reset());

describe('SecretsManagerKeySource', () => {
  it('reads AWSCURRENT and AWSPREVIOUS; a secret never rotated has no previous version', async () => {
    sm.on(GetSecretValueCommand, { SecretId: ARN, VersionStage: 'AWSCURRENT' }).resolves({
      SecretString: JSON.stringify({ key: KEY }),
    });
    sm.on(GetSecretValueCommand, { SecretId: ARN, VersionStage: 'AWSPREVIOUS' }).rejects(
      new ResourceNotFoundException({ message: 'no version staged AWSPREVIOUS', $metadata: {} }),
    );
    expect(await new SecretsManagerKeySource({ secretId: ARN, client: client() }).load()).toEqual({
      current: KEY,
    });
    sm.on(GetSecretValueCommand, { SecretId: ARN, VersionStage: 'AWSPREVIOUS' }).resolves({
      SecretString: JSON.stringify({ key: 'p'.repeat(64) }),
    });
    expect(await new SecretsManagerKeySource({ secretId: ARN, client: client() }).load()).toEqual({
      current: KEY,
      previous: 'p'.repeat(64),
    });
  });

  it('passes on access errors, and refuses malformed values without repeating them', async () => {
    sm.on(GetSecretValueCommand).rejects(
      Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }),
    );
    await expect(new SecretsManagerKeySource({ secretId: ARN, client: client() }).load()).rejects.toThrow(
      /not authorized/,
    );
    for (const [value, why] of [
      [undefined, /has no SecretString/],
      ['plain text secret of some length here', /is not JSON/],
      ['[1]', /not a JSON object/],
      [JSON.stringify({ key: KEY, extra: 1 }), /2 field\(s\)/],
      [JSON.stringify({ key: 7 }), /not text/],
      [JSON.stringify({ key: 'tiny' }), /key of 4 bytes/],
    ] as const) {
      const e = (() => {
        try {
          parseReplicationSecret(value, 'AWSCURRENT');
        } catch (error) {
          return error as Error;
        }
      })();
      expect(e).toBeInstanceOf(ReplicationSecretFormatError);
      expect(e?.message).toMatch(why);
      if (value) expect(e?.message).not.toContain(value);
    }
  });

  it('keyringFromEnv reads nothing until used, and names the missing variable', async () => {
    const ring = keyringFromEnv('vm-0', {});
    const e = await ring.keys().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KeyringUnavailableError);
    expect((e as Error).message).toMatch(
      /REPLICATION_KEY_SECRET_ARN not set.*environment variable REPLICATION_KEY_SECRET_ARN is not set/,
    );
    expect(sm.calls()).toHaveLength(0);
  });
});
