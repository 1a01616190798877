/**
 * A deterministic cloud around a {@link CloudPair}, for crash-point tests: what Lambda, SQS FIFO and the
 * timer chains do between invocations, with every port call of every invocation counted on one shared
 * counter, so a test can make "the k-th port call of the run" kill its invocation right there.
 *
 * - Ports: every state load/save (node documents, the control document, log segments), delta put/get/delete
 *   (the secondary deletes what it consumed, after its save) and channel send goes through one counter. A crash makes that call throw (`before`: the call has no
 *   effect; `after`: the call took effect, then the invocation died before seeing its answer) and every
 *   later call of the same invocation throw too — a killed Lambda does nothing more.
 * - SQS FIFO consumers: the primary consumes S → P, the secondary P → S, in batches of up to 10. A batch
 *   whose invocation threw, or whose inputs came back `failed`, is delivered again (same bodies, same
 *   first-arrival time) after the visibility timeout, and blocks its message group until then.
 * - Timer chains: each node is ticked when its `wakeAt` is due and at least every chain period (the
 *   pending-check chain for the primary, the heartbeat chain for the secondary), so an outbox a crashed
 *   invocation left behind is replayed by the next tick even when the engine asked for no wake.
 * - Time moves from event to event (wakes, chain ticks, redeliveries) on the pair's virtual clock.
 */
import type { Effect, FenceOwner } from '../../../src/engine/effects.ts';
import { memoryDigest } from '../../../src/engine/memory/digest.ts';
import type { ColoParams } from '../../../src/engine/params.ts';
import type { PrimaryPhase } from '../../../src/engine/primary/state.ts';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';
import type { SecondaryPhase } from '../../../src/engine/secondary/state.ts';
import {
  ChunkCache,
  type CloudPorts,
  type InvocationResult,
  LEAN_INVOCATION,
  nodeStateKey,
  type PrimaryDocument,
  primaryInvocation,
  readControl,
  readPrimaryDocument,
  readSecondaryDocument,
  type SecondaryDocument,
  secondaryInvocation,
} from '../../../src/runtime/cloud/index.ts';
import { CloudPair } from './harness.ts';

export type NodeName = 'primary' | 'secondary';

/** The thrown error of a crash (a Lambda killed at that line). */
export class CrashError extends Error {
  override name = 'CrashError';
}

/** One port call, as counted. */
export interface PortCall {
  /** 1-based index on the shared counter. */
  k: number;
  /** Which port operation. */
  op: 'state.load' | 'state.save' | 'delta.put' | 'delta.get' | 'delta.delete' | 'channel.send';
  /** Key, or the message types sent. */
  what: string;
}

/** One invocation as the simulated cloud ran it. */
export interface InvocationRecord {
  node: NodeName;
  /** What it was fed: `tick`, `start`, or the message types of the batch (`delta(kind)` for deltas). */
  inputs: string[];
  /** Why it ran: a chain or wake tick, a batch, a redelivery. */
  cause: 'tick' | 'batch' | 'redelivery' | 'duplicate' | 'start' | 'probe';
  /** Virtual time it started, ms. */
  at: number;
  /** Port calls it made: [first, last] on the shared counter (first > last when it made none). */
  firstCall: number;
  lastCall: number;
  /** Messages it put on the channel (replays included); empty when it threw. */
  sent: string[];
  /** Engine effects it committed; empty when it threw. */
  effects: Effect[];
  /** Per input: `applied`, `duplicate`, `rejected:<code>`, `failed:<code>`; empty when it threw. */
  outcomes?: string[];
  /** The error it died of, if any. */
  error?: string;
}

/** Describes a message as `type` or `delta(kind)`. */
export function describeMessage(m: ColoMessage | Record<string, unknown>): string {
  return m.type === 'delta' ? `delta(${String((m as { kind?: unknown }).kind)})` : String(m.type);
}

function describeBody(body: string): string {
  try {
    return describeMessage(JSON.parse(body) as Record<string, unknown>);
  } catch {
    return 'invalid';
  }
}

interface Batch {
  bodies: { body: string; arrivedAt: number }[];
  /** Not before this time, ms. */
  availableAt: number;
}

/** Message faults applied after the crash. */
export interface SimFaults {
  /** Deliver the crashed invocation's inputs twice when they are delivered again. */
  redeliverTwice?: boolean;
  /** Deliver the first P → S message taken after the crash twice (the second copy in its own invocation). */
  duplicateNextToSecondary?: boolean;
  /** Hold the first P → S message taken after the crash back this long (its group blocked), ms. */
  delayNextToSecondaryMs?: number;
}

