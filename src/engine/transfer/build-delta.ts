import { encodeDeltaWithClaim } from '../../wire/delta-codec.ts';
import type { Payload } from '../effects.ts';
import { pageBytes, zeroClasses } from '../memory/page-content.ts';
import { type ColoParams, MESSAGE_WIRE_BYTES, ramWireBytes } from '../params.ts';
import type { DeltaPage, PageDelta } from '../protocol/delta.ts';
import type { ClaimCheck, DeltaKind } from '../protocol/messages.ts';
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
  const { seed, contentMix } = params;
  const modelled = params.payload === 'modelled';
  const zeroes = zeroClasses(params);
  let zeroPages = 0;
  const deltaPages: DeltaPage[] = new Array(pages.length);
  for (let i = 0; i < pages.length; i++) {
    const index = pages[i] ?? 0;
    const version = versions[index] ?? 0;
    const zero = zeroes.isZero(index, version);
    if (zero) zeroPages++;
    deltaPages[i] = {
      index,
      version,
      data: zero || modelled ? null : pageBytes(seed, index, version, contentMix),
    };
  }
  const delta: PageDelta = {
    vmId: params.vmId,
    epoch,
    seq,
    kind,
    pages: deltaPages,
    blob: new Uint8Array(0),
  };
  const wireBytes = ramWireBytes(pages.length, zeroPages);
  return finish(delta, modelled, wireBytes, zeroPages);
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
  const { bytes, sha256 } = encodeDeltaWithClaim(delta);
  return {
    claim: { key, size: bytes.byteLength, sha256 },
    payload: { key, bytes },
    wireBytes,
    zeroPages,
  };
}
