/**
 * State-store key layout of the cloud runtime, per VM (the S3 state store puts `state/` in front):
 *
 * - `<vmId>/node/primary.bin`, `<vmId>/node/secondary.bin`: node documents (container format);
 * - `<vmId>/node/<node>/chunk/<index>/<revision>-<sha256>.bin`: the page-array chunks a node document names
 *   (lean-document.ts), immutable, written create-only before the document that names them;
 * - `<vmId>/node/<node>/segment/<revision>-<sha256>.bin`: overlay segments (changed array elements spilled
 *   out of the hot document, state-segments.ts), immutable, written create-only before the document too;
 * - `<vmId>/log/<node>/<slot>.json`: the metrics/trace log, a ring of JSON segments (slot = 4 digits).
 *
 * The stack's own documents live beside them: `<vmId>/timers/<timer>.json` and `<vmId>/control.json`.
 */

/** The two replicated nodes. */
export type NodeRole = 'primary' | 'secondary';

/** Key of a node's state document. */
export function nodeStateKey(vmId: string, node: NodeRole): string {
  return `${vmId}/node/${node}.bin`;
}

/** Key prefix of a node's state chunks (every chunk key starts with it). */
export function chunkPrefix(vmId: string, node: NodeRole): string {
  return `${vmId}/node/${node}/chunk/`;
}

/**
 * Key of one state chunk: chunk `index` (a page range) as first written by the save of document revision
 * `revision`, with SHA-256 `sha256Hex` of its bytes. A key is never written with other bytes: a later save
 * writes under its own revision, and two racing saves of one revision differ in the hash.
 */
export function chunkKey(
  vmId: string,
  node: NodeRole,
  index: number,
  revision: number,
  sha256Hex: string,
): string {
  return `${chunkPrefix(vmId, node)}${index}/${revision}-${sha256Hex}.bin`;
}

/** Key prefix of a node's overlay segments (every segment key starts with it). */
export function segmentPrefix(vmId: string, node: NodeRole): string {
  return `${vmId}/node/${node}/segment/`;
}

/**
 * Key of one overlay segment, written by the save of document revision `revision`, with SHA-256 `sha256Hex`
 * of its bytes (never written with other bytes, as for chunks).
 */
export function segmentKey(vmId: string, node: NodeRole, revision: number, sha256Hex: string): string {
  return `${segmentPrefix(vmId, node)}${revision}-${sha256Hex}.bin`;
}

/** Key of one slot of a node's log ring. */
export function logSegmentKey(vmId: string, node: NodeRole, slot: number): string {
  return `${vmId}/log/${node}/${String(slot).padStart(4, '0')}.json`;
}

/**
 * Key of the config a plain `colo vm remove` unregistered, kept with the VM's state (state-store key): an
 * `add` of the VM checks what the state is bound to (guest size, seed, workload) against it.
 */
export function removedConfigKey(vmId: string): string {
  return `${vmId}/removed-config.json`;
}

/**
 * Key of a VM's control document (`{ failedOver, reason, at, owner }`, see control.ts): the fence that
 * decides which side alone may run the VM once replication ends, and the flag that ends the timer chains.
 */
export function controlKey(vmId: string): string {
  return `${vmId}/control.json`;
}
