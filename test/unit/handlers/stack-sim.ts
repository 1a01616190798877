/**
 * A fleet stack driven by its two stack chains' work (docs/cloud.md "The pulse and the monitor"): the pulse
 * every second, the monitor every 2 s, each VM's checkpoint chain and both channels in between, on the
 * in-memory ports and virtual clock of {@link HandlerSim}s sharing one bucket. The stack chains' claiming is
 * tick-chain.ts's (tested with the VM chains); this drives their work.
 */

import type { NodeHandlerDeps } from '../../../lambda/handlers/common/deps.ts';
import { type MonitorSummary, runMonitor } from '../../../lambda/handlers/common/monitor.ts';
import { type PulseDeps, type PulseSummary, runPulse } from '../../../lambda/handlers/common/pulse.ts';
import type { ColoParams } from '../../../src/engine/params.ts';
import type { StateStore } from '../../../src/engine/ports.ts';
import { MemoryDeltaStore, MemoryStateStore, VirtualClock } from '../../../src/runtime/cloud/index.ts';
import { HandlerSim, memoryTickQueues, type SharedStack, SIM_EPOCH_MS } from './sim.ts';

/** A stack of VMs run by the pulse and the monitor. */
export class StackSim {
  readonly shared: SharedStack;
  readonly vms = new Map<string, HandlerSim>();
  /** VMs whose primary step throws (a per-VM failure the pulse must isolate). */
  readonly broken = new Set<string>();
  /**
   * VMs whose primary is silent (the fault hook's frozen primary): no pulse steps it, no checkpoint tick or
   * message reaches it.
   */
  readonly silent = new Set<string>();
  readonly pulses: PulseSummary[] = [];
  readonly monitors: MonitorSummary[] = [];
  /**
   * VMs whose primary step is held: its first state read waits for the promise (a slow step); `entered`
   * is called when a step reaches it.
   */
  readonly held = new Map<string, { until: Promise<void>; entered: () => void }>();
  /**
   * True while no pulse runs (both pulse invocations hung, the chain not yet repaired): {@link run} skips
   * the pulse; checkpoint ticks, channels and the monitor go on.
   */
  pulseDown = false;
  /** Called before each monitor tick of {@link run} (a test's probe of the situation the tick meets). */
  beforeMonitor?: () => Promise<void>;
  #nextPulse = 0;
  #nextMonitor = 0;

  /**
   * @param options.p2sLatencyMs - How long a P → S message waits in the channel before it can be
   *   delivered, ms (a loaded event source; default 0).
   */
  constructor(readonly options: { maxVms?: number; stateOverride?: StateStore; p2sLatencyMs?: number } = {}) {
    this.shared = {
      clock: new VirtualClock(SIM_EPOCH_MS),
      state: new MemoryStateStore(),
      deltas: new MemoryDeltaStore(),
      ticks: memoryTickQueues(),
    };
  }

  /** Registers a VM (lean invocations, as deployed) and starts its checkpoint chain. */
  async add(params: ColoParams): Promise<HandlerSim> {
    // Its own tick queues (a VM's checkpoint chain), the stack's clock and bucket.
    const sim = new HandlerSim(params, 'ack', {
      lean: true,
      shared: { ...this.shared, ticks: memoryTickQueues() },
    });
    this.vms.set(params.vmId, sim);
    await sim.tickArm({});
    return sim;
  }

  get clock(): VirtualClock {
    return this.shared.clock;
  }

  get state(): StateStore {
    return this.options.stateOverride ?? this.shared.state;
  }