export interface SimOptions {
  /** Crash at this call (1-based), or never. */
  crashAt?: number;
  /**
   * `before`: the call does not happen and the invocation dies; `after`: it happens, its answer is lost and
   * the invocation dies; `error`: the call fails (a transient S3/SQS error) and the invocation goes on with
   * its own error handling.
   */
  crashWhen?: 'before' | 'after' | 'error';
  /** Node outages: no invocation of `node` runs in [from, until) (ticks skipped, its consumer paused), ms. */
  outages?: { node: NodeName; from: number; until: number }[];
  /** SQS visibility timeout before a failed batch is delivered again, ms. */
  visibilityMs?: number;
  faults?: SimFaults;
}

export class CrashSim {
  readonly pair: CloudPair;
  readonly calls: PortCall[] = [];
  readonly invocations: InvocationRecord[] = [];
  /** Errors other than the injected crash that an invocation died of. */
  readonly otherErrors: string[] = [];
  /** The invocation the crash killed. */
  crashed: InvocationRecord | undefined;
  /** Documents' `state.inSeq` after each successful save of the secondary's document, in order. */
  readonly secondaryInSeqs: number[] = [];
  /** Primary's stop digest by epoch (from every saved primary document with a transaction). */
  readonly stopDigests = new Map<number, string>();

  readonly #opts: Required<Omit<SimOptions, 'crashAt' | 'faults'>> & Pick<SimOptions, 'crashAt'>;
  /** True once the injected fault (crash or port error) happened. */
  faulted = false;
  readonly #faults: SimFaults;
  #dead = false;
  #current: InvocationRecord | undefined;
  readonly #ports: Record<NodeName, CloudPorts>;
  /** Batches taken from a channel but not yet consumed (redeliveries), per consumer, in group order. */
  readonly #backlog: Record<NodeName, Batch[]> = { primary: [], secondary: [] };
  /** The consumer's message group is blocked until then, ms. */
  readonly #blockedUntil: Record<NodeName, number> = { primary: 0, secondary: 0 };
  readonly #lastTick: Record<NodeName, number> = { primary: -Infinity, secondary: -Infinity };
  readonly #retryTicks: Record<NodeName, number[]> = { primary: [], secondary: [] };
  #pendingDuplicate: Batch | undefined;
  readonly #afterCrash = { duplicated: false, delayed: false };

