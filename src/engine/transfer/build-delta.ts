import { codec } from '../codec.ts';
import type { Payload } from '../effects.ts';
import { fillPages, zeroClasses } from '../memory/page-content.ts';
import { type ColoParams, MESSAGE_WIRE_BYTES, ramWireBytes } from '../params.ts';
import { type DeltaPage, PAGE_SIZE, type PageDelta } from '../protocol/delta.ts';
import type { ClaimCheck, DeltaKind } from '../protocol/messages.ts';
import { columnarModelledDelta } from '../protocol/page-columns.ts';
import { deviceStateBytes } from './device-state.ts';

/** SHA-256 placeholder in claims of modelled payloads (nothing is encoded, so nothing to hash). */
export const MODELLED_SHA256 = '0'.repeat(64);

/** A delta ready to send: its claim check, the payload to store and its modelled cost. */
export interface BuiltDelta {
  /** Claim check for the `delta` message. */
  claim: ClaimCheck;
  /** What to store under the claim's key. */
  payload: Payload;
  /** Modelled link bytes. */
  wireBytes: number;
  /** Zero pages among the pages, pages. */
  zeroPages: number;
}

/** Delta-store key of an object: `<vmId>/<epoch>/<seq>-<kind>`. */
export function deltaKey(vmId: string, epoch: number, seq: number, kind: DeltaKind): string {
  return `${vmId}/${epoch}/${seq}-${kind}`;
}

/**
 * Builds the RAM delta for `pages` (ascending) at their current `versions`. Materialised mode builds and
 * encodes the real page bytes; modelled mode keeps versions only and counts the bytes.
 */
export function buildRamDelta(
  params: ColoParams,
  versions: Uint32Array,
  pages: readonly number[],
  kind: 'background-ram' | 'checkpoint-ram',
  epoch: number,
  seq: number,
): BuiltDelta {
  if (params.payload === 'modelled') return buildModelled(params, versions, pages, kind, epoch, seq);
  const zeroes = zeroClasses(params);
  const { seed, contentMix } = params;
  let zeroPages = 0;
  for (let i = 0; i < pages.length; i++) {
    const index = pages[i] ?? 0;
    if (zeroes.isZero(index, versions[index] ?? 0)) zeroPages++;
  }
  // Every non-zero page is generated into one scratch buffer, reused from delta to delta (the encoder
  // copies the pages into the object before this returns, and nothing else keeps them), in one batch.
  const filled = pages.length - zeroPages;
  const flat = scratch(filled * PAGE_SIZE);
  const filledIndex = new Uint32Array(filled);
  const filledVersion = new Uint32Array(filled);
  let at = 0;
  const deltaPages: DeltaPage[] = new Array(pages.length);
  for (let i = 0; i < pages.length; i++) {
    const index = pages[i] ?? 0;
    const version = versions[index] ?? 0;
    let data: Uint8Array | null = null;
    if (!zeroes.isZero(index, version)) {
      data = flat.subarray(at * PAGE_SIZE, (at + 1) * PAGE_SIZE);
      filledIndex[at] = index;
      filledVersion[at] = version;
      at++;
    }
    deltaPages[i] = { index, version, data };
  }
  fillPages(flat, seed, filledIndex, filledVersion, contentMix);
  const delta: PageDelta = {
    vmId: params.vmId,
    epoch,
    seq,
    kind,
    pages: deltaPages,
    blob: new Uint8Array(0),
  };
  const wireBytes = ramWireBytes(pages.length, zeroPages);
  return finish(delta, false, wireBytes, zeroPages);
}

let scratchBuffer = new Uint8Array(0);

/** The scratch page buffer, at least `bytes` long (grown, never shrunk: one delta object's pages at most). */
function scratch(bytes: number): Uint8Array {
  if (scratchBuffer.byteLength < bytes) scratchBuffer = new Uint8Array(bytes);
  return scratchBuffer;
}

/** A modelled RAM delta: indices and versions in two typed arrays (see protocol/page-columns.ts). */
function buildModelled(
  params: ColoParams,
  versions: Uint32Array,
  pages: readonly number[],
  kind: 'background-ram' | 'checkpoint-ram',
  epoch: number,
  seq: number,
): BuiltDelta {
  const zeroes = zeroClasses(params);
  const n = pages.length;
  const index = new Uint32Array(n);
  const version = new Uint32Array(n);
  let zeroPages = 0;
  for (let i = 0; i < n; i++) {
    const p = pages[i] ?? 0;
    const v = versions[p] ?? 0;
    index[i] = p;
    version[i] = v;
    if (zeroes.isZero(p, v)) zeroPages++;
  }
  const wireBytes = ramWireBytes(n, zeroPages);
  const key = deltaKey(params.vmId, epoch, seq, kind);
  return {
    claim: { key, size: wireBytes, sha256: MODELLED_SHA256 },
    payload: {
      key,
      delta: columnarModelledDelta({ vmId: params.vmId, epoch, seq, kind }, { index, version }),
    },
    wireBytes,
    zeroPages,
  };
}

/** Builds the device-state object of `epoch` (size from the parameters). */
export function buildDeviceState(params: ColoParams, epoch: number, seq: number): BuiltDelta {
  const modelled = params.payload === 'modelled';
  const blob = modelled ? new Uint8Array(0) : deviceStateBytes(params.seed, epoch, params.deviceStateBytes);
  const delta: PageDelta = { vmId: params.vmId, epoch, seq, kind: 'device-state', pages: [], blob };
  return finish(delta, modelled, MESSAGE_WIRE_BYTES + params.deviceStateBytes, 0);
}

function finish(delta: PageDelta, modelled: boolean, wireBytes: number, zeroPages: number): BuiltDelta {
  const key = deltaKey(delta.vmId, delta.epoch, delta.seq, delta.kind);
  if (modelled) {
    return {
      claim: { key, size: wireBytes, sha256: MODELLED_SHA256 },
      payload: { key, delta: { ...delta, modelled: true } },
      wireBytes,
      zeroPages,
    };
  }
  const { bytes, sha256 } = codec().encodeDelta(delta);
  return {
    claim: { key, size: bytes.byteLength, sha256 },
    payload: { key, bytes },
    wireBytes,
    zeroPages,
  };
}
