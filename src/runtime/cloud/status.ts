/** Reading a node's document, for clients and tests (the log reader is in metrics-log.ts). */
import type { ColoParams } from '../../engine/params.ts';
import type { StateStore } from '../../engine/ports.ts';
import {
  decodePrimaryDocument,
  decodeSecondaryDocument,
  type PrimaryDocument,
  type SecondaryDocument,
} from './document.ts';
import { nodeStateKey } from './keys.ts';

/** The primary's document, or undefined before its first invocation. @throws StateDocumentError */
export async function readPrimaryDocument(
  store: StateStore,
  params: ColoParams,
): Promise<PrimaryDocument | undefined> {
  const key = nodeStateKey(params.vmId, 'primary');
  const d = await store.load(key);
  return d ? decodePrimaryDocument(d.value, params, key) : undefined;
}

/** The secondary's document, or undefined before its first invocation. @throws StateDocumentError */
export async function readSecondaryDocument(
  store: StateStore,
  params: ColoParams,
): Promise<SecondaryDocument | undefined> {
  const key = nodeStateKey(params.vmId, 'secondary');
  const d = await store.load(key);
  return d ? decodeSecondaryDocument(d.value, params, key) : undefined;
}
