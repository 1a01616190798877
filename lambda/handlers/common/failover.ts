/** Turning the secondary's failover into the VM's control flag, so every timer chain ends. */
import type { SecondaryDocument } from '../../../src/runtime/cloud/index.ts';
import { markFailedOver } from './control.ts';
import type { NodeHandlerDeps } from './deps.ts';

/**
 * Sets the control flag when the secondary's document says it failed over (idempotent; also repairs a flag
 * lost to a crash between the two writes).
 *
 * @returns True when the secondary has failed over.
 */
export async function recordFailover(deps: NodeHandlerDeps, doc: SecondaryDocument): Promise<boolean> {
  if (doc.state.phase !== 'failed-over') return false;
  const reason = doc.exit?.detail ?? 'failed over';
  if (await markFailedOver(deps.ports.state, deps.params.vmId, reason, deps.now())) {
    deps.obs.logger.warn('failover recorded: timer chains stop', { reason });
  }
  return true;
}
