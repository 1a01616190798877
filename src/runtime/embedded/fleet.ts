/**
 * A fleet in the embedded runtime: N replicated VMs — each its own primary/secondary pair — in one
 * simulation, on one virtual clock, **sharing** one modelled link (one direction primary → secondary, one
 * back) and one delta store. A VM's background round queues on the link in front of another VM's checkpoint,
 * so contention shows in the other VM's downtime. VMs differ by seed (derived per VM) and, optionally, by
 * start time (spread evenly over `staggerMs`).
 */
import type { ColoParams } from '../../engine/params.ts';
import type { PrimaryState } from '../../engine/primary/state.ts';
import { hash32 } from '../../engine/rng.ts';
import type { SecondaryState } from '../../engine/secondary/state.ts';
import { DEFAULT_MAX_EVENTS, drive } from './drive.ts';
import type { FaultModel } from './faults.ts';
import type { LinkParams } from './link.ts';
import type { EmbeddedResult, RecordKeep } from './types.ts';
import { createVm, newWorld, type VmSimulation } from './vm.ts';

/** Most VMs one fleet simulation takes. */
export const MAX_FLEET_VMS = 100_000;

/** What to run. */
export interface FleetOptions {
  /** Engine parameters of VM 0; VM i > 0 takes {@link vmParams}. */
  params: ColoParams;
  /** The one link every VM shares, each way. */
  link: LinkParams;
  /** Simulated time, ms. */
  durationMs: number;
  /** Number of VMs (1..{@link MAX_FLEET_VMS}). */
  vms: number;
  /** VM i starts at ⌊i · staggerMs / vms⌋ ms; 0 (default): all at 0. */
  staggerMs?: number;
  /** Seeded faults, drawn per VM from its own seed. */
  faultModel?: FaultModel;
  /** Keep every VM's full record (message log, pending checks); default: lean (see EmbeddedOptions.lean). */
  full?: boolean;
  /**
   * Which record lists every VM keeps, over the above (EmbeddedOptions.keep); VM 0 with `vm0` keeps its
   * full record whatever this says.
   */
  keep?: RecordKeep;
  /** Keep VM 0's full record, with its trace events when `trace` (a fleet's timeline and trace show VM 0). */
  vm0?: { trace?: boolean };
  /** Called as simulated time passes, with the fraction done (0..1). */
  onProgress?: (fraction: number) => void;
  /** Stop with an error after this many events; default 20 million per VM. */
  maxEvents?: number;
  /** Called after every event of VM `vm` with its states (e.g. to collect its PVM digests at each stop). */
  observe?: (vm: number, at: number, primary: PrimaryState, secondary: SecondaryState) => void;
}

/** One VM of a finished fleet. */
export interface FleetVm {
  /** Its parameters (seed and id derived). */
  params: ColoParams;
  /** When it started, ms. */
  startAt: number;
  /** What it produced (`linkBytes` are its own sends). */
  result: EmbeddedResult;
}

/** Everything a fleet run produced. */
export interface FleetResult {
  /** Every VM, in order. */
  vms: FleetVm[];
  /** Bytes the shared link carried each way, bytes. */
  linkBytes: { toSecondary: number; toPrimary: number };
  /** Share of the run the primary → secondary direction was busy, 0..1. */
  linkUtilisation: number;
  /**
   * The shared delta store's peak occupancy (objects; modelled bytes), and the objects left over at the end
   * (their delete failed: `delete-fail`) with their bytes.
   */
  store: { peakObjects: number; peakBytes: number; leftoverObjects: number; leftoverBytes: number };
  /** Events processed. */
  events: number;
}

/**
 * The parameters of VM `i` of a fleet whose VM 0 has `base`: VM 0 is `base` itself (a fleet of one is the
 * plain run); VM i > 0 has a seed hashed from (base seed, i) and the id `<base id>-<i>`.
 */
export function vmParams(base: ColoParams, i: number): ColoParams {
  if (i === 0) return base;
  return { ...base, seed: hash32(base.seed, i, 0xf1ee7), vmId: `${base.vmId.slice(0, 56)}-${i}` };
}

/** When VM `i` of `vms` starts, ms: spread evenly over `staggerMs`. */
export function vmStartAt(i: number, vms: number, staggerMs: number): number {
  return vms > 0 ? Math.floor((i * staggerMs) / vms) : 0;
}

/** Runs a fleet. A run is a pure function of its options. */
export function runFleet(options: FleetOptions): FleetResult {
  const { durationMs, vms: n } = options;
  if (!Number.isInteger(n) || n < 1 || n > MAX_FLEET_VMS) {
    throw new RangeError(`a fleet has 1 to ${MAX_FLEET_VMS} VMs, not ${n}`);
  }
  const stagger = options.staggerMs ?? 0;
  const world = newWorld(options.link);
  const sims: VmSimulation[] = [];
  const out: FleetVm[] = [];
  const observe = options.observe;
  for (let i = 0; i < n; i++) {
    const params = vmParams(options.params, i);
    const startAt = vmStartAt(i, n, stagger);
    const sim = createVm(
      {
        params,
        link: options.link,
        durationMs,
        lean: options.full !== true && !(i === 0 && options.vm0),
        ...(options.keep && !(i === 0 && options.vm0) ? { keep: options.keep } : {}),
        ...(i === 0 && options.vm0?.trace ? { trace: true } : {}),
        ...(options.faultModel ? { faults: { model: options.faultModel } } : {}),
        ...(observe ? { observe: (at, p, s) => observe(i, at, p, s) } : {}),
      },
      world,
      i,
      startAt,
    );
    sims.push(sim);
    out.push({ params, startAt, result: sim.result });
  }
  const events = drive(
    world,
    {
      durationMs,
      maxEvents: options.maxEvents ?? DEFAULT_MAX_EVENTS * n,
      what: 'fleet run',
      onProgress: options.onProgress,
    },
    (at, item) => (sims[item.vm] as VmSimulation).handle(at, item),
  );
  for (const sim of sims) sim.finish();
  const toSecondary = world.links.primary.bytes;
  return {
    vms: out,
    linkBytes: { toSecondary, toPrimary: world.links.secondary.bytes },
    linkUtilisation: Math.min(1, (toSecondary * 1000) / options.link.bandwidthBytesPerSec / durationMs),
    store: {
      peakObjects: world.store.peakObjects,
      peakBytes: world.store.peakBytes,
      leftoverObjects: world.store.leftoverObjects,
      leftoverBytes: world.store.leftoverBytes,
    },
    events,
  };
}
