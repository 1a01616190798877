/**
 * Test hooks: switches that only integration tests set, all off by default and never set by the stack's
 * normal context. Each one makes a real failure happen on demand in a deployed function, so a test can show
 * what the system does about it.
 *
 * - {@link FETCH_DELAY_ENV} (`secondary-apply` only): every delta fetch waits this long before reading
 *   the object — a slow S3. A background load whose data takes longer than `APPLY_TIMEOUT_MS` to arrive
 *   is then abandoned whole by the engine (the step's time is taken after the fetch).
 * - {@link TEST_FAULTS_ENV} `=allow` (set on every function by the stack context `testFaults=allow`): the
 *   **fault hook** ({@link TestFaults}). Each invocation of a node function reads the armed-faults document
 *   `<vmId>/test-faults.json` from the state store (`state/<vmId>/test-faults.json` in the bucket) and can
 *   fail or hang delta puts, fail gets, crash at a named point, freeze the primary, take `secondary-apply` down, or
 *   copy the records it consumed. Counted faults are taken by compare-and-swap on that document, so "the
 *   next N" is exact across concurrent invocations; every fault that fires is appended to its `fired` list.
 */
import { z } from 'zod';
import {
  type DeltaStore,
  type MessageChannel,
  StateConflictError,
  type StateStore,
} from '../../../src/engine/ports.ts';
import type { DeltaKind } from '../../../src/engine/protocol/messages.ts';
import {
  type CloudPorts,
  type InputOutcome,
  nodeStateKey,
  type Sleep,
  systemSleep,
  type TimeSource,
} from '../../../src/runtime/cloud/index.ts';
import type { Env } from '../../adapters/env.ts';
import { type HungCallOutcome, hungPut } from './hung-call.ts';
import type { LoggerLike } from './observability.ts';

/** Test hook: extra wait before each delta fetch of `secondary-apply`, ms (unset or 0: off). */
export const FETCH_DELAY_ENV = 'COLO_TEST_FETCH_DELAY_MS';

/** Longest fetch delay accepted, ms (Lambda's 15-minute ceiling). */
export const MAX_FETCH_DELAY_MS = 900_000;

/**
 * Reads {@link FETCH_DELAY_ENV}: 0 when unset or empty.
 *
 * @returns The delay, ms.
 * @throws Error when it is not an integer in [0, 900 000].
 */
export function fetchDelayFromEnv(env: Env = process.env): number {
  const raw = env[FETCH_DELAY_ENV]?.trim();
  if (!raw) return 0;
  const ms = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms > MAX_FETCH_DELAY_MS) {
    throw new Error(`${FETCH_DELAY_ENV} must be an integer in [0, ${MAX_FETCH_DELAY_MS}] ms, got ${raw}`);
  }
  return ms;
}

/**
 * A delta store whose reads each wait `delayMs` first (writes are untouched).
 *
 * @param delayMs - Wait before every `get`, ms.
 * @param sleep - How to wait; default a real timer.
 */
