/** Reading a node's document, for clients and tests (the log reader is in metrics-log.ts). */
import { type ColoParams, pageCount } from '../../engine/params.ts';
import type { StateStore } from '../../engine/ports.ts';
import type { PrimaryState } from '../../engine/primary/state.ts';
import type { SecondaryState } from '../../engine/secondary/state.ts';
import {
  decodePrimaryDocument,
  decodeSecondaryDocument,
  type PrimaryDocument,
  type SecondaryDocument,
} from './document.ts';
import { NodeStateStore, type NodeStateStoreOptions } from './lean-document.ts';
import { PRIMARY_PAGED, SECONDARY_PAGED } from './paged-fields.ts';
import { checkPrimaryState, checkSecondaryState } from './state-codec.ts';

/** The primary's document store (either format read; see lean-document.ts). */
export function primaryStateStore(
  store: StateStore,
  params: ColoParams,
  options: NodeStateStoreOptions = {},
): NodeStateStore<PrimaryState> {
  const spec = { node: 'primary', fields: PRIMARY_PAGED, check: checkPrimaryState } as const;
  return new NodeStateStore(store, spec, params, pageCount(params), options);
}

/** The secondary's document store (either format read; see lean-document.ts). */
export function secondaryStateStore(
  store: StateStore,
  params: ColoParams,
  options: NodeStateStoreOptions = {},
): NodeStateStore<SecondaryState> {
  const spec = { node: 'secondary', fields: SECONDARY_PAGED, check: checkSecondaryState } as const;
  return new NodeStateStore(store, spec, params, pageCount(params), options);
}

/** The primary's document, or undefined before its first invocation. @throws StateDocumentError */
export async function readPrimaryDocument(
  store: StateStore,
  params: ColoParams,
  options: NodeStateStoreOptions = {},
): Promise<PrimaryDocument | undefined> {
  return (await primaryStateStore(store, params, options).load(decodePrimaryDocument))?.doc;
}

/** The secondary's document, or undefined before its first invocation. @throws StateDocumentError */
export async function readSecondaryDocument(
  store: StateStore,
  params: ColoParams,
  options: NodeStateStoreOptions = {},
): Promise<SecondaryDocument | undefined> {
  return (await secondaryStateStore(store, params, options).load(decodeSecondaryDocument))?.doc;
}
