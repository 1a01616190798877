/**
 * The VM registry of a fleet stack on S3: one validated config document per VM at `vms/<vmId>.json`
 * (`vmConfigKey`). Functions read a VM's config by the VM id a tick, message or request names; the
 * watchdog lists the prefix to find the fleet; `colo vm add|set|remove` writes it.
 */
import {
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  encodeVmConfig,
  MAX_VM_CONFIG_BYTES,
  parseVmConfig,
  type VmConfig,
  VmConfigError,
} from '../../src/parameters/vm-config.ts';
import { escapeControls, truncateText } from '../../src/runtime/cloud/text.ts';
import { VM_CONFIG_PREFIX, vmConfigKey, vmIdOfConfigKey } from './contract.ts';
import { s3ClientFromEnv } from './env.ts';
import { readObject } from './s3-common.ts';

/** Most keys one list request returns (S3's page size). */
export const LIST_PAGE_KEYS = 1000;

/** Reads VM configs (what a function needs). */
export interface VmConfigSource {
  /**
   * The config of `vmId`, or undefined when the VM is not registered.
   *
   * @throws VmConfigError when the stored document is malformed (the VM is then treated as unregistered).
   */
  get(vmId: string): Promise<VmConfig | undefined>;
}

/** One page of registered VM ids, in key order, and where the next page starts. */
export interface VmPage {
  /** VM ids of this page. */
  vmIds: string[];
  /** Pass as `startAfter` for the next page; absent on the last page. */
  next?: string;
}

/** The whole registry (the watchdog and the CLI). */
export interface VmRegistry extends VmConfigSource {
  /** Registers or replaces a VM's config. */
  put(config: VmConfig): Promise<void>;
  /** Unregisters a VM (a missing one is not an error). */
  delete(vmId: string): Promise<void>;
  /**
   * One page of registered VM ids after `startAfter` (a VM id; default the start), at most `limit`
   * (default and cap {@link LIST_PAGE_KEYS}).
   */
  list(options?: { startAfter?: string; limit?: number }): Promise<VmPage>;
}

/** Options of {@link S3VmRegistry}. */
export interface S3VmRegistryOptions {
  /** Bucket name. */
  bucket: string;
  /** S3 client; default {@link s3ClientFromEnv}. */
  client?: S3Client;
}

/** {@link VmRegistry} on an S3 bucket. */
export class S3VmRegistry implements VmRegistry {
  /** Bucket name. */
  readonly bucket: string;
  readonly #client: S3Client;

  /** Creates the registry view of `bucket`. */
  constructor(options: S3VmRegistryOptions) {
    this.bucket = options.bucket;
    this.#client = options.client ?? s3ClientFromEnv();
  }

  /** @inheritdoc */
  async get(vmId: string): Promise<VmConfig | undefined> {
    const stored = await readObject(this.#client, this.bucket, vmConfigKey(vmId), MAX_VM_CONFIG_BYTES);
    if (stored === undefined) return undefined;
    try {
      return parseVmConfig(Buffer.from(stored.bytes).toString('utf8'), vmId);
    } catch (e) {
      // Name the object: an operator fixes or deletes it by its key.
      if (e instanceof VmConfigError)
        throw new VmConfigError(`${vmConfigKey(vmId)}: ${escapeControls(truncateText(e.message))}`);
      throw e;
    }
  }

  /** @inheritdoc */
  async put(config: VmConfig): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: vmConfigKey(config.vmId),
        Body: encodeVmConfig(config),
        ContentType: 'application/json',
      }),
    );
  }

  /** @inheritdoc */
  async delete(vmId: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: vmConfigKey(vmId) }));
  }

  /** @inheritdoc */
  async list(options: { startAfter?: string; limit?: number } = {}): Promise<VmPage> {
    const limit = Math.min(LIST_PAGE_KEYS, Math.max(1, options.limit ?? LIST_PAGE_KEYS));
    const out = await this.#client.send(
      new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: VM_CONFIG_PREFIX,
        MaxKeys: limit,
        ...(options.startAfter === undefined ? {} : { StartAfter: vmConfigKey(options.startAfter) }),
      }),
    );
    const vmIds: string[] = [];
    for (const o of out.Contents ?? []) {
      const id = o.Key === undefined ? undefined : vmIdOfConfigKey(o.Key);
      if (id !== undefined) vmIds.push(id);
    }
    const lastKey = out.Contents?.at(-1)?.Key;
    const last = lastKey === undefined ? undefined : vmIdOfConfigKey(lastKey);
    return out.IsTruncated && last !== undefined ? { vmIds, next: last } : { vmIds };
  }
}

/** Every registered VM id, page by page. */
export async function listAllVms(registry: VmRegistry): Promise<string[]> {
  const all: string[] = [];
  let startAfter: string | undefined;
  do {
    const page = await registry.list(startAfter === undefined ? {} : { startAfter });
    all.push(...page.vmIds);
    startAfter = page.next;
  } while (startAfter !== undefined);
  return all;
}
