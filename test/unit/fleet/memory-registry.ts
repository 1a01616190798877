/** An in-memory VM registry for the fleet tests (the S3 one is exercised on LocalStack). */
import type { VmPage, VmRegistry } from '../../../lambda/adapters/s3-vm-registry.ts';
import { encodeVmConfig, parseVmConfig, type VmConfig } from '../../../src/parameters/vm-config.ts';

/** Configs by VM id, stored as their document text (so a malformed one can be planted). */
export class MemoryVmRegistry implements VmRegistry {
  readonly docs = new Map<string, string>();
  reads = 0;
  /** Throws from `get` while set (registry unreadable). */
  failing = false;

  async get(vmId: string): Promise<VmConfig | undefined> {
    this.reads++;
    if (this.failing) throw new Error('S3 unavailable');
    const text = this.docs.get(vmId);
    return text === undefined ? undefined : parseVmConfig(text, vmId);
  }

  async put(config: VmConfig): Promise<void> {
    this.docs.set(config.vmId, encodeVmConfig(config));
  }

  async delete(vmId: string): Promise<void> {
    this.docs.delete(vmId);
  }

  async list(options: { startAfter?: string; limit?: number } = {}): Promise<VmPage> {
    const all = [...this.docs.keys()]
      .sort()
      .filter((v) => options.startAfter === undefined || v > options.startAfter);
    const limit = options.limit ?? 1000;
    const vmIds = all.slice(0, limit);
    return all.length > limit ? { vmIds, next: vmIds.at(-1) as string } : { vmIds };
  }
}
