/**
 * A function's view of the fleet: the registered VMs' configs, read by VM id from the registry
 * (`vms/<vmId>.json`) and kept briefly, each with what the function built for that VM (its deps and
 * handler), so a warm function serves many VMs without reading the registry on every record.
 */

import { encodeVmConfig, type VmConfig, VmConfigError } from '../../../src/parameters/vm-config.ts';
import type { VmConfigSource } from '../../adapters/s3-vm-registry.ts';

/** How long a registered VM's config is reused before it is read again, ms (a `colo vm set` takes this long to reach warm functions). */
export const VM_CONFIG_TTL_MS = 10_000;

/** How long "not registered" is remembered, ms: short, so a VM just added is served at once. */
export const VM_ABSENT_TTL_MS = 1_000;

/** A VM resolved: its config and what was built for it; or why it is refused. */
export type Resolved<T> =
  | { ok: true; config: VmConfig; built: T }
  | { ok: false; reason: 'unregistered-vm' | 'invalid-vm-config'; detail: string };

interface Entry<T> {
  at: number;
  resolved: Resolved<T>;
  text?: string;
}

/** Options of {@link VmDirectory}. */
export interface VmDirectoryOptions<T> {
  /** Where configs are read. */
  source: VmConfigSource;
  /** Builds a VM's deps/handler from its config (called again only when the config changed). */
  build: (config: VmConfig) => T;
  /** Clock, ms. */
  now?: () => number;
  /** {@link VM_CONFIG_TTL_MS} by default. */
  ttlMs?: number;
  /** {@link VM_ABSENT_TTL_MS} by default. */
  absentTtlMs?: number;
}

/** Registered VMs by id, cached. */
export class VmDirectory<T> {
  readonly #opts: VmDirectoryOptions<T>;
  readonly #entries = new Map<string, Entry<T>>();
  readonly #inflight = new Map<string, Promise<Resolved<T>>>();

  /** Creates an empty directory over `options.source`. */
  constructor(options: VmDirectoryOptions<T>) {
    this.#opts = options;
  }

  /** VMs held now (tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The VM `vmId`: its config and what was built for it, or why it is refused (not registered, or its
   * stored config is malformed).
   *
   * @throws the registry's error when it cannot be read (the caller retries: nothing is refused on it).
   */
  resolve(vmId: string): Promise<Resolved<T>> {
    const now = (this.#opts.now ?? Date.now)();
    const e = this.#entries.get(vmId);
    const ttl = e?.resolved.ok
      ? (this.#opts.ttlMs ?? VM_CONFIG_TTL_MS)
      : (this.#opts.absentTtlMs ?? VM_ABSENT_TTL_MS);
    if (e && now - e.at < ttl) return Promise.resolve(e.resolved);
    // Records of one VM in one batch share one read.
    let p = this.#inflight.get(vmId);
    if (!p) {
      p = this.#load(vmId, now, e).finally(() => this.#inflight.delete(vmId));
      this.#inflight.set(vmId, p);
    }
    return p;
  }

  async #load(vmId: string, now: number, previous: Entry<T> | undefined): Promise<Resolved<T>> {
    let config: VmConfig | undefined;
    try {
      config = await this.#opts.source.get(vmId);
    } catch (e) {
      if (!(e instanceof VmConfigError)) throw e;
      const resolved: Resolved<T> = { ok: false, reason: 'invalid-vm-config', detail: e.message };
      this.#entries.set(vmId, { at: now, resolved });
      return resolved;
    }
    if (config === undefined) {
      const resolved: Resolved<T> = {
        ok: false,
        reason: 'unregistered-vm',
        detail: `VM ${vmId} is not registered on this stack (no vms/${vmId}.json: add it with colo vm add)`,
      };
      this.#entries.set(vmId, { at: now, resolved });
      return resolved;
    }
    const text = encodeVmConfig(config);
    // An unchanged config keeps what was built (warm keyring, clients); a changed one is built again.
    const built =
      previous?.resolved.ok && previous.text === text ? previous.resolved.built : this.#opts.build(config);
    const resolved: Resolved<T> = { ok: true, config, built };
    this.#entries.set(vmId, { at: now, resolved, text });
    return resolved;
  }
}
