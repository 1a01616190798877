/**
 * The stack's pulse document (`_fleet/pulse.json`, docs/cloud.md "The pulse and the monitor"): per
 * registered VM, when the pulse last stepped its primary and what the primary then showed — the primary's
 * liveness evidence, which replaces the node document's `updatedAt` that a per-VM heartbeat chain read
 * (primary-seen.ts). Written by the pulse after its steps (compare-and-swap, merged with a concurrent
 * pulse's), read by the monitor. Pure: parse, encode, merge.
 */
import { z } from 'zod';
import type { PrimarySeen } from '../../engine/secondary/heartbeat.ts';
import { VM_ID_PATTERN } from '../../wire/limits.ts';

/** Most VMs one pulse document holds (a stack's fleet; beyond it the oldest entries are dropped). */
export const MAX_PULSE_VMS = 10_000;

/** One VM's entry. */
export interface PulseVm {
  /** When the pulse last stepped its primary successfully, ms since the Unix epoch (the primary's clock). */
  steppedAt: number;
  /**
   * What the primary showed at that step when it was replicating (phase `running`, not stopped, no exit):
   * the `primary-seen` evidence the monitor hands its secondary; null when it was not replicating.
   */
  seen: PrimarySeen | null;
  /** Steps that failed in a row since the last one that succeeded (0: the last step succeeded). */
  failures: number;
  /**
   * True when the primary was waiting for the secondary's `checkpoint-ready` at that step (a new or reset
   * VM): the monitor then steps the secondary at every tick until it has started.
   */
  waiting?: true;
  /**
   * When the pulse first found the VM stopped (failed over, fenced, removed), ms: it then steps it only every
   * quarter heartbeat timeout (at most a minute apart), to see the flag cleared. Absent while it replicates.
   */
  stoppedAt?: number;
  /** How long that step took, ms (a slow VM's next step is marked in flight first: {@link inFlightSince}). */
  lastStepMs?: number;
  /**
   * When a pulse started a step of this VM that it expected to be slow (a new VM, or one whose last step
   * was slow), ms: a concurrent pulse leaves the VM to it rather than being held by the same step too.
   * Cleared by the step's own entry; ignored once older than the function's timeout.
   */
  inFlightSince?: number;
}

/** The pulse document. */
export interface PulseDocument {
  /** Format version, always 1. */
  v: 1;
  /** When it was last written, ms since the Unix epoch. */
  at: number;
  /** Per VM id. */
  vms: Record<string, PulseVm>;
}

const time = z.number().finite().min(0);
const count = z.int().min(0);

const vmSchema = z.strictObject({
  steppedAt: time,
  seen: z.strictObject({ at: time, epoch: count, seq: count }).nullable(),
  failures: count,
  waiting: z.literal(true).optional(),
  stoppedAt: time.optional(),
  lastStepMs: time.optional(),
  inFlightSince: time.optional(),
});

const docSchema = z.strictObject({
  v: z.literal(1),
  at: time,
  vms: z.record(z.string().regex(VM_ID_PATTERN), vmSchema),
});

/** A pulse document that cannot be used. */
export class PulseDocumentError extends Error {
  override readonly name = 'PulseDocumentError';
}

/** An empty pulse document. */
export function emptyPulse(): PulseDocument {
  return { v: 1, at: 0, vms: {} };
}

/**
 * Parses a stored pulse document.
 *
 * @throws PulseDocumentError naming the first problem (not JSON, a field out of range, a key that is not a
 *   VM id, too many VMs).
 */
export function parsePulse(bytes: Uint8Array, key: string): PulseDocument {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new PulseDocumentError(`${key} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const r = docSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new PulseDocumentError(
      `${key} is not a pulse document: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`,
    );
  }
  if (Object.keys(r.data.vms).length > MAX_PULSE_VMS) {
    throw new PulseDocumentError(`${key} lists more than ${MAX_PULSE_VMS} VMs`);
  }
  return r.data as PulseDocument;
}

/** Encodes a pulse document (JSON). */
export function encodePulse(doc: PulseDocument): Uint8Array {
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

/**
 * Merges what one pulse learned (`updates`, per VM) into `base` (the stored document, possibly written by
 * a concurrent pulse meanwhile): for each VM the entry with the later `steppedAt` wins, a failure counts
 * only over an entry no newer than the last success it knew of. VMs in `keep` only are kept (the
 * registered ones); undefined keeps every VM. Returns a new document stamped `at`.
 */
export function mergePulse(
  base: PulseDocument,
  updates: Readonly<Record<string, PulseVm>>,
  at: number,
  keep?: ReadonlySet<string>,
): PulseDocument {
  const vms: Record<string, PulseVm> = {};
  for (const [vmId, vm] of Object.entries(base.vms)) if (!keep || keep.has(vmId)) vms[vmId] = vm;
  for (const [vmId, u] of Object.entries(updates)) {
    const b = vms[vmId];
    if (!b || u.steppedAt > b.steppedAt) vms[vmId] = u;
    else if (u.steppedAt === b.steppedAt) {
      // Same step: the failure count grows; the in-flight mark is this update's (set, or cleared by a step
      // that failed).
      const { inFlightSince: _, ...rest } = b;
      vms[vmId] = {
        ...rest,
        failures: Math.max(b.failures, u.failures),
        ...(u.inFlightSince !== undefined ? { inFlightSince: u.inFlightSince } : {}),
      };
    }
  }
  return { v: 1, at: Math.max(at, base.at), vms };
}
