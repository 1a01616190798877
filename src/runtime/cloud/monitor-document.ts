/**
 * The stack's monitor document (`_fleet/monitor.json`, docs/cloud.md "The pulse and the monitor"): per
 * registered VM, the secondary's next wake as the monitor last left it and the primary's position (epoch,
 * next sequence number) it had seen then. The monitor reads a secondary's document only when that VM has
 * something due: its wake has come, or the primary moved on since (messages on the channel, which
 * `secondary-apply` consumes and which may set a deadline). Pure: parse, encode.
 */
import { z } from 'zod';
import { VM_ID_PATTERN } from '../../wire/limits.ts';

/** One VM's entry. */
export interface MonitorVm {
  /** The secondary's next wake after the monitor last stepped it, ms since the Unix epoch (null: none). */
  wakeAt: number | null;
  /** When the monitor last stepped it, ms since the Unix epoch. */
  steppedAt: number;
  /** The primary's epoch and next sequence number the monitor had seen then (the pulse's evidence). */
  epoch: number;
  seq: number;
  /** The pulse document's `stoppedAt` for the VM that the monitor last stepped the secondary for, ms. */
  stoppedSeen?: number;
  /**
   * True when `wakeAt` is the secondary's heartbeat watchdog (a judgement of the primary's silence, not a
   * wait deadline): held while the pulse — the source of that evidence — is down (monitor.ts).
   */
  wakeIsWatchdog?: true;
}

/** The monitor document. */
export interface MonitorDocument {
  /** Format version, always 1. */
  v: 1;
  /** When it was last written, ms since the Unix epoch. */
  at: number;
  /** Per VM id. */
  vms: Record<string, MonitorVm>;
}

const count = z.int().min(0);

const docSchema = z.strictObject({
  v: z.literal(1),
  at: z.number().finite().min(0),
  vms: z.record(
    z.string().regex(VM_ID_PATTERN),
    z.strictObject({
      wakeAt: z.number().finite().nullable(),
      steppedAt: z.number().finite().min(0),
      epoch: count,
      seq: count,
      stoppedSeen: z.number().finite().min(0).optional(),
      wakeIsWatchdog: z.literal(true).optional(),
    }),
  ),
});

/** A monitor document that cannot be used. */
export class MonitorDocumentError extends Error {
  override readonly name = 'MonitorDocumentError';
}

/** An empty monitor document. */
export function emptyMonitor(): MonitorDocument {
  return { v: 1, at: 0, vms: {} };
}

/**
 * Parses a stored monitor document.
 *
 * @throws MonitorDocumentError naming the first problem.
 */
export function parseMonitor(bytes: Uint8Array, key: string): MonitorDocument {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new MonitorDocumentError(`${key} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const r = docSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new MonitorDocumentError(
      `${key} is not a monitor document: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`,
    );
  }
  return r.data as MonitorDocument;
}

/** Encodes a monitor document (JSON). */
export function encodeMonitor(doc: MonitorDocument): Uint8Array {
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

/**
 * Merges what one monitor tick learned (`updates`, per VM) into `base` (the stored document, possibly
 * written by a concurrent tick meanwhile): for each VM the entry with the later `steppedAt` wins (ours on a
 * tie), so a tick that lost the race never puts back an older wake or position over a newer step. VMs in
 * `keep` only are kept (the registered ones). Returns a new document stamped `at` (ms).
 */
export function mergeMonitor(
  base: MonitorDocument,
  updates: Readonly<Record<string, MonitorVm>>,
  at: number,
  keep: ReadonlySet<string>,
): MonitorDocument {
  const vms: Record<string, MonitorVm> = {};
  for (const [vmId, vm] of Object.entries(base.vms)) if (keep.has(vmId)) vms[vmId] = vm;
  for (const [vmId, u] of Object.entries(updates)) {
    const b = vms[vmId];
    if (!b || u.steppedAt >= b.steppedAt) vms[vmId] = u;
  }
  return { v: 1, at: Math.max(at, base.at), vms };
}
