/**
 * Replication keys: the per-VM HMAC-SHA-256 key every COLO message and delta object is sealed with
 * (docs/protocol.md, "Authenticity"). A deployment holds one secret (in AWS Secrets Manager; the embedded
 * runtime derives one from its seed); each VM's key is derived from it with HKDF-SHA-256 and the VM id, so
 * a fleet shares one secret and a key leaked from one VM's traffic is of no use for another.
 *
 * Key material never leaves a {@link ReplicationKey}: it has no enumerable field holding it, `JSON.stringify`
 * and `util.inspect` show only its public id, so a key that ends up in a log line shows nothing secret.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import { VM_ID_PATTERN } from './limits.ts';

/** Length of a derived per-VM key (an HMAC-SHA-256 key), bytes. */
export const VM_KEY_BYTES = 32;

/** Length of a MAC (HMAC-SHA-256), bytes. */
export const MAC_BYTES = 32;

/** Shortest deployment secret accepted, bytes of its UTF-8 text (the stack generates 64 characters). */
export const MIN_SECRET_BYTES = 32;

/** Longest deployment secret accepted, bytes of its UTF-8 text. */
export const MAX_SECRET_BYTES = 4096;

/** HKDF salt: names the derivation, so a key derived here is never valid for anything else. */
const HKDF_SALT = 'colo-serverless/replication-key/v1';

/** A key id: 8 lower-case hex digits (the first 4 bytes of an HMAC of a fixed label under the key). */
export const KEY_ID_PATTERN = /^[0-9a-f]{8}$/;

/** A deployment secret that cannot be used (too short, too long, not text). */
export class ReplicationSecretError extends Error {
  override readonly name = 'ReplicationSecretError';
}

/** One VM's replication key. Holds its bytes privately; shows only its id. */
export class ReplicationKey {
  /** Public identifier of the key: 8 hex digits, carried by every sealed message and object. */
  readonly id: string;
  readonly #bytes: Buffer;

  /**
   * @param bytes - The key, {@link VM_KEY_BYTES} bytes (copied).
   * @throws RangeError when `bytes` is not {@link VM_KEY_BYTES} long.
   */
  constructor(bytes: Uint8Array) {
    if (bytes.byteLength !== VM_KEY_BYTES) {
      throw new RangeError(`a replication key is ${VM_KEY_BYTES} bytes, got ${bytes.byteLength}`);
    }
    this.#bytes = Buffer.from(bytes);
    this.id = createHmac('sha256', this.#bytes).update('colo-key-id').digest('hex').slice(0, 8);
  }

  /** HMAC-SHA-256 under this key of the parts, concatenated ({@link MAC_BYTES} bytes). */
  mac(...parts: readonly (string | Uint8Array)[]): Buffer {
    const h = createHmac('sha256', this.#bytes);
    for (const p of parts) h.update(p);
    return h.digest();
  }

  /** True when `tag` is this key's MAC of the parts (compared in constant time). */
  verify(tag: Uint8Array, ...parts: readonly (string | Uint8Array)[]): boolean {
    if (tag.byteLength !== MAC_BYTES) return false;
    return timingSafeEqual(this.mac(...parts), tag);
  }

  /** What `JSON.stringify` shows: the id only. */
  toJSON(): { keyId: string } {
    return { keyId: this.id };
  }

  /** What `util.inspect` (and so `console.log`) shows: the id only. */
  [inspect.custom](): string {
    return `ReplicationKey(${this.id})`;
  }
}

/** The keys of one VM: the one that seals, and every one accepted when opening (the sealing key first). */
export interface KeySet {
  /** The VM these keys belong to. */
  readonly vmId: string;
  /** Seals outgoing messages and objects (from the secret's current version). */
  readonly signing: ReplicationKey;
  /** Keys a sealed message or object may carry: the current one, and the previous one during a rotation. */
  readonly accepted: readonly ReplicationKey[];
}

function secretBytes(secret: string | Uint8Array): Buffer {
  if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) {
    throw new ReplicationSecretError(`a replication secret is text or bytes, not ${typeof secret}`);
  }
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (bytes.byteLength < MIN_SECRET_BYTES || bytes.byteLength > MAX_SECRET_BYTES) {
    throw new ReplicationSecretError(
      `a replication secret must be ${MIN_SECRET_BYTES}–${MAX_SECRET_BYTES} bytes, got ${bytes.byteLength}`,
    );
  }
  return bytes;
}

/**
 * The replication key of `vmId` under a deployment secret: HKDF-SHA-256 (salt
 * `colo-serverless/replication-key/v1`, info `vm:<vmId>`), {@link VM_KEY_BYTES} bytes.
 *
 * @throws ReplicationSecretError when the secret is shorter than {@link MIN_SECRET_BYTES} or longer than
 *   {@link MAX_SECRET_BYTES}; RangeError for a VM id outside the wire's pattern.
 */
export function deriveVmKey(secret: string | Uint8Array, vmId: string): ReplicationKey {
  if (!VM_ID_PATTERN.test(vmId)) throw new RangeError(`not a VM id: ${JSON.stringify(vmId.slice(0, 80))}`);
  const okm = hkdfSync('sha256', secretBytes(secret), HKDF_SALT, `vm:${vmId}`, VM_KEY_BYTES);
  return new ReplicationKey(new Uint8Array(okm));
}

/**
 * The key set of `vmId` from the deployment secret's current version and, during a rotation, its
 * previous one.
 *
 * @throws ReplicationSecretError / RangeError as {@link deriveVmKey}.
 */
export function keySetOf(vmId: string, current: string | Uint8Array, previous?: string | Uint8Array): KeySet {
  const signing = deriveVmKey(current, vmId);
  const older = previous === undefined ? undefined : deriveVmKey(previous, vmId);
  const accepted = older && older.id !== signing.id ? [signing, older] : [signing];
  return { vmId, signing, accepted };
}

/**
 * The deployment secret of the embedded runtime: a function of the run's seed, so a run is reproducible and
 * every embedded test seals and opens with real keys. Anyone who knows the seed knows it — it protects
 * nothing, it only makes the embedded runtime run the cloud's code.
 */
export function seedSecret(seed: number): string {
  return `colo-serverless embedded replication secret, seed ${seed}`;
}

/** The key set of `vmId` in an embedded run of `seed` ({@link seedSecret}). */
export function seedKeySet(seed: number, vmId: string): KeySet {
  return keySetOf(vmId, seedSecret(seed));
}

/** The accepted keys with id `keyId` (normally none or one). */
export function keysWithId(keys: KeySet, keyId: string): ReplicationKey[] {
  return keys.accepted.filter((k) => k.id === keyId);
}
