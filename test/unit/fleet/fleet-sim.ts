/**
 * Several VMs on one fleet stack, in memory: each VM's handlers (HandlerSim) over one shared clock, bucket
 * and set of tick queues, the tick consumers behind the fleet dispatcher as deployed — so one batch of a
 * tick queue holds ticks of several VMs, as on a fleet stack (lambda/handlers/common/fleet-dispatch.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { SQSBatchResponse } from 'aws-lambda';
import { TIMER_NAMES, type TimerName } from '../../../lambda/adapters/contract.ts';
import {
  createFleetHandler,
  type VmHandler,
  vmOfTickRecord,
} from '../../../lambda/handlers/common/fleet-dispatch.ts';
import { VmDirectory } from '../../../lambda/handlers/common/vm-directory.ts';
import type { ColoParams } from '../../../src/engine/params.ts';
import { encodeVmConfig, validateVmConfig } from '../../../src/parameters/vm-config.ts';
import { MemoryDeltaStore, MemoryStateStore, VirtualClock } from '../../../src/runtime/cloud/index.ts';
import {
  HandlerSim,
  memoryTickQueues,
  recordingObservability,
  type SharedStack,
  SIM_EPOCH_MS,
  sqsEvent,
  sqsRecord,
} from '../handlers/sim.ts';
import { MemoryVmRegistry } from './memory-registry.ts';

/** How long the records of a failed invocation stay invisible, ms (the tick queues' visibility timeout is longer). */
export const VISIBILITY_TIMEOUT_MS = 30_000;

/** A bucket whose reads and writes first pass `gate` (which may kill the calling invocation). */
class GatedStateStore extends MemoryStateStore {
  gate: (key: string) => Promise<void> = async () => {};

  override async load(key: string) {
    await this.gate(key);
    return super.load(key);
  }

  override async save(key: string, value: Uint8Array, etag: string | undefined) {
    await this.gate(key);
    return super.save(key, value, etag);
  }
}

/** A fleet stack's VMs on shared in-memory parts. */
export class FleetSim {
  readonly #bucket = new GatedStateStore();
  readonly shared: SharedStack = {
    clock: new VirtualClock(SIM_EPOCH_MS),
    state: this.#bucket,
    deltas: new MemoryDeltaStore(),
    ticks: memoryTickQueues(),
  };
  /** Each VM's handlers, by VM id. */
  readonly vms = new Map<string, HandlerSim>();
  /** How many VMs each delivered tick batch held, per timer. */
  readonly batchVms: Record<TimerName, number[]> = { checkpoint: [], 'pending-check': [], heartbeat: [] };
  readonly #consumers: Record<TimerName, (event: unknown) => Promise<unknown>>;
  /**
   * Kills the invocation that reads or writes a key this returns true for, there (Lambda's timeout or memory
   * limit ending the process): nothing it does afterwards reaches the bucket or a queue, whichever VM of
   * the batch it was working for, and the batch's records come back after the visibility timeout.
   */
  killAtSave: ((key: string) => boolean) | undefined;
  /** Invocations killed so far. */
  kills = 0;
  /** Which invocation a port call belongs to, and the invocations that were killed. */
  readonly #invocation = new AsyncLocalStorage<number>();
  readonly #dead = new Set<number>();
  #invocations = 0;
  #onKill: (() => void) | undefined;

  /** One sim per VM (`params` differ at least by `vmId`); the tick consumers see every VM's ticks. */
  constructor(params: readonly ColoParams[]) {
    const registry = new MemoryVmRegistry();
    for (const p of params) {
      this.vms.set(
        p.vmId,
        new HandlerSim(p, 'ack', { siblingRepair: true, lean: true, shared: this.shared }),
      );
      // The dispatcher only asks whether the VM is registered; the sim's handlers carry its parameters.
      registry.docs.set(p.vmId, encodeVmConfig(validateVmConfig({ vmId: p.vmId })));
    }
    const consumer = (timer: TimerName) =>
      createFleetHandler({
        directory: new VmDirectory<VmHandler>({
          source: registry,
          now: this.shared.clock.now,
          build: (config) => {
            const sim = this.vms.get(config.vmId) as HandlerSim;
            return timer === 'checkpoint'
              ? sim.checkpointTimer
              : timer === 'pending-check'
                ? sim.pendingCheckTimer
                : sim.heartbeatMonitor;
          },
        }),
        vmOfRecord: vmOfTickRecord,
        refuse: async () => 'ack',
        obs: recordingObservability(),
      });
    // A killed process's reads, writes and sends never happen: they wait for ever.
    const dead = () => this.#dead.has(this.#invocation.getStore() ?? -1);
    this.#bucket.gate = async (key) => {
      const id = this.#invocation.getStore();
      if (id !== undefined && !this.#dead.has(id) && this.killAtSave?.(key)) {
        this.#dead.add(id);
        this.kills++;
        this.#onKill?.();
      }
      if (dead()) await new Promise<never>(() => {});
    };
    for (const q of Object.values(this.shared.ticks)) q.dead = dead;
    this.#consumers = Object.fromEntries(TIMER_NAMES.map((t) => [t, consumer(t)])) as Record<
      TimerName,
      (event: unknown) => Promise<unknown>
    >;
  }

  /** Starts every VM's chains (its minute watchdog's first run). */
  async arm(): Promise<void> {
    for (const sim of this.vms.values()) await sim.tickArm({});
  }

  /** Delivers the due ticks of one shared queue, 10 at most, as one batch to the fleet consumer. */
  async deliverTicks(timer: TimerName): Promise<void> {
    const queue = this.shared.ticks[timer];
    const now = this.shared.clock.now();
    const due = queue.takeDue(now);
    if (due.length === 0) return;
    this.batchVms[timer].push(new Set(due.map((m) => (JSON.parse(m.body) as { vmId: string }).vmId)).size);
    const event = sqsEvent(
      due.map((m) => sqsRecord(m.body, { messageId: m.id, queue: `${timer}-ticks`, receives: m.receives })),
    );
    const id = ++this.#invocations;
    const killed = new Promise<undefined>((resolve) => {
      this.#onKill = () => resolve(undefined);
    });
    const invocation = this.#invocation.run(
      id,
      () => this.#consumers[timer](event) as Promise<SQSBatchResponse>,
    );
    const ended = await Promise.race([invocation, killed]);
    this.#onKill = undefined;
    if (ended === undefined) {
      // Lambda reports the invocation failed: its records come back after the visibility timeout.
      for (const m of due) queue.putBack(m, this.shared.clock.now() + VISIBILITY_TIMEOUT_MS);
      return;
    }
    const failed = new Set(ended.batchItemFailures.map((f) => f.itemIdentifier));
    for (const m of due) if (failed.has(m.id)) queue.putBack(m, this.shared.clock.now() + 1000);
  }

  /** Runs for `ms` in steps of `stepMs`: the due ticks of each queue, then every VM's channels until quiet. */
  async run(ms: number, stepMs = 100): Promise<void> {
    const end = this.shared.clock.now() + ms;
    while (this.shared.clock.now() < end) {
      this.shared.clock.advance(stepMs);
      for (const t of TIMER_NAMES) await this.deliverTicks(t);
      for (const sim of this.vms.values()) {
        for (
          let i = 0;
          i < 20 && (sim.p2s.size > 0 || sim.s2p.size > 0 || sim.redeliverP2S.length > 0);
          i++
        ) {
          await sim.deliverToSecondary();
          await sim.deliverToPrimary();
        }
      }
    }
  }
}
