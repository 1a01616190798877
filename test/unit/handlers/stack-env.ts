/** Environments of the handler tests. */

/** The environment the stack gives every function (lib/colo-stack.ts). */
export const STACK_ENV: Record<string, string> = {
  VM_ID: 'vm-0',
  SEED: '7',
  GUEST_BYTES: String(1024 * 1024),
  WORKLOAD: 'hotcold',
  POLICY: 'fixed',
  CHECKPOINT_DELAY_MS: '20000',
  PENDING_CHECK_INTERVAL_MS: '1000',
  THRESHOLD_BYTES: String(40 * 4096),
  APPLY_TIMEOUT_MS: '5000',
  HEARTBEAT_INTERVAL_MS: '1000',
  HEARTBEAT_TIMEOUT_MS: '3000',
  CHECKPOINT_TIMEOUT_MS: '30000',
  DOWNTIME_BUDGET_MS: '300',
  EPOCH_CAP_BYTES: '0',
  BUCKET_NAME: 'colo-bucket',
  POWERTOOLS_SERVICE_NAME: 'primary',
};
