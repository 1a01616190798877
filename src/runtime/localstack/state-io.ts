/**
 * State I/O of the cloud runtime on a recorded run: an embedded run's schedule replayed in this process
 * (`replaySchedule`: every recorded step one invocation) with the state store wrapped to count GETs, PUTs and
 * bytes — per invocation (mean and max), per save (the objects and bytes each hot-document save costs), and
 * per VM-hour — over in-memory ports or over the real adapters on LocalStack (`S3StateStore`,
 * `S3DeltaStore`, `SqsChannel` on a bucket and two FIFO queues). Used by `npm run bench:state` and the
 * lean-state integration test (docs/cloud-runtime.md, "State I/O, measured").
 */

// The adapters live with the Lambda code; the measurement uses them unchanged (as conformance.ts does).
import { S3DeltaStore } from '../../../lambda/adapters/s3-delta-store.ts';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { SqsChannel } from '../../../lambda/adapters/sqs-channel.ts';
import type { ColoParams } from '../../engine/params.ts';
import type { StateStore, StoredKey, Versioned } from '../../engine/ports.ts';
import { seedKeySet } from '../../wire/replication-key.ts';
import { sealingSerializer } from '../cloud/authenticate.ts';
import { CountingStateStore, type StateIo, stateKeyKind } from '../cloud/counting-store.ts';
import { Keyring } from '../cloud/keyring.ts';
import type { StateLayout } from '../cloud/lean-document.ts';
import { MemoryChannel, MemoryDeltaStore, MemoryStateStore } from '../cloud/memory-ports.ts';
import { SealedDeltaStore } from '../cloud/sealed-delta-store.ts';
import { ChunkCache } from '../cloud/state-chunks.ts';
import { type Clients, type ScratchResources, SqsInbox } from './aws.ts';
import { memoryInbox } from './compare.ts';
import { inProcessStepper, type ReplayPorts, replaySchedule } from './replay.ts';
import type { ScheduledStep } from './schedule.ts';

/** What the hot-document saves cost: objects and bytes written per save, worst and mean. */
export interface SaveCost {
  /** Hot-document saves, count. */
  saves: number;
  /** Most chunk PUTs before one save, count. */
  maxChunkPuts: number;
  /** Most segment PUTs before one save, count. */
  maxSegmentPuts: number;
  /** Most PUTs of one save (hot document, segment, chunks), count. */
  maxPuts: number;
  /** Most bytes one save wrote (hot document, segment, chunks), bytes. */
  maxBytes: number;
  /** Mean bytes per save, bytes. */
  meanBytes: number;
}

/**
 * A {@link StateStore} wrapper that attributes every chunk and segment PUT to the next hot-document save
 * of the same node (they are written just before it) and keeps {@link SaveCost}.
 */
export class SaveTracker implements StateStore {
  readonly #since = new Map<string, { chunk: number; segment: number; bytes: number }>();
  readonly #cost = { saves: 0, maxChunkPuts: 0, maxSegmentPuts: 0, maxPuts: 0, maxBytes: 0, bytes: 0 };

  /** Wraps `inner`. */
  constructor(readonly inner: StateStore) {}

  /** The cost so far. */
  cost(): SaveCost {
    const { bytes, ...rest } = this.#cost;
    return { ...rest, meanBytes: bytes / Math.max(1, rest.saves) };
  }

  /** {@inheritDoc StateStore.load} */
  load(key: string): Promise<Versioned<Uint8Array> | undefined> {
    return this.inner.load(key);
  }

  /** {@inheritDoc StateStore.save} */
  async save(key: string, value: Uint8Array, etag: string | undefined): Promise<string> {
    const kind = stateKeyKind(key);
    const node = /\/node\/(primary|secondary)/.exec(key)?.[1];
    if (node !== undefined && (kind === 'chunk' || kind === 'segment' || kind === 'node')) {
      const s = this.#since.get(node) ?? { chunk: 0, segment: 0, bytes: 0 };
      s.bytes += value.byteLength;
      if (kind === 'chunk') s.chunk++;
      if (kind === 'segment') s.segment++;
      this.#since.set(node, s);
      if (kind === 'node') {
        const r = await this.inner.save(key, value, etag);
        const c = this.#cost;
        c.saves++;
        c.maxChunkPuts = Math.max(c.maxChunkPuts, s.chunk);
        c.maxSegmentPuts = Math.max(c.maxSegmentPuts, s.segment);
        c.maxPuts = Math.max(c.maxPuts, 1 + s.chunk + s.segment);
        c.maxBytes = Math.max(c.maxBytes, s.bytes);
        c.bytes += s.bytes;
        this.#since.delete(node);
        return r;
      }
    }
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
    return this.inner.delete(key);
  }
}

/** Per-invocation figures of one kind (mean over the counted invocations, and the worst one). */
export interface PerInvocation {
  /** Mean. */
  mean: StateIo;
  /** Worst invocation, field by field. */
  max: StateIo;
}

/** What one measured replay did. */
export interface StateIoMeasure {
  /** Invocations counted (after the warm-up). */
  steps: number;
  /** All state I/O of the counted invocations. */
  io: StateIo;
  /** By kind of key. */
  node: StateIo;
  chunk: StateIo;
  segment: StateIo;
  /** Per invocation. */
  perInvocation: PerInvocation;
  /** Per hot-document save, every save of the run (warm-up included: the bound holds from the first save). */
  saves: SaveCost;
  /** Wall time of the replay, ms. */
  wallMs: number;
  /** No divergence, and every commit matches its checkpoint's digest. */
  consistent: boolean;
}

