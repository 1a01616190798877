/**
 * The keyring of one node: its VM's replication keys (src/wire/replication-key.ts), loaded from a
 * {@link KeySource} (AWS Secrets Manager in Lambda, one read shared by the process's keyrings:
 * {@link sharedKeySource}) once per cold start and kept; loaded again when the
 * keys are older than `maxAgeMs` (so a rotation reaches every sender), and — at most once every
 * `refreshIntervalMs` — when a message or object names a key id the keyring does not know (so a receiver
 * learns a rotation the moment the first message sealed with the new key arrives).
 */
import { type KeySet, keySetOf } from '../../wire/replication-key.ts';
import { systemNow, type TimeSource } from './clock.ts';
import { truncateText } from './text.ts';

/** The deployment secret's versions: the current one, and the previous one while a rotation settles. */
export interface DeploymentSecrets {
  /** The current version's key text. */
  current: string;
  /** The previous version's key text, if there is one. */
  previous?: string;
  /**
   * When these versions were read from the store, ms (a source shared by several keyrings hands out one
   * read: its age counts against each keyring's `maxAgeMs`); absent: just now.
   */
  readAt?: number;
}

/** Where a keyring loads the deployment secret from. */
export interface KeySource {
  /** Names the source in errors (e.g. the secret's ARN); never the key itself. */
  readonly description: string;
  /**
   * Reads the secret's current and previous versions. With `maxAgeMs` (ms) above 0, a shared source may
   * return a read made less than that long ago (see {@link sharedKeySource}); 0 or absent: a fresh read.
   *
   * @throws on failure (the message never holds key text).
   */
  load(options?: { maxAgeMs?: number }): Promise<DeploymentSecrets>;
}

/**
 * One read of the deployment secret shared by every keyring of a process — one per VM a fleet's function
 * serves — instead of one read per VM per `maxAgeMs` (at 100 VMs per stack that was most of the Secrets
 * Manager bill, docs/cloud.md). A load that accepts an age (a keyring's periodic reload) gets the last read
 * while it is younger than that, or joins the read under way; a fresh one (a keyring asked to refresh for an
 * unknown key id: a rotation may just have happened) always reads. A failed read is not kept.
 */
export function sharedKeySource(inner: KeySource, now: TimeSource = systemNow): KeySource {
  let last: (DeploymentSecrets & { readAt: number }) | undefined;
  let reading: Promise<DeploymentSecrets & { readAt: number }> | undefined;
  const read = (): Promise<DeploymentSecrets & { readAt: number }> => {
    const startedAt = now();
    const p = inner.load().then((s) => {
      // Counted from when the read began: never younger than the store's answer.
      const got = { ...s, readAt: Math.min(s.readAt ?? startedAt, startedAt) };
      if (!last || got.readAt >= last.readAt) last = got;
      return got;
    });
    const shared = p.finally(() => {
      if (reading === shared) reading = undefined;
    });
    reading = shared;
    return shared;
  };
  return {
    get description() {
      return inner.description;
    },
    async load(options) {
      const maxAgeMs = options?.maxAgeMs ?? 0;
      if (maxAgeMs <= 0) return read();
      if (last && now() - last.readAt < maxAgeMs) return last;
      return reading ?? read();
    },
  };
}

/** The replication key could not be loaded: nothing can be sealed or opened until it can. */
export class KeyringUnavailableError extends Error {
  override readonly name = 'KeyringUnavailableError';
}

/**
 * An input names a key id the keyring does not hold, and the keys could not be loaded again just now (a
 * load was tried within `refreshIntervalMs`, or failed): it may be sealed with a key a rotation just made
 * current. Transient — deliver the input again; after a load that still lacks the id it is refused.
 */
export class KeyNotLoadedError extends Error {
  override readonly name = 'KeyNotLoadedError';
}

/** Options of {@link Keyring}. */
export interface KeyringOptions {
  /** The VM whose keys are derived. */
  vmId: string;
  /** Where the deployment secret comes from. */
  source: KeySource;
  /** Time source, ms; default the system clock. */
  now?: TimeSource;
  /** Keys older than this are loaded again at the next use, ms; default 300 000 (5 minutes). */
  maxAgeMs?: number;
  /** Least time between two loads asked for by an unknown key id, ms; default 1 000. */
  refreshIntervalMs?: number;
}

/** Default {@link KeyringOptions.maxAgeMs}, ms. */
export const DEFAULT_KEY_MAX_AGE_MS = 300_000;

/** Default {@link KeyringOptions.refreshIntervalMs}, ms. */
export const DEFAULT_KEY_REFRESH_INTERVAL_MS = 1000;

/**
 * What {@link Keyring.refresh} did: `changed` / `unchanged` — loaded, and the accepted keys differ / do
 * not; `skipped` — a load was tried less than `refreshIntervalMs` ago; `failed` — the load failed (the
 * cached keys stay).
 */
export type RefreshResult = 'changed' | 'unchanged' | 'skipped' | 'failed';