  #deps(vmId: string, node: 'primary' | 'secondary'): NodeHandlerDeps | undefined {
    const sim = this.vms.get(vmId);
    if (!sim) return undefined;
    const base = node === 'primary' ? sim.primaryDeps : sim.secondaryDeps;
    // The primary's state reads replaced: failing (a broken VM) or waiting (a held, slow VM).
    // Every other method delegates (a spread would drop a class's prototype methods: save, list, delete).
    const store = base.ports.state;
    const withLoad = (load: StateStore['load']): NodeHandlerDeps => ({
      ...base,
      ports: {
        ...base.ports,
        state: {
          load,
          save: (key, value, etag) => store.save(key, value, etag),
          ...(store.list ? { list: (prefix: string) => store.list?.(prefix) ?? Promise.resolve([]) } : {}),
          ...(store.delete ? { delete: (key: string) => store.delete?.(key) ?? Promise.resolve() } : {}),
        },
      },
    });
    if (node === 'primary' && this.broken.has(vmId)) {
      return withLoad(async () => {
        throw new Error(`S3 down for ${vmId}`);
      });
    }
    const hold = node === 'primary' ? this.held.get(vmId) : undefined;
    if (hold) {
      return withLoad(async (key) => {
        hold.entered();
        await hold.until;
        return base.ports.state.load(key);
      });
    }
    return base;
  }

  /**
   * Holds VM `vmId`'s primary steps ({@link held}) until `release` is called; `reached` resolves when a
   * step first waits.
   */
  hold(vmId: string): { reached: Promise<void>; release: () => void } {
    let release = (): void => undefined;
    let entered = (): void => undefined;
    const reached = new Promise<void>((r) => {
      entered = r;
    });
    const until = new Promise<void>((r) => {
      release = r;
    });
    this.held.set(vmId, { until, entered: () => entered() });
    return { reached, release: () => release() };
  }

  /** One pulse now (`over`: the pulse's own bounds, e.g. `lateMarkAfterMs`). */
  async pulse(over: Pick<PulseDeps, 'lateMarkAfterMs'> = {}): Promise<PulseSummary> {
    const s = await runPulse({
      ...over,
      state: this.state,
      vms: async () => [...this.vms.keys()],
      vmDeps: async (vmId) => (this.silent.has(vmId) ? undefined : this.#deps(vmId, 'primary')),
      now: this.clock.now,
      obs: [...this.vms.values()][0]?.obs ?? (undefined as never),
      ...(this.options.maxVms !== undefined ? { maxVms: this.options.maxVms } : {}),
    });
    this.pulses.push(s);
    return s;
  }

  /** One monitor tick now. */
  async monitor(): Promise<MonitorSummary> {
    const s = await runMonitor({
      state: this.state,
      vms: async () => [...this.vms.keys()],
      vmDeps: async (vmId) => this.#deps(vmId, 'secondary'),
      now: this.clock.now,
      obs: [...this.vms.values()][0]?.obs ?? (undefined as never),
    });
    this.monitors.push(s);
    return s;
  }

  /** Runs for `ms` in steps of `stepMs`: pulse and monitor when due, checkpoint ticks, both channels. */
  async run(ms: number, stepMs = 100): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.clock.advance(stepMs);
      const now = this.clock.now();
      if (now >= this.#nextPulse && !this.pulseDown) {
        this.#nextPulse = now + 1000;
        await this.pulse();
      }
      if (now >= this.#nextMonitor) {
        this.#nextMonitor = now + 2000;
        await this.beforeMonitor?.();
        await this.monitor();
      }
      for (const [vmId, sim] of this.vms) {
        const silent = this.silent.has(vmId);
        if (!silent) await sim.deliverTicks('checkpoint');
        const latency = this.options.p2sLatencyMs ?? 0;
        const p2sDue = () => sim.p2s.size > 0 && (sim.p2s.oldestSentAt() ?? 0) <= now - latency;
        for (
          let i = 0;
          i < 20 && (p2sDue() || (!silent && sim.s2p.size > 0) || sim.redeliverP2S.length > 0);
          i++
        ) {
          if (p2sDue() || sim.redeliverP2S.length > 0) await sim.deliverToSecondary();
          if (!silent) await sim.deliverToPrimary();
        }
      }
    }
  }
}
