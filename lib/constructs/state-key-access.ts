/**
 * Which state keys each function may write: the primary's side only the primary's documents, the
 * secondary's side only the secondary's, each timer consumer only its own timer, the watchdog only the
 * timers. Reading stays open to all of `state/` (a step reads the control document and its own state; a
 * read cannot corrupt anything). The VM id is a wildcard (one stack serves many VMs), so the scope is the
 * node/timer part of the key (src/runtime/cloud/keys.ts, lambda/adapters/contract.ts).
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import {
  type ChainName,
  FLEET_WATCHDOG_CURSOR_KEY,
  MONITOR_DOCUMENT_KEY,
  PULSE_DOCUMENT_KEY,
  STATE_PREFIX,
  type StackTimerName,
} from '../../lambda/adapters/contract.ts';
import type { NodeRole } from '../../src/runtime/cloud/keys.ts';
import type { DeltaStoreBucket } from './delta-store-bucket.ts';

/** What one function writes under `state/`. */
export interface StateWrites {
  /** The node whose documents it writes (its node document and log ring), if any. */
  readonly node?: NodeRole;
  /** Timers whose chain documents it writes (a stack chain's: `_fleet/timers/<timer>.json`). */
  readonly timers: readonly ChainName[];
  /** Whether it may write the VM's control document (the failover fence; both nodes may claim it). */
  readonly control: boolean;
  /** Whether it may write the fleet watchdog's cursor (a stack-wide state document). Default false. */
  readonly fleetCursor?: boolean;
  /** The stack chains whose own document it writes: the pulse document, the monitor document. */
  readonly stackDocuments?: readonly StackTimerName[];
  /**
   * Nodes whose unreferenced chunks and segments it sweeps (deletes; the minute watchdog). A function with
   * a `node` may delete that node's chunks and segments anyway: its saves delete the objects they retired.
   */
  readonly sweeps?: readonly NodeRole[];
}

/**
 * State-store-relative key patterns (IAM wildcards: `*` spans `/`), one place for the layout:
 * - a node's documents: `<vm>/node/<node>…` (the document and any parts of it) and `<vm>/log/<node>/…`;
 * - a timer: `<vm>/timers/<timer>.json`; the control document: `<vm>/control.json`;
 * - the integration tests' fault hook documents: `<vm>/test-….json` (only with context `testFaults=allow`);
 * - the fleet watchdog's cursor, one exact key outside every VM's (`_` starts no VM id).
 */
export const STATE_KEY_PATTERNS = {
  /** Node document(s) of one node, any VM. */
  node: (node: NodeRole): string => `*/node/${node}*`,
  /** Metrics-log ring of one node, any VM. */
  log: (node: NodeRole): string => `*/log/${node}/*`,
  /** Chain document of one timer, any VM. */
  timer: (timer: ChainName): string => `*/timers/${timer}.json`,
  /** Control document, any VM. */
  control: '*/control.json',
  /** Page-array chunks of one node's lean state (lean-document.ts), any VM: the only deletable keys. */
  chunks: (node: NodeRole): string => `*/node/${node}/chunk/*`,
  /** Overlay segments of one node's lean state, any VM: the only other deletable keys. */
  segments: (node: NodeRole): string => `*/node/${node}/segment/*`,
  /** Fault-hook documents (armed faults, captured records), any VM. */
  testHooks: '*/test-*.json',
  /** The fleet watchdog's cursor (exact key). */
  fleetCursor: FLEET_WATCHDOG_CURSOR_KEY,
  /** The stack chains' documents (exact keys). */
  stackDocument: (timer: StackTimerName): string =>
    timer === 'pulse' ? PULSE_DOCUMENT_KEY : MONITOR_DOCUMENT_KEY,
} as const;

/**
 * The key patterns `writes` allows, state-store-relative, in a fixed order (node, log, timers, control,
 * test hooks, fleet cursor).
 *
 * @param testHooks - Also the fault-hook documents (context `testFaults=allow`), for a node function.
 */
export function writablePatterns(writes: StateWrites, testHooks: boolean): string[] {
  const out: string[] = [];
  if (writes.node) out.push(STATE_KEY_PATTERNS.node(writes.node), STATE_KEY_PATTERNS.log(writes.node));
  for (const t of writes.timers) out.push(STATE_KEY_PATTERNS.timer(t));
  if (writes.control) out.push(STATE_KEY_PATTERNS.control);
  if (testHooks && writes.node) out.push(STATE_KEY_PATTERNS.testHooks);
  if (writes.fleetCursor) out.push(STATE_KEY_PATTERNS.fleetCursor);
  for (const t of writes.stackDocuments ?? []) out.push(STATE_KEY_PATTERNS.stackDocument(t));
  return out;
}

/**
 * The key patterns `writes` may delete, state-store-relative: the chunk and segment prefixes of its own node
 * (retirement) and of the nodes it sweeps, nothing else — never a node document, log, timer, control
 * document or cursor (those are only ever overwritten by compare-and-swap).
 */
export function deletablePatterns(writes: StateWrites): string[] {
  const nodes = new Set<NodeRole>([...(writes.node ? [writes.node] : []), ...(writes.sweeps ?? [])]);
  return (['primary', 'secondary'] as const)
    .filter((n) => nodes.has(n))
    .flatMap((n) => [STATE_KEY_PATTERNS.chunks(n), STATE_KEY_PATTERNS.segments(n)]);
}

/**
 * Grants `grantee` read of all of `state/` (`s3:GetObject`, and `s3:ListBucket` so a missing key reads as
 * 404), `s3:PutObject` on exactly the keys `writes` names and `s3:DeleteObject` on exactly its
 * {@link deletablePatterns}.
 *
 * @returns The granted write patterns, bucket-relative (`state/…`).
 */
export function grantStateAccess(
  store: DeltaStoreBucket,
  grantee: iam.IGrantable,
  writes: StateWrites,
  testHooks: boolean,
): string[] {
  store.grantStateRead(grantee);
  const patterns = writablePatterns(writes, testHooks).map((p) => STATE_PREFIX + p);
  if (patterns.length > 0) {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject'],
      resourceArns: patterns.map((p) => store.bucket.arnForObjects(p)),
    });
  }
  const deletable = deletablePatterns(writes).map((p) => STATE_PREFIX + p);
  if (deletable.length > 0) {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:DeleteObject'],
      resourceArns: deletable.map((p) => store.bucket.arnForObjects(p)),
    });
  }
  return patterns;
}
