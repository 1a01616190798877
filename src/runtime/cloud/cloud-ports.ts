/** The ports one node's invocation drives (implemented on S3 and SQS in Lambda, in memory in tests). */
import type { DeltaStore, MessageChannel, StateStore } from '../../engine/ports.ts';

/** Ports of one node. */
export interface CloudPorts {
  /** Node documents and the metrics log (compare-and-swap). */
  state: StateStore;
  /** Page-delta objects: the primary puts them, the secondary gets them. */
  deltas: DeltaStore;
  /** This node's outbound channel (primary → secondary for the primary, the reverse for the secondary). */
  channel: MessageChannel;
}
