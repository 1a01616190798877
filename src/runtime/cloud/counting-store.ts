/**
 * A {@link StateStore} wrapper that counts requests and bytes by kind of key — node (hot) documents, state
 * chunks, overlay segments, the control document, log segments, anything else — for the state I/O bench and tests.
 */
import type { StateStore, StoredKey, Versioned } from '../../engine/ports.ts';

/** Kinds of state-store key. */
export type StateKeyKind = 'node' | 'chunk' | 'segment' | 'control' | 'log' | 'other';

/** Requests and bytes of one kind. */
export interface StateIo {
  /** Loads (GETs), count. */
  gets: number;
  /** Saves (PUTs), count. */
  puts: number;
  /** Deletes, count. */
  deletes: number;
  /** Bytes loaded. */
  bytesIn: number;
  /** Bytes saved. */
  bytesOut: number;
}

/** The kind of a state-store key (keys.ts layout). */
export function stateKeyKind(key: string): StateKeyKind {
  if (key.includes('/chunk/')) return 'chunk';
  if (key.includes('/segment/')) return 'segment';
  if (/\/node\/[a-z]+\.bin$/.test(key)) return 'node';
  if (key.endsWith('/control.json')) return 'control';
  if (key.includes('/log/')) return 'log';
  return 'other';
}

function zero(): StateIo {
  return { gets: 0, puts: 0, deletes: 0, bytesIn: 0, bytesOut: 0 };
}

/** Counts every call through to `inner` (failed calls count too: they are requests). */
export class CountingStateStore implements StateStore {
  /** Per kind of key. */
  readonly io: Record<StateKeyKind, StateIo> = {
    node: zero(),
    chunk: zero(),
    segment: zero(),
    control: zero(),
    log: zero(),
    other: zero(),
  };

  /** Wraps `inner`. */
  constructor(readonly inner: StateStore) {}

  /** All kinds together. */
  total(): StateIo {
    const t = zero();
    for (const v of Object.values(this.io)) {
      t.gets += v.gets;
      t.puts += v.puts;
      t.deletes += v.deletes;
      t.bytesIn += v.bytesIn;
      t.bytesOut += v.bytesOut;
    }
    return t;
  }

  /** {@inheritDoc StateStore.load} */
  async load(key: string): Promise<Versioned<Uint8Array> | undefined> {
    const c = this.io[stateKeyKind(key)];
    c.gets++;
    const v = await this.inner.load(key);
    c.bytesIn += v?.value.byteLength ?? 0;
    return v;
  }

  /** {@inheritDoc StateStore.save} */
  save(key: string, value: Uint8Array, etag: string | undefined): Promise<string> {
    const c = this.io[stateKeyKind(key)];
    c.puts++;
    c.bytesOut += value.byteLength;
    return this.inner.save(key, value, etag);
  }

  /** {@inheritDoc StateStore.list} */
  list(prefix: string): Promise<StoredKey[]> {
    if (!this.inner.list) return Promise.reject(new TypeError('the wrapped store cannot list'));
    return this.inner.list(prefix);
  }

  /** {@inheritDoc StateStore.delete} */
  delete(key: string): Promise<void> {
    if (!this.inner.delete) return Promise.reject(new TypeError('the wrapped store cannot delete'));
    this.io[stateKeyKind(key)].deletes++;
    return this.inner.delete(key);
  }
}
