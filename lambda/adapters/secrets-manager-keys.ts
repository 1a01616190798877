/**
 * The deployment's replication secret in AWS Secrets Manager: a JSON secret `{"key":"<text>"}` (the stack
 * generates 64 random characters). Its version staged `AWSCURRENT` seals; the one staged `AWSPREVIOUS` —
 * the version a rotation (`PutSecretValue`) replaced — is still accepted when opening, so messages and
 * objects sealed before the rotation still open (docs/reliability.md, "Rotating the replication key").
 *
 * Error messages name the secret and the failure, never its content.
 */
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { DeploymentSecrets, KeySource } from '../../src/runtime/cloud/keyring.ts';
import { MAX_SECRET_BYTES, MIN_SECRET_BYTES } from '../../src/wire/replication-key.ts';
import { SECRET_KEY_FIELD } from './contract.ts';
import { callTimeoutConfig } from './env.ts';
import { processMeter } from './usage-meter.ts';

/** The secret's value is not the expected JSON (its content is not repeated in the message). */
export class ReplicationSecretFormatError extends Error {
  override readonly name = 'ReplicationSecretFormatError';
}

/**
 * The key text of a secret string `{"key":"…"}` (exactly that one field, 32–4 096 bytes of text).
 *
 * @param stage - Which version, for the error message.
 * @throws ReplicationSecretFormatError naming what is wrong, never the content.
 */
export function parseReplicationSecret(secretString: string | undefined, stage: string): string {
  const wrong = (what: string) =>
    new ReplicationSecretFormatError(
      `the ${stage} version of the replication secret ${what}; expected {"${SECRET_KEY_FIELD}":"<${MIN_SECRET_BYTES}–${MAX_SECRET_BYTES} bytes of text>"}`,
    );
  if (typeof secretString !== 'string') throw wrong('has no SecretString');
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    throw wrong('is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw wrong('is not a JSON object');
  const fields = Object.keys(value);
  if (fields.length !== 1 || fields[0] !== SECRET_KEY_FIELD) {
    throw wrong(`has ${fields.length} field(s), not exactly "${SECRET_KEY_FIELD}"`);
  }
  const key = (value as Record<string, unknown>)[SECRET_KEY_FIELD];
  if (typeof key !== 'string') throw wrong(`has a "${SECRET_KEY_FIELD}" that is not text`);
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes < MIN_SECRET_BYTES || bytes > MAX_SECRET_BYTES) throw wrong(`has a key of ${bytes} bytes`);
  return key;
}

/** Options of {@link SecretsManagerKeySource}. */
export interface SecretsManagerKeySourceOptions {
  /** ARN (or name) of the secret. */
  secretId: string;
  /** Client; default one configured from the environment. */
  client?: SecretsManagerClient;
}

/** A {@link KeySource} reading the `AWSCURRENT` and `AWSPREVIOUS` versions of one secret. */
export class SecretsManagerKeySource implements KeySource {
  /** The secret's ARN or name (for error messages). */
  readonly description: string;
  readonly #secretId: string;
  readonly #client: SecretsManagerClient;

  /** Creates the source; nothing is read before {@link load}. */
  constructor(options: SecretsManagerKeySourceOptions) {
    this.#secretId = options.secretId;
    this.description = `secret ${options.secretId}`;
    this.#client = options.client ?? processMeter.attach(new SecretsManagerClient(callTimeoutConfig()));
  }

  /**
   * Reads both versions (two `GetSecretValue` calls; a secret never rotated has no `AWSPREVIOUS`).
   *
   * @throws the SDK's error (access denied, throttling, …) or ReplicationSecretFormatError.
   */
  async load(): Promise<DeploymentSecrets> {
    const read = async (stage: 'AWSCURRENT' | 'AWSPREVIOUS'): Promise<string | undefined> => {
      try {
        const out = await this.#client.send(
          new GetSecretValueCommand({ SecretId: this.#secretId, VersionStage: stage }),
        );
        return parseReplicationSecret(out.SecretString, stage);
      } catch (e) {
        if (stage === 'AWSPREVIOUS' && e instanceof ResourceNotFoundException) return undefined;
        throw e;
      }
    };
    const [current, previous] = await Promise.all([read('AWSCURRENT'), read('AWSPREVIOUS')]);
    if (current === undefined)
      throw new ReplicationSecretFormatError('the replication secret has no current version');
    return previous === undefined ? { current } : { current, previous };
  }
}
