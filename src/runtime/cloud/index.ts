/**
 * The cloud runtime: the imperative shell around the engine for Lambda, written against the ports only.
 * docs/cloud-runtime.md describes how an invocation works and why it is safe under retries and concurrency.
 */
export { type AuthenticatedBody, authenticateBodies, sealingSerializer } from './authenticate.ts';
export { objectRevision, type SweepReport, sweepChunks } from './chunk-sweep.ts';
export type { Sleep, TimeSource } from './clock.ts';
export { systemNow, systemSleep, VirtualClock } from './clock.ts';
export type { CloudPorts } from './cloud-ports.ts';
export {
  CONTAINER_VERSION,
  type ContainerKind,
  decodeContainer,
  encodeContainer,
  MAX_CONTAINER_DECODED_BYTES,
} from './container.ts';
export { type ControlDocument, claimFence, markFailedOver, readControl } from './control.ts';
export { CountingStateStore, type StateIo, type StateKeyKind, stateKeyKind } from './counting-store.ts';
export { consumedDeltaKeys, type DeltaRetirement, NO_RETIREMENT, retireDeltas } from './delta-retire.ts';
export {
  DOCUMENT_FORMAT,
  decodePrimaryDocument,
  decodeSecondaryDocument,
  type ExitInfo,
  encodeDocument,
  LEAN_DOCUMENT_FORMAT,
  type NodeDocument,
  type Outbox,
  type OutboxSend,
  type PayloadRecipe,
  type PrimaryDocument,
  type SecondaryDocument,
} from './document.ts';
export type { InputOutcome, InvocationOptions, InvocationResult } from './driver.ts';
export { LEAN_INVOCATION, LEFT_TO_CONCURRENT, logDue, NOT_DUE } from './driver.ts';
export {
  CasExhaustedError,
  FailoverWithoutStateError,
  OutboxRebuildError,
  StateDocumentError,
  UnsendableMessageError,
} from './errors.ts';
export {
  DEFAULT_KEY_MAX_AGE_MS,
  DEFAULT_KEY_REFRESH_INTERVAL_MS,
  type DeploymentSecrets,
  KeyNotLoadedError,
  Keyring,
  type KeyringOptions,
  KeyringUnavailableError,
  type KeySource,
  type RefreshResult,
  sharedKeySource,
} from './keyring.ts';
export {
  chunkKey,
  chunkPrefix,
  controlKey,
  logSegmentKey,
  type NodeRole,
  nodeStateKey,
  segmentKey,
  segmentPrefix,
} from './keys.ts';
export {
  DEFAULT_STATE_LAYOUT,
  NodeStateStore,
  type NodeStateStoreOptions,
  type SaveReport,
  type StateLayout,
  type StoredNode,
} from './lean-document.ts';
export { LOG_RECORD_TYPES, type LogRecord, type LogRecordType } from './log-record.ts';
export { type ChannelRecord, MemoryChannel, MemoryDeltaStore, MemoryStateStore } from './memory-ports.ts';
export { appendLog, DEFAULT_LOG_LAYOUT, type LogLayout, type LogView, readLog } from './metrics-log.ts';
export { decodeModelledDelta, encodeModelledDelta } from './modelled-codec.ts';
export { payloadCap, refusedPayload } from './payload-cap.ts';
export { type PrimaryCloudInput, primaryInvocation } from './primary-invocation.ts';
export { readPrimarySeen } from './primary-seen.ts';
export { SealedDeltaStore, type TakeBackListener, UnauthenticatedObjectError } from './sealed-delta-store.ts';
export {
  fetchPayload,
  type SecondaryCloudInput,
  type SecondaryInvocationResult,
  secondaryInvocation,
} from './secondary-invocation.ts';
export { ChunkCache, WARM_CHUNK_CACHE } from './state-chunks.ts';
export {
  decodePrimaryState,
  decodeSecondaryState,
  encodePrimaryState,
  encodeSecondaryState,
} from './state-codec.ts';
export {
  primaryStateStore,
  readPrimaryDocument,
  readSecondaryDocument,
  secondaryStateStore,
} from './status.ts';