  constructor(
    readonly params: ColoParams,
    options: SimOptions = {},
    start?: number,
  ) {
    this.pair = new CloudPair(params, start);
    this.#opts = {
      crashWhen: options.crashWhen ?? 'before',
      visibilityMs: options.visibilityMs ?? 30,
      outages: options.outages ?? [],
      ...(options.crashAt !== undefined ? { crashAt: options.crashAt } : {}),
    };
    this.#faults = options.faults ?? {};
    this.#ports = {
      primary: this.#instrument(this.pair.p2s),
      secondary: this.#instrument(this.pair.s2p),
    };
  }

  /** The node outages of this run. */
  get outages(): readonly { node: NodeName; from: number; until: number }[] {
    return this.#opts.outages;
  }

  get now(): number {
    return this.pair.clock.now();
  }

  /**
   * A copy of this cloud as it stands between two invocations — stores, queues, dedup windows, timers,
   * redeliveries, counters, observations — that runs on with `options` (crash point, faults). Running the
   * copy is the same as re-running the scenario from its seed up to here and on with `options` (the engine
   * and runtime are deterministic), only without paying for the common prefix again. Object versions (etags)
   * are renumbered; nothing outside a store compares them across calls.
   */
  async fork(options: SimOptions = {}): Promise<CrashSim> {
    if (this.#current) throw new Error('fork inside an invocation');
    if (this.crashed || this.faulted) throw new Error('fork after the fault');
    const sim = new CrashSim(this.params, { outages: this.#opts.outages, ...options }, this.now);
    const from = this.pair;
    const to = sim.pair;
    for (const key of from.state.keys()) to.state.put(key, from.state.peek(key) as Uint8Array, undefined);
    for (const key of from.deltas.keys()) to.deltas.tamper(key, from.deltas.peek(key) as Uint8Array);
    for (const [a, b] of [
      [from.p2s, to.p2s],
      [from.s2p, to.s2p],
    ] as const) {
      // The queue is the untaken tail of what was accepted; sending the history again rebuilds both, and the
      // deduplication ids with them.
      await b.send(a.history);
      b.take(a.history.length - a.size);
    }
    sim.calls.push(...this.calls);
    sim.invocations.push(...this.invocations);
    sim.otherErrors.push(...this.otherErrors);
    sim.secondaryInSeqs.push(...this.secondaryInSeqs);
    for (const [e, d] of this.stopDigests) sim.stopDigests.set(e, d);
    Object.assign(sim.seen, { ...this.seen, violations: [...this.seen.violations] });
    for (const n of ['primary', 'secondary'] as const) {
      sim.#backlog[n].push(
        ...this.#backlog[n].map((b) => ({ ...b, bodies: b.bodies.map((x) => ({ ...x })) })),
      );
      sim.#blockedUntil[n] = this.#blockedUntil[n];
      sim.#lastTick[n] = this.#lastTick[n];
      sim.#retryTicks[n].push(...this.#retryTicks[n]);
    }
    sim.#lastStepAt = this.#lastStepAt;
    return sim;
  }

  /** Counts a call; throws when it is the crash point (or the invocation already died). */
  async #call<T>(op: PortCall['op'], what: string, run: () => Promise<T>): Promise<T> {
    if (this.#dead) throw new CrashError(`dead invocation called ${op} ${what}`);
    const k = this.calls.length + 1;
    this.calls.push({ k, op, what });
    if (this.#current) this.#current.lastCall = k;
    if (k !== this.#opts.crashAt) return run();
    this.faulted = true;
    if (this.#opts.crashWhen === 'error') {
      if (this.#current && !this.crashed) this.crashed = this.#current;
      throw new Error(`injected ${op} failure at port call ${k} (${what})`);
    }
    this.#dead = true;
    if (this.#opts.crashWhen === 'after') await run();
    throw new CrashError(`crash at port call ${k} (${this.#opts.crashWhen} ${op} ${what})`);
  }

  #instrument(channel: CloudPair['p2s']): CloudPorts {
    const { state, deltas } = this.pair;
    return {
      state: {
        load: (key) => this.#call('state.load', key, () => state.load(key)),
        save: (key, value, etag) =>
          this.#call('state.save', key, async () => {
            const v = await state.save(key, value, etag);
            this.#observeSave(key);
            return v;
          }),
      },
      deltas: {
        put: (key, bytes) => this.#call('delta.put', key, () => deltas.put(key, bytes)),
        get: (key, options) => this.#call('delta.get', key, () => deltas.get(key, options)),
        delete: (key) => this.#call('delta.delete', key, () => deltas.delete(key)),
      },
      channel: {
        send: (messages) =>
          this.#call('channel.send', messages.map(describeMessage).join(','), () => channel.send(messages)),
      },
    };
  }

  #observing = false;
  #observeSave(key: string): void {
    if (key.includes('/node/') || key.endsWith('control.json')) this.#observing = true;
  }

  readonly #cache = new Map<string, { etag: string; doc: unknown }>();
  /** A node's document as stored now (uninstrumented, decoded once per version). */
  async doc(node: 'primary'): Promise<PrimaryDocument | undefined>;
  async doc(node: 'secondary'): Promise<SecondaryDocument | undefined>;
  async doc(node: NodeName): Promise<PrimaryDocument | SecondaryDocument | undefined> {
    const key = nodeStateKey(this.params.vmId, node);
    const d = await this.pair.state.load(key);
    if (!d) return undefined;
    const hit = this.#cache.get(key);
    if (hit?.etag === d.etag) return hit.doc as PrimaryDocument | SecondaryDocument;
    const doc =
      node === 'primary'
        ? await readPrimaryDocument(this.pair.state, this.params)
        : await readSecondaryDocument(this.pair.state, this.params);
    this.#cache.set(key, { etag: d.etag, doc });
    return doc;
  }

  /** What the observer saw after every invocation (from the stored documents). */
  readonly seen = {
    primaryPhase: 'wait-ready' as PrimaryPhase,
    secondaryPhase: 'starting' as SecondaryPhase,
    primaryEpoch: 1,
    owner: null as FenceOwner | null,
    /** When the observer first saw an owner, ms. */
    ownerSeenAt: Number.POSITIVE_INFINITY,
    /** Invariant breaches noticed along the way. */
    violations: [] as string[],
  };

  async #observe(): Promise<void> {
    if (!this.#observing) return;
    this.#observing = false;
    const at = this.now;
    const v = this.seen.violations;
    const p = await this.doc('primary');
    if (p) {
      this.seen.primaryPhase = p.state.phase;
      this.seen.primaryEpoch = p.state.epoch;
      const txn = p.state.txn;
      if (txn?.digest) {
        const had = this.stopDigests.get(p.state.epoch);
        if (had !== undefined && had !== txn.digest)
          v.push(`epoch ${p.state.epoch}: two stop digests ${had} and ${txn.digest}`);
        this.stopDigests.set(p.state.epoch, txn.digest);
      }
    }
    const s = await this.doc('secondary');
    if (s) {
      this.seen.secondaryPhase = s.state.phase;
      const last = this.secondaryInSeqs.at(-1);
      if (last !== undefined && s.state.inSeq < last)
        v.push(`at ${at}: the secondary's inSeq went back from ${last} to ${s.state.inSeq}`);
      if (last !== s.state.inSeq) this.secondaryInSeqs.push(s.state.inSeq);
      // The committed image is exactly one checkpoint: the primary's image at the stop of that epoch.
      const e = s.state.committedEpoch;
      const digest = memoryDigest(this.params.seed, s.state.committed);
      const want =
        e === 0
          ? memoryDigest(this.params.seed, new Uint32Array(s.state.committed.length))
          : this.stopDigests.get(e);
      if (digest !== want)
        v.push(`at ${at}: committed image of epoch ${e} is ${digest}, the primary stopped at ${want}`);
      const rounds = s.state.appliedRounds;
      if (new Set(rounds).size !== rounds.length) v.push(`at ${at}: applied rounds ${rounds.join(',')}`);
    }
    const control = await readControl(this.pair.state, this.params.vmId);
    if (control.owner !== null && this.seen.owner === null) this.seen.ownerSeenAt = at;
    if (this.seen.owner !== null && control.owner !== this.seen.owner)
      v.push(`at ${at}: the owner changed from ${this.seen.owner} to ${control.owner}`);
    this.seen.owner = control.owner;
    if (this.seen.primaryPhase === 'exited' && this.seen.secondaryPhase === 'failed-over')
      v.push(`at ${at}: both sides active (primary exited, secondary failed over)`);
    if (this.seen.primaryPhase === 'exited' && control.owner !== 'primary')
      v.push(`at ${at}: the primary runs alone but the owner is ${control.owner}`);
    if (this.seen.secondaryPhase === 'failed-over' && control.owner !== 'secondary')
      v.push(`at ${at}: the secondary took over but the owner is ${control.owner}`);
  }

  /** Runs one invocation of `node`; a crash (or any error) is recorded, not thrown. */
  async invoke(
    node: NodeName,
    inputs: { type: 'tick' } | { type: 'start' } | Batch['bodies'],
    cause: InvocationRecord['cause'],
  ): Promise<InvocationResult<unknown> | undefined> {
    const batch = Array.isArray(inputs) ? inputs : undefined;
    const rec: InvocationRecord = {
      node,
      inputs: batch ? batch.map((b) => describeBody(b.body)) : [(inputs as { type: string }).type],
      cause,
      at: this.now,
      firstCall: this.calls.length + 1,
      lastCall: this.calls.length,
      sent: [],
      effects: [],
    };
    this.invocations.push(rec);
    this.#current = rec;
    // A killed invocation does not wait for anything: its backoffs take no time (its calls all fail).
    const options = {
      sleep: (ms: number) => (this.#dead ? Promise.resolve() : this.pair.clock.sleep(ms)),
      // CRASH_MATRIX_LAYOUT=lean: the lean layout in 4 chunks, spilling, merging and folding often, no chunk
      // cache (so a copy of the run makes the same calls): every chunk and segment read and write is a crash
      // point too.
      ...(process.env.CRASH_MATRIX_LAYOUT === 'lean'
        ? {
            stateLayout: {
              kind: 'lean' as const,
              chunkPages: 64,
              overlayEntries: 16,
              segmentEntries: 32,
              segmentFanout: 3,
              foldsPerSave: 1,
            },
            chunkCache: new ChunkCache(0),
          }
        : {}),
      // CRASH_MATRIX_INVOCATION=lean: the deployed functions' options (log batches, no save after a
      // heartbeat-only send), so every left-out save is a crash point too.
      ...(process.env.CRASH_MATRIX_INVOCATION === 'lean' ? LEAN_INVOCATION : {}),
    };
    let result: InvocationResult<unknown> | undefined;
    try {
      if (node === 'primary') {
        const ins = batch
          ? batch.map((b) => ({ type: 'message' as const, body: b.body, arrivedAt: b.arrivedAt }))
          : [inputs as { type: 'tick' }];
        result = await primaryInvocation(this.#ports.primary, this.params, this.pair.clock.now, ins, options);
      } else {
        const ins = batch
          ? batch.map((b) => ({ type: 'message' as const, body: b.body, arrivedAt: b.arrivedAt }))
          : [inputs as { type: 'tick' } | { type: 'start' }];
        result = await secondaryInvocation(
          this.#ports.secondary,
          this.params,
          this.pair.clock.now,
          ins,
          options,
        );
      }
      // A crash in a call whose failure the invocation absorbs (deleting a consumed delta object): the
      // Lambda died right there all the same, so it answers nothing and its batch comes back.
      if (this.#dead) throw new CrashError('the invocation died in a call it would have absorbed');
      rec.sent = result.sent.map(describeMessage);
      rec.effects = result.effects;
      rec.outcomes = result.outcomes.map((o) => (o.code ? `${o.status}:${o.code}` : o.status));
    } catch (e) {
      result = undefined;
      rec.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      if (this.#dead && !this.crashed) this.crashed = rec;
      else if (!(e instanceof CrashError) && !/^Error: injected /.test(rec.error))
        this.otherErrors.push(`${node} at ${rec.at}: ${rec.error}`);
    } finally {
      this.#dead = false;
      this.#current = undefined;
      await this.#observe();
    }
    // What the cloud does with an invocation that failed: the record (or the failed tail of the batch)
    // comes back after the visibility timeout; a tick comes back too (the chain's record is redelivered).
    const failedFrom = result ? result.outcomes.findIndex((o) => o.status === 'failed') : 0;
    if (failedFrom >= 0) {
      const justCrashed = this.crashed === rec;
      const copies = justCrashed && this.#faults.redeliverTwice ? 2 : 1;
      const availableAt = this.now + this.#opts.visibilityMs;
      if (batch) {
        const rest = batch.slice(failedFrom);
        const again = Array.from({ length: copies }, () => ({ bodies: rest, availableAt }));
        this.#backlog[node].unshift(...again);
        this.#blockedUntil[node] = Math.max(this.#blockedUntil[node], availableAt);
      } else if (cause !== 'start') {
        for (let i = 0; i < copies; i++) this.#retryTicks[node].push(availableAt);
      } else {
        this.#retryTicks[node].push(availableAt);
      }
    }
    return result;
  }

  /** Next batch for `node`'s consumer, if its group is not blocked. */
  /** End of the outage `node` is in now, or undefined. */
  #down(node: NodeName): number | undefined {
    const t = this.now;
    return this.#opts.outages.find((o) => o.node === node && o.from <= t && t < o.until)?.until;
  }

  #take(node: NodeName): { batch: Batch; cause: InvocationRecord['cause'] } | undefined {
    if (this.now < this.#blockedUntil[node] || this.#down(node) !== undefined) return undefined;
    const backlog = this.#backlog[node];
    const first = backlog[0];
    if (first) {
      if (first.availableAt > this.now) return undefined;
      backlog.shift();
      return { batch: first, cause: 'redelivery' };
    }
    const channel = node === 'primary' ? this.pair.s2p : this.pair.p2s;
    const records = channel.take(node === 'secondary' && this.crashed && this.#needsSingle() ? 1 : 10);
    if (records.length === 0) return undefined;
    const batch: Batch = {
      bodies: records.map((r) => ({ body: r.body, arrivedAt: this.now })),
      availableAt: this.now,
    };
    if (node === 'secondary' && this.crashed) {
      const f = this.#faults;
      if (f.delayNextToSecondaryMs !== undefined && !this.#afterCrash.delayed) {
        // This message goes through; the next one, and everything behind it, arrives late.
        this.#afterCrash.delayed = true;
        this.#blockedUntil[node] = this.now + f.delayNextToSecondaryMs;
      }
      if (f.duplicateNextToSecondary && !this.#afterCrash.duplicated) {
        this.#afterCrash.duplicated = true;
        this.#pendingDuplicate = { bodies: batch.bodies, availableAt: this.now };
      }
    }
    return { batch, cause: 'batch' };
  }

  #needsSingle(): boolean {
    const f = this.#faults;
    return (
      (f.delayNextToSecondaryMs !== undefined && !this.#afterCrash.delayed) ||
      (f.duplicateNextToSecondary === true && !this.#afterCrash.duplicated)
    );
  }

  /** Ticks the nodes that are due, then delivers messages both ways until both channels are quiet. */
  async step(): Promise<void> {
    for (const node of ['primary', 'secondary'] as const) {
      if (await this.#tickDue(node)) {
        this.#lastTick[node] = this.now;
        this.#retryTicks[node] = this.#retryTicks[node].filter((t) => t > this.now);
        await this.invoke(node, { type: 'tick' }, 'tick');
      }
    }
    for (let round = 0; round < 50; round++) {
      let any = false;
      for (const node of ['secondary', 'primary'] as const) {
        const next = this.#take(node);
        if (next) {
          any = true;
          await this.invoke(node, next.batch.bodies, next.cause);
          const dup = this.#pendingDuplicate;
          if (dup && node === 'secondary') {
            this.#pendingDuplicate = undefined;
            await this.invoke(node, dup.bodies, 'duplicate');
          }
        }
      }
      if (!any) return;
    }
  }

  #chainMs(node: NodeName): number {
    return node === 'primary' ? this.params.pendingCheckIntervalMs : this.params.heartbeatIntervalMs;
  }

  async #wakeAt(node: NodeName): Promise<number> {
    const doc = node === 'primary' ? await this.doc('primary') : await this.doc('secondary');
    if (!doc) return Number.POSITIVE_INFINITY;
    return doc.exit ? Number.POSITIVE_INFINITY : doc.wakeAt;
  }

  async #tickDue(node: NodeName): Promise<boolean> {
    const t = this.now;
    if (this.#down(node) !== undefined) return false;
    if (this.#retryTicks[node].some((r) => r <= t)) return true;
    if (t - this.#lastTick[node] >= this.#chainMs(node)) return true;
    return (await this.#wakeAt(node)) <= t;
  }

  /** The time of the last step, ms. */
  #lastStepAt = Number.NEGATIVE_INFINITY;

  /**
   * When something next happens, ms: the earliest event after the last step. It may already be due (an
   * invocation's own waits — settling, backoff — moved the clock past it): then it is now.
   */
  async #nextEvent(): Promise<number> {
    const t = this.#lastStepAt;
    const times = [
      await this.#wakeAt('primary'),
      await this.#wakeAt('secondary'),
      this.#lastTick.primary + this.#chainMs('primary'),
      this.#lastTick.secondary + this.#chainMs('secondary'),
      ...this.#opts.outages.flatMap((o) => [o.from, o.until]),
      ...this.#retryTicks.primary,
      ...this.#retryTicks.secondary,
      ...(['primary', 'secondary'] as const).flatMap((n) => [
        this.#blockedUntil[n],
        ...this.#backlog[n].map((b) => b.availableAt),
      ]),
    ].filter((x) => x > t);
    return Math.max(this.now, Math.min(...times));
  }

  /** True once the crash happened and every fault it brings was applied and nothing waits for redelivery. */
  get quiet(): boolean {
    if (!this.crashed || this.#needsSingle() || this.#pendingDuplicate) return false;
    const t = this.now;
    if (this.#opts.outages.some((o) => o.until > t)) return false;
    return (['primary', 'secondary'] as const).every(
      (n) => this.#backlog[n].length === 0 && this.#blockedUntil[n] <= t && this.#retryTicks[n].length === 0,
    );
  }

  /** Starts the secondary (its `checkpoint-ready` is then delivered by the first step). */
  async start(): Promise<void> {
    await this.invoke('secondary', { type: 'start' }, 'start');
    await this.step();
  }

  /** Runs event to event until `until` (virtual ms) or `stop` says so. */
  async runUntil(until: number, stop?: () => boolean): Promise<void> {
    while (this.now < until && !stop?.()) {
      const next = Math.min(until, await this.#nextEvent());
      this.pair.clock.advance(next - this.now);
      this.#lastStepAt = this.now;
      await this.step();
    }
  }
}