export function delayedDeltaStore(
  store: DeltaStore,
  delayMs: number,
  sleep: Sleep = systemSleep,
): DeltaStore {
  return {
    put: (key, bytes) => store.put(key, bytes),
    ...(store.replace ? { replace: store.replace.bind(store) } : {}),
    ...(store.delete ? { delete: store.delete.bind(store) } : {}),
    async get(key, options) {
      await sleep(delayMs);
      return store.get(key, options);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The fault hook
// ---------------------------------------------------------------------------------------------------------

/** Test hook: `allow` turns the fault hook on (unset or empty: off; anything else is an error). */
export const TEST_FAULTS_ENV = 'COLO_TEST_FAULTS';

/** The one value of {@link TEST_FAULTS_ENV} that turns the hook on. */
export const TEST_FAULTS_ALLOW = 'allow';

/**
 * Reads {@link TEST_FAULTS_ENV}.
 *
 * @returns True when it is `allow`, false when unset or empty.
 * @throws Error on any other value (a typo must not silently leave the hook off, nor turn it on).
 */
export function testFaultsFromEnv(env: Env = process.env): boolean {
  const raw = env[TEST_FAULTS_ENV]?.trim();
  if (!raw) return false;
  if (raw !== TEST_FAULTS_ALLOW) {
    throw new Error(`${TEST_FAULTS_ENV} must be ${TEST_FAULTS_ALLOW} or unset, got ${raw}`);
  }
  return true;
}

/** State-store key of a VM's armed-faults document (the S3 state store puts `state/` in front). */
export function testFaultsKey(vmId: string): string {
  return `${vmId}/test-faults.json`;
}

/** State-store key of the records a consumer copied while `captureUntil` was in the future. */
export function testCapturedKey(vmId: string): string {
  return `${vmId}/test-captured.json`;
}

/**
 * Named crash points (secondary side, `secondary-apply`):
 * - `secondary-save-after-device-state`: the first save of the secondary's node document after this
 *   invocation fetched a device-state object — the commit was computed but is not persisted;
 * - `secondary-send-after-device-state`: the first channel send after such a fetch — the commit is
 *   persisted, its `vmstate-received` / `vmstate-loaded` replies are still in the outbox.
 */
export const CRASH_POINTS = [
  'secondary-save-after-device-state',
  'secondary-send-after-device-state',
] as const;

/** A named crash point. */
export type CrashPoint = (typeof CRASH_POINTS)[number];

/** Delta kinds a put or get fault can name. */
const KINDS = ['background-ram', 'checkpoint-ram', 'device-state'] as const satisfies readonly DeltaKind[];

/** Longest a frozen primary invocation waits for the end of its silence, ms (checkpoint-timer runs 30 s). */
export const MAX_FREEZE_MS = 25_000;

/** Entries kept in the `fired` list and in the captured-records document. */
export const MAX_FIRED = 200;
export const MAX_CAPTURED = 300;

const count = z.number().int().min(0).max(1_000_000);
const epochMs = z.number().int().min(0);

const firedSchema = z.strictObject({
  /**
   * Which fault: `put:<kind>`, `put-object:<kind>`, `hang-put:<kind>` / `hung-put:<kind>`, `get:<kind|any>`,
   * `delete`, `crash:<point>`, `primary-silent`, `secondary-down`.
   */
  fault: z.string().max(200),
  /** When, ms since the Unix epoch. */
  at: z.number(),
  /** The function it fired in (`POWERTOOLS_SERVICE_NAME`). */
  service: z.string().max(200),
  /** What it hit (object key, node, time frozen…). */
  detail: z.string().max(1000),
});

/** One fault that fired. */
export type FiredFault = z.infer<typeof firedSchema>;

/** The armed-faults document, `<vmId>/test-faults.json`: every field optional, unknown fields refused. */
export const armedFaultsSchema = z.strictObject({
  /** Fail the next N delta puts of a kind (each failed call counts one, whichever invocation makes it). */
  failPuts: z.strictObject(Object.fromEntries(KINDS.map((k) => [k, count.optional()]))).optional(),
  /**
   * Make the next N objects of a kind impossible to store: the first put of each new key of that kind takes
   * one and adds the key to `failingKeys`; every put of a key in `failingKeys` fails, by any invocation.
   */
  failObjects: z.strictObject(Object.fromEntries(KINDS.map((k) => [k, count.optional()]))).optional(),
  /** Keys whose every put fails (written by the hook for `failObjects`; a test may add some too). */
  failingKeys: z.array(z.string().max(1024)).max(1000).default([]),
  /**
   * Hang the next N delta puts of a kind: each is sent, with the functions' call timeouts, to a server in
   * the function's process that never answers (`hung-call.ts`), and fails as that call fails (the SDK's
   * `TimeoutError` after its attempts). Fires `hang-put:<kind>`, then `hung-put:<kind>` with the outcome.
   */
  hangPuts: z.strictObject(Object.fromEntries(KINDS.map((k) => [k, count.optional()]))).optional(),
  /** Fail the next N delta gets of a kind, or of `any` kind. */
  failGets: z
    .strictObject(Object.fromEntries([...KINDS, 'any'].map((k) => [k, count.optional()])))
    .optional(),
  /** Fail the next N deletes of consumed delta objects (those objects stay until the lifecycle rule). */
  failDeletes: count.optional(),
  /** Crash `count` times at `point`: `throw` (the invocation fails as a whole) or `exit` (process.exit(1)). */
  crash: z
    .strictObject({ point: z.enum(CRASH_POINTS), mode: z.enum(['throw', 'exit']).default('throw'), count })
    .optional(),
  /** Until then (ms since the Unix epoch) every primary invocation is frozen: it waits, doing nothing. */
  primarySilentUntil: epochMs.optional(),
  /** Until then every `secondary-apply` batch fails as a whole (reported, so redelivered in 1 s). */
  secondaryApplyDownUntil: epochMs.optional(),
  /**
   * `secondary-apply` goes down for this long from the first batch it receives after arming, ms: the hook
   * turns it into `secondaryApplyDownUntil` then. Unlike a window fixed at arming, it cannot pass unseen
   * on a loaded machine where no batch happens to arrive inside it.
   */
  secondaryApplyDownForMs: z.number().int().min(1).max(600_000).optional(),
  /** Until then every channel consumer copies the records it consumed, with their outcome. */
  captureUntil: epochMs.optional(),
  /** Faults that fired, oldest first (the hook appends; at most {@link MAX_FIRED}). */
  fired: z.array(firedSchema).default([]),
});

/** The armed-faults document. */
export type ArmedFaults = z.infer<typeof armedFaultsSchema>;

/** What a test writes to arm faults (`fired` may be left out). */
export type ArmedFaultsInput = z.input<typeof armedFaultsSchema>;

/** A record a consumer copied. */
export interface CapturedRecord {
  /** The consuming function. */
  service: string;
  /** SQS message id. */
  messageId: string;
  /** The body, exactly as delivered. */
  body: string;
  /** FIFO message group and deduplication id, when delivered from a FIFO queue. */
  groupId: string | null;
  dedupId: string | null;
  /** How many times SQS had delivered it. */
  receiveCount: number;
  /** Its outcome: an {@link InputOutcome} status, or `failed` when the invocation failed as a whole. */
  status: InputOutcome['status'];
  /** Error code or detail of the outcome, if any. */
  code: string | null;
  detail: string | null;
  /** When it was consumed, ms since the Unix epoch. */
  at: number;
}

/** The captured-records document. */
export interface CapturedRecords {
  records: CapturedRecord[];
}

/** An error a fault hook raised on purpose. */
export class TestFaultError extends Error {
  override readonly name = 'TestFaultError';
}

/** Parses an armed-faults document. @throws Error naming the key and what is wrong. */
export function parseArmedFaults(bytes: Uint8Array, key: string): ArmedFaults {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new Error(`${key} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const r = armedFaultsSchema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`${key} is not a valid armed-faults document: ${issues}`);
  }
  return r.data;
}

/** Encodes an armed-faults document (what a test writes; `fired` defaults to empty). */
export function encodeArmedFaults(faults: ArmedFaultsInput): Uint8Array {
  return Buffer.from(JSON.stringify(armedFaultsSchema.parse(faults)), 'utf8');
}

/** The delta kind a key ends in (`…/<seq>-<kind>`), or undefined. */
export function deltaKindOf(key: string): DeltaKind | undefined {
  return KINDS.find((k) => key.endsWith(`-${k}`));
}

/** What a fault hook needs. */
export interface TestFaultsContext {
  /** Which node the function runs. */
  node: 'primary' | 'secondary';
  /** The function's service name (recorded with each fault that fires). */
  service: string;
  /** VM id. */
  vmId: string;
  /** The state store, unwrapped: the armed-faults document lives there. */
  state: StateStore;
  /** Time source, ms since the Unix epoch. */
  now: TimeSource;
  /** Waits (freezing); default a real timer. */
  sleep?: Sleep;
  /** Where faults and bad documents are reported. */
  logger: LoggerLike;
  /** A hard crash; default `process.exit`. */
  exit?: (code: number) => void;
  /** How a hung put is made; default {@link hungPut} with the functions' call timeouts. */
  hungPut?: (key: string, bytes: Uint8Array) => Promise<HungCallOutcome>;
}

/** Compare-and-swap attempts on the armed-faults document before a fault gives up (and does not fire). */
const CAS_ATTEMPTS = 16;

/**
 * The fault hook of one function (one per warm environment). Call {@link begin} at the start of every
 * invocation (it reads the armed-faults document: a snapshot for the invocation), wrap the ports with
 * {@link wrap}, and call {@link gate} before the node's work, {@link capture} after a channel batch.
 */
export class TestFaults {
  readonly #c: TestFaultsContext;
  #armed: ArmedFaults | undefined;
  /** The device-state object this invocation fetched, if any (the crash points wait for one). */
  #deviceState: string | undefined;

  constructor(context: TestFaultsContext) {
    this.#c = context;
  }

  /** The snapshot of this invocation (undefined: nothing armed, or the document is bad). */
  get armed(): ArmedFaults | undefined {
    return this.#armed;
  }

  /**
   * Starts an invocation: reads the armed-faults document. A missing document arms nothing; a bad one is
   * reported at error level and arms nothing; a read that fails is reported and arms nothing. Never throws.
   */
  async begin(): Promise<void> {
    this.#armed = undefined;
    this.#deviceState = undefined;
    const key = testFaultsKey(this.#c.vmId);
    try {
      const d = await this.#c.state.load(key);
      if (d) this.#armed = parseArmedFaults(d.value, key);
    } catch (e) {
      this.#c.logger.error('test hook: armed faults ignored', {
        key,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  /** The ports with faults injected into delta puts and gets, state saves and channel sends. */
  wrap(ports: CloudPorts): CloudPorts {
    return {
      state: this.#wrapState(ports.state),
      deltas: this.#wrapDeltas(ports.deltas),
      channel: this.#wrapChannel(ports.channel),
    };
  }

  /**
   * Before the node's work (`where`: a channel consumer's batch, or a tick consumer's ticks): a primary
   * function inside `primarySilentUntil` waits until it ends (at most {@link MAX_FREEZE_MS}) — frozen, it
   * neither claims its tick nor consumes its batch, so nothing of the primary runs meanwhile; the
   * secondary's channel consumer (`secondary-apply`) inside `secondaryApplyDownUntil` throws.
   *
   * @throws TestFaultError while `secondary-apply` is down.
   */
  async gate(where: 'channel' | 'tick'): Promise<void> {
    const a = this.#armed;
    if (!a) return;
    const now = this.#c.now();
    if (this.#c.node === 'primary' && a.primarySilentUntil !== undefined && a.primarySilentUntil > now) {
      const wait = Math.min(a.primarySilentUntil - now, MAX_FREEZE_MS);
      this.#c.logger.warn('test fault: primary silent, invocation frozen', { waitMs: wait });
      await this.#record({ fault: 'primary-silent', detail: `frozen ${wait} ms` });
      await (this.#c.sleep ?? systemSleep)(wait);
      return;
    }
    if (this.#c.node !== 'secondary' || where !== 'channel') return;
    if (a.secondaryApplyDownForMs !== undefined) {
      // The first batch after arming opens the window (compare-and-swap: exactly one invocation does).
      await this.#take(
        (doc) => {
          const ms = doc.secondaryApplyDownForMs;
          if (ms === undefined) return undefined;
          return {
            get: () => 1,
            set: () => {
              doc.secondaryApplyDownUntil = now + ms;
              doc.secondaryApplyDownForMs = undefined;
            },
          };
        },
        { fault: 'secondary-down', detail: `down for ${a.secondaryApplyDownForMs} ms from now` },
      );
    }
    const until = this.#armed?.secondaryApplyDownUntil;
    if (until !== undefined && until > now) {
      const left = until - now;
      await this.#record({ fault: 'secondary-down', detail: `${left} ms left` });
      throw new TestFaultError(`test fault: secondary-apply down for another ${left} ms`);
    }
  }

  /** While `captureUntil` is in the future, copies the consumed records and their outcomes. Never throws. */
  async capture(
    records: readonly {
      messageId: string;
      body: string;
      attributes?: Partial<Record<string, string>> | object;
    }[],
    outcomes: readonly (InputOutcome | undefined)[] | 'failed',
  ): Promise<void> {
    const a = this.#armed;
    const now = this.#c.now();
    if (!a || a.captureUntil === undefined || a.captureUntil <= now || records.length === 0) return;
    const copies: CapturedRecord[] = records.map((r, i) => {
      const attrs = (r.attributes ?? {}) as Partial<Record<string, string>>;
      const o = outcomes === 'failed' ? undefined : outcomes[i];
      return {
        service: this.#c.service,
        messageId: r.messageId,
        body: r.body,
        groupId: attrs.MessageGroupId ?? null,
        dedupId: attrs.MessageDeduplicationId ?? null,
        receiveCount: Number(attrs.ApproximateReceiveCount ?? 0),
        status: o?.status ?? 'failed',
        code: o?.code ?? null,
        detail: o?.detail ?? (outcomes === 'failed' ? 'the invocation failed as a whole' : null),
        at: now,
      };
    });
    const key = testCapturedKey(this.#c.vmId);
    try {
      for (let attempt = 1; attempt <= CAS_ATTEMPTS; attempt++) {
        const d = await this.#c.state.load(key);
        const doc: CapturedRecords = d
          ? (JSON.parse(Buffer.from(d.value).toString('utf8')) as CapturedRecords)
          : { records: [] };
        doc.records = [...doc.records, ...copies].slice(-MAX_CAPTURED);
        try {
          await this.#c.state.save(key, Buffer.from(JSON.stringify(doc), 'utf8'), d?.etag);
          return;
        } catch (e) {
          if (!(e instanceof StateConflictError)) throw e;
        }
      }
    } catch (e) {
      this.#c.logger.error('test hook: records could not be captured', {
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  /**
   * Takes one of a counted fault by compare-and-swap on the armed-faults document: decrements the count
   * `select` names if it is above zero and appends to `fired`.
   *
   * @returns True when this call took one (the fault fires), false when none is left (or the document
   *   cannot be read or written).
   */
  async #take(
    select: (a: ArmedFaults) => { get: () => number; set: (n: number) => void } | undefined,
    fired: { fault: string; detail: string },
  ): Promise<boolean> {
    const key = testFaultsKey(this.#c.vmId);
    try {
      for (let attempt = 1; attempt <= CAS_ATTEMPTS; attempt++) {
        const d = await this.#c.state.load(key);
        if (!d) return false;
        const a = parseArmedFaults(d.value, key);
        const slot = select(a);
        const left = slot?.get() ?? 0;
        if (!slot || left <= 0) {
          this.#armed = a;
          return false;
        }
        slot.set(left - 1);
        a.fired = [...a.fired, { ...fired, at: this.#c.now(), service: this.#c.service }].slice(-MAX_FIRED);
        try {
          await this.#c.state.save(key, Buffer.from(JSON.stringify(a), 'utf8'), d.etag);
          this.#armed = a;
          return true;
        } catch (e) {
          if (!(e instanceof StateConflictError)) throw e;
        }
      }
    } catch (e) {
      this.#c.logger.error('test hook: a fault could not be taken; it does not fire', {
        fault: fired.fault,
        error: e instanceof Error ? e.message : String(e),
      });
    }
    return false;
  }

  /** Takes one of the faults counted per delta kind in `field` (`slot`: the kind, or `any`). */
  #takeCounted(
    field: 'failPuts' | 'hangPuts' | 'failGets',
    slot: string,
    fired: { fault: string; detail: string },
  ): Promise<boolean> {
    return this.#take((a) => {
      const counts: Record<string, number | undefined> | undefined = a[field];
      return counts
        ? {
            get: () => counts[slot] ?? 0,
            set: (n) => {
              counts[slot] = n;
            },
          }
        : undefined;
    }, fired);
  }

  /** Appends an uncounted fault to `fired` (best effort). */
  async #record(fired: { fault: string; detail: string }): Promise<void> {
    await this.#take(
      () => ({
        get: () => 1,
        set: () => undefined,
      }),
      fired,
    );
  }

  /** Reads the armed-faults document again (port-level faults are judged on the newest version). */
  async #refresh(): Promise<ArmedFaults | undefined> {
    const key = testFaultsKey(this.#c.vmId);
    try {
      const d = await this.#c.state.load(key);
      this.#armed = d ? parseArmedFaults(d.value, key) : undefined;
    } catch (e) {
      this.#armed = undefined;
      this.#c.logger.error('test hook: armed faults ignored', {
        key,
        error: e instanceof Error ? e.message : String(e),
      });
    }
    return this.#armed;
  }

  async #putFault(key: string): Promise<void> {
    const kind = deltaKindOf(key);
    if (!kind) return;
    const a = await this.#refresh();
    if (!a) return;
    if (a.failingKeys.includes(key) || (a.failObjects?.[kind] ?? 0) > 0) {
      const stuck = await this.#take(
        (b) => {
          if (b.failingKeys.includes(key)) return { get: () => 1, set: () => undefined };
          const objects = b.failObjects;
          if (!objects || (objects[kind] ?? 0) <= 0) return undefined;
          return {
            get: () => objects[kind] ?? 0,
            set: (n) => {
              objects[kind] = n;
              b.failingKeys = [...b.failingKeys, key];
            },
          };
        },
        { fault: `put-object:${kind}`, detail: key },
      );
      if (stuck) {
        this.#c.logger.warn('test fault: delta object cannot be stored', { key });
        throw new TestFaultError(`test fault: ${key} cannot be stored`);
      }
    }
    if (!(a.failPuts?.[kind] ?? 0)) return;
    const took = await this.#takeCounted('failPuts', kind, { fault: `put:${kind}`, detail: key });
    if (!took) return;
    this.#c.logger.warn('test fault: delta put fails', { key });
    throw new TestFaultError(`test fault: put of ${key} failed`);
  }

  /** A put armed in `hangPuts`: made for real to a server that never answers; throws what the SDK threw. */
  async #hangFault(key: string, bytes: Uint8Array): Promise<void> {
    const kind = deltaKindOf(key);
    if (!kind || !(this.#armed?.hangPuts?.[kind] ?? 0)) return;
    const took = await this.#takeCounted('hangPuts', kind, { fault: `hang-put:${kind}`, detail: key });
    if (!took) return;
    this.#c.logger.warn('test fault: delta put sent to a server that never answers', { key });
    const outcome = await (this.#c.hungPut ?? hungPut)(key, bytes);
    const detail = `${key}: ${outcome.error.name} after ${Math.round(outcome.elapsedMs)} ms, ${outcome.attempts} attempt(s)`;
    this.#c.logger.warn('test fault: hung delta put failed', { key, detail });
    await this.#record({ fault: `hung-put:${kind}`, detail });
    throw outcome.error;
  }

  async #getFault(key: string): Promise<void> {
    const kind = deltaKindOf(key);
    // The copy read at the start of the invocation: a get sits inside the secondary's load → save window,
    // and an extra read there would widen its compare-and-swap races with heartbeat-monitor.
    const gets = this.#armed?.failGets;
    if (!gets) return;
    const which = kind && (gets[kind] ?? 0) > 0 ? kind : (gets.any ?? 0) > 0 ? 'any' : undefined;
    if (!which) return;
    const took = await this.#takeCounted('failGets', which, { fault: `get:${which}`, detail: key });
    if (!took) return;
    this.#c.logger.warn('test fault: delta get fails', { key });
    throw new TestFaultError(`test fault: get of ${key} failed`);
  }

  async #deleteFault(key: string): Promise<void> {
    if (!(this.#armed?.failDeletes ?? 0)) return;
    const took = await this.#take(
      (a) =>
        a.failDeletes === undefined
          ? undefined
          : {
              get: () => a.failDeletes ?? 0,
              set: (n) => {
                a.failDeletes = n;
              },
            },
      { fault: 'delete', detail: key },
    );
    if (!took) return;
    this.#c.logger.warn('test fault: delta delete fails', { key });
    throw new TestFaultError(`test fault: delete of ${key} failed`);
  }

  async #crashAt(point: CrashPoint, detail: string): Promise<void> {
    const crash = this.#armed?.crash;
    const after = this.#deviceState;
    if (after === undefined || crash?.point !== point || crash.count <= 0) return;
    const took = await this.#take(
      (a) =>
        a.crash?.point === point
          ? {
              get: () => a.crash?.count ?? 0,
              set: (n) => {
                if (a.crash) a.crash.count = n;
              },
            }
          : undefined,
      { fault: `crash:${point}`, detail: `${crash.mode}: ${detail} after fetching ${after}` },
    );
    if (!took) return;
    this.#c.logger.error('test fault: crash', { point, mode: crash.mode, detail });
    if (crash.mode === 'exit') {
      (this.#c.exit ?? ((code: number) => process.exit(code)))(1);
    }
    throw new TestFaultError(`test fault: crash at ${point} (${detail})`);
  }

  #wrapDeltas(store: DeltaStore): DeltaStore {
    return {
      put: async (key, bytes) => {
        await this.#putFault(key);
        await this.#hangFault(key, bytes);
        return store.put(key, bytes);
      },
      ...(store.replace ? { replace: store.replace.bind(store) } : {}),
      get: async (key, options) => {
        await this.#getFault(key);
        const bytes = await store.get(key, options);
        if (deltaKindOf(key) === 'device-state') this.#deviceState = key;
        return bytes;
      },
      ...(store.delete
        ? {
            delete: async (key: string) => {
              await this.#deleteFault(key);
              await store.delete?.(key);
            },
          }
        : {}),
    };
  }

  #wrapState(store: StateStore): StateStore {
    const nodeKey = nodeStateKey(this.#c.vmId, this.#c.node);
    return {
      load: (key) => store.load(key),
      save: async (key, value, etag) => {
        if (key === nodeKey) await this.#crashAt('secondary-save-after-device-state', `save of ${key}`);
        return store.save(key, value, etag);
      },
    };
  }

  #wrapChannel(channel: MessageChannel): MessageChannel {
    return {
      send: async (messages, context) => {
        await this.#crashAt(
          'secondary-send-after-device-state',
          `send of ${messages.map((m) => `${m.type}#${m.seq}`).join(', ')}`,
        );
        return channel.send(messages, context);
      },
    };
  }
}
