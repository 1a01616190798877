/**
 * Bytes for a modelled page delta (payload mode `modelled`: page versions only, no page bytes), so it can
 * sit in a delta store like a real object. Container kind `modelled-delta` (see container.ts).
 */
import { z } from 'zod';
import type { PageDelta } from '../../engine/protocol/delta.ts';
import { decodeContainer, encodeContainer } from './container.ts';
import { StateDocumentError } from './errors.ts';
import { count } from './state-schema.ts';
import { prettify } from './zod-errors.ts';

const schema = z.strictObject({
  vmId: z.string(),
  epoch: count,
  seq: count,
  kind: z.enum(['background-ram', 'checkpoint-ram', 'device-state']),
  pages: z.instanceof(Uint32Array),
  versions: z.instanceof(Uint32Array),
});

/** Encodes a modelled delta (its page bytes are not built; only indices and versions are kept). */
export function encodeModelledDelta(delta: PageDelta): Uint8Array {
  return encodeContainer('modelled-delta', {
    vmId: delta.vmId,
    epoch: delta.epoch,
    seq: delta.seq,
    kind: delta.kind,
    pages: Uint32Array.from(delta.pages, (p) => p.index),
    versions: Uint32Array.from(delta.pages, (p) => p.version),
  });
}

/**
 * Decodes a modelled delta (`modelled: true`, every page `data: null`, empty blob).
 *
 * @throws StateDocumentError when the bytes are not a modelled delta.
 */
export function decodeModelledDelta(bytes: Uint8Array, what = 'modelled delta'): PageDelta {
  const r = schema.safeParse(decodeContainer(bytes, 'modelled-delta', what));
  if (!r.success) throw new StateDocumentError(`${what}: ${prettify(r.error)}`);
  const d = r.data;
  if (d.pages.length !== d.versions.length) {
    throw new StateDocumentError(`${what}: ${d.pages.length} pages but ${d.versions.length} versions`);
  }
  return {
    vmId: d.vmId,
    epoch: d.epoch,
    seq: d.seq,
    kind: d.kind,
    pages: Array.from(d.pages, (index, i) => ({ index, version: d.versions[i] as number, data: null })),
    blob: new Uint8Array(0),
    modelled: true,
  };
}