/** A node's replication keys, cached. */
export class Keyring {
  readonly #vmId: string;
  readonly #source: KeySource | undefined;
  readonly #now: TimeSource;
  readonly #maxAgeMs: number;
  readonly #refreshIntervalMs: number;
  #keys: KeySet | undefined;
  #loadedAt = Number.NEGATIVE_INFINITY;
  #triedAt = Number.NEGATIVE_INFINITY;
  #loading: Promise<KeySet> | undefined;
  #loadingFresh: Promise<KeySet> | undefined;
  #fixed = false;
  /** Loads tried and loads failed so far. */
  readonly stats = { loads: 0, failures: 0 };

  /** A keyring on `options.source`; see {@link KeyringOptions} for the defaults. */
  constructor(options: KeyringOptions) {
    this.#vmId = options.vmId;
    this.#source = options.source;
    this.#now = options.now ?? systemNow;
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_KEY_MAX_AGE_MS;
    this.#refreshIntervalMs = options.refreshIntervalMs ?? DEFAULT_KEY_REFRESH_INTERVAL_MS;
  }

  /** Time until a load may be tried again, ms, by the keyring's own clock (0: a refresh would load now). */
  msUntilRefresh(): number {
    return Math.max(0, this.#triedAt + this.#refreshIntervalMs - this.#now());
  }

  /** When the keys were last loaded successfully, ms (−∞ before the first load; +∞ for fixed keys). */
  get loadedAt(): number {
    return this.#loadedAt;
  }

  /** A keyring that always holds `keys` (the embedded runtime, tests). */
  static fixed(keys: KeySet): Keyring {
    const ring = new Keyring({
      vmId: keys.vmId,
      source: {
        description: 'fixed keys',
        load: async () => {
          throw new Error('fixed keys are never loaded');
        },
      },
      maxAgeMs: Number.POSITIVE_INFINITY,
      refreshIntervalMs: Number.POSITIVE_INFINITY,
    });
    ring.#keys = keys;
    ring.#fixed = true;
    ring.#loadedAt = Number.POSITIVE_INFINITY;
    ring.#triedAt = Number.POSITIVE_INFINITY;
    return ring;
  }

  /**
   * The keys: the cached ones while younger than `maxAgeMs`, else freshly loaded. A failed reload keeps the
   * cached keys (and is tried again after `refreshIntervalMs`); with nothing cached it throws.
   *
   * @throws KeyringUnavailableError when there are no keys and the source cannot be read.
   */
  async keys(): Promise<KeySet> {
    const t = this.#now();
    if (this.#keys && t - this.#loadedAt < this.#maxAgeMs) return this.#keys;
    if (this.#keys && t - this.#triedAt < this.#refreshIntervalMs) return this.#keys;
    try {
      return await this.#load(false);
    } catch (e) {
      if (this.#keys) return this.#keys;
      throw e;
    }
  }

  /**
   * Loads the keys again after a message or object named an unknown key id, unless a load was tried less
   * than `refreshIntervalMs` ago (a stream of forgeries costs at most one read per interval). A caller
   * that gets `skipped` or `failed` cannot tell a forgery from a rotation it has not seen yet, and has the
   * input delivered again rather than refusing it.
   */
  async refresh(): Promise<RefreshResult> {
    // Fixed keys are all there is: an id they lack is unknown for good.
    if (this.#fixed) return 'unchanged';
    if (this.#now() - this.#triedAt < this.#refreshIntervalMs) return 'skipped';
    const before = this.#keys?.accepted.map((k) => k.id).join(',');
    try {
      const keys = await this.#load(true);
      return keys.accepted.map((k) => k.id).join(',') !== before ? 'changed' : 'unchanged';
    } catch {
      return 'failed';
    }
  }

  /** `fresh`: a refresh (never a copy a shared source kept); otherwise one no older than `maxAgeMs` will do. */
  #load(fresh: boolean): Promise<KeySet> {
    if (fresh) {
      this.#loadingFresh ??= this.#read(0).finally(() => {
        this.#loadingFresh = undefined;
      });
      return this.#loadingFresh;
    }
    this.#loading ??= this.#read(this.#maxAgeMs).finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #read(maxAgeMs: number): Promise<KeySet> {
    const source = this.#source as KeySource;
    this.#triedAt = this.#now();
    this.stats.loads++;
    let keys: KeySet;
    let readAt: number | undefined;
    try {
      const secrets = await source.load(Number.isFinite(maxAgeMs) && maxAgeMs > 0 ? { maxAgeMs } : {});
      keys = keySetOf(this.#vmId, secrets.current, secrets.previous);
      readAt = secrets.readAt;
    } catch (e) {
      this.stats.failures++;
      const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      throw new KeyringUnavailableError(
        truncateText(`replication key unavailable: ${source.description}: ${why}`, 500),
        { cause: e },
      );
    }
    this.#keys = keys;
    // A shared read's age counts: the next reload comes when that read is `maxAgeMs` old.
    this.#loadedAt = Math.min(this.#now(), readAt ?? Number.POSITIVE_INFINITY);
    return keys;
  }
}
