/** The VM's control document (fence and stop flag): see src/runtime/cloud/control.ts. */
export {
  type ControlDocument,
  claimFence,
  markFailedOver,
  readControl,
} from '../../../src/runtime/cloud/control.ts';