function zero(): StateIo {
  return { gets: 0, puts: 0, deletes: 0, bytesIn: 0, bytesOut: 0 };
}

function minus(x: StateIo, y: StateIo): StateIo {
  return {
    gets: x.gets - y.gets,
    puts: x.puts - y.puts,
    deletes: x.deletes - y.deletes,
    bytesIn: x.bytesIn - y.bytesIn,
    bytesOut: x.bytesOut - y.bytesOut,
  };
}

/** Where a measurement runs: its ports, with `state` the raw store (the measurement wraps it). */
export interface StateIoPorts extends ReplayPorts {
  /** What to release after the run (LocalStack resources), if anything. */
  release?: () => Promise<void>;
}

/** In-memory ports for a measurement. */
export function memoryStateIoPorts(): StateIoPorts {
  const p2s = new MemoryChannel();
  const s2p = new MemoryChannel();
  return {
    state: new MemoryStateStore(),
    deltas: new MemoryDeltaStore(),
    p2s: { send: p2s, inbox: memoryInbox(p2s) },
    s2p: { send: s2p, inbox: memoryInbox(s2p) },
  };
}

/**
 * The real adapters on LocalStack for a measurement: the S3 state and delta stores on `resources.bucket`,
 * SQS FIFO channels and inboxes on its queues, sealed and authenticated with the seed's key as in the
 * functions (conformance.ts does the same).
 */
export function localStackStateIoPorts(
  clients: Clients,
  resources: ScratchResources,
  params: ColoParams,
): StateIoPorts {
  const keys = Keyring.fixed(seedKeySet(params.seed, params.vmId));
  const channel = (queueUrl: string) =>
    new SqsChannel({ queueUrl, client: clients.sqs, serialize: sealingSerializer(keys) });
  return {
    state: new S3StateStore({ bucket: resources.bucket, client: clients.s3 }),
    deltas: new SealedDeltaStore(new S3DeltaStore({ bucket: resources.bucket, client: clients.s3 }), keys),
    p2s: { send: channel(resources.p2sQueueUrl), inbox: new SqsInbox(clients.sqs, resources.p2sQueueUrl) },
    s2p: { send: channel(resources.s2pQueueUrl), inbox: new SqsInbox(clients.sqs, resources.s2pQueueUrl) },
    keys,
  };
}

/** Options of {@link measureStateIo}. */
export interface MeasureOptions {
  /** First invocations not counted per invocation (both documents created); default 4. */
  warmUp?: number;
  /** The warm container's chunk cache for the run; default a fresh one of 512 MiB. */
  chunkCache?: ChunkCache;
  /** How long a delivery waits for its message, ms; default 0 (in memory) — give SQS some. */
  receiveWaitMs?: number;
}

/**
 * Replays `steps` (an embedded run of `params`) on `ports` with state layout `layout`, counting state I/O.
 * Only the first `steps` given are replayed: pass a prefix to measure a slow layout on part of a run.
 */
export async function measureStateIo(
  steps: readonly ScheduledStep[],
  params: ColoParams,
  ports: StateIoPorts,
  layout: Partial<StateLayout>,
  options: MeasureOptions = {},
): Promise<StateIoMeasure> {
  const warmUp = options.warmUp ?? 4;
  const counting = new CountingStateStore(ports.state);
  const tracker = new SaveTracker(counting);
  const measured: ReplayPorts = { ...ports, state: tracker };
  // One warm container for the run (a Lambda's cache lives as long as its container).
  const chunkCache = options.chunkCache ?? new ChunkCache(512 * 1024 * 1024);
  const stepper = inProcessStepper(measured, params, { invocation: { stateLayout: layout, chunkCache } });
  const snap = () => ({
    total: counting.total(),
    node: { ...counting.io.node },
    chunk: { ...counting.io.chunk },
    segment: { ...counting.io.segment },
  });
  let a = snap();
  let b = a;
  let last = counting.total();
  const max = zero();
  const onProgress = (done: number, total: number) => {
    const now = counting.total();
    if (done > warmUp) {
      const d = minus(now, last);
      for (const k of Object.keys(max) as (keyof StateIo)[]) max[k] = Math.max(max[k], d[k]);
    }
    last = now;
    if (done === warmUp) a = snap();
    if (done === total) b = snap();
  };
  const r = await replaySchedule(steps, params, measured, {
    drainWaitMs: 0,
    receiveWaitMs: options.receiveWaitMs ?? 0,
    stepper,
    onProgress,
  });
  const consistent =
    r.divergence === null &&
    r.commits.every((c) => r.checkpoints.some((k) => k.epoch === c.epoch && k.digest === c.digest));
  const n = Math.max(1, r.steps - warmUp);
  const io = minus(b.total, a.total);
  const mean = zero();
  for (const k of Object.keys(mean) as (keyof StateIo)[]) mean[k] = io[k] / n;
  return {
    steps: r.steps - warmUp,
    io,
    node: minus(b.node, a.node),
    chunk: minus(b.chunk, a.chunk),
    segment: minus(b.segment, a.segment),
    perInvocation: { mean, max },
    saves: tracker.cost(),
    wallMs: r.wallMs,
    consistent,
  };
}
