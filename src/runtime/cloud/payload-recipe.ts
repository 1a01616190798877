/**
 * Outbox payloads: a send's page-delta object is not kept in the state document (it can be as large as
 * the guest); its recipe is — the pages and their versions — and a replay rebuilds the identical object
 * from it (page bytes are a pure function of seed, page and version; the encoding is deterministic), then
 * checks it against the claim check the message already carries.
 */
import { installCodec } from '../../engine/codec.ts';
import type { Payload } from '../../engine/effects.ts';
import type { ColoParams } from '../../engine/params.ts';
import { pageCount } from '../../engine/params.ts';
import type { DeltaMessage } from '../../engine/protocol/messages.ts';
import { buildDeviceState, buildRamDelta } from '../../engine/transfer/build-delta.ts';
import { HEADER_BYTES, OFF, PAGE_RECORD_BYTES } from '../../wire/delta-layout.ts';
import { WIRE_CODEC } from '../../wire/engine-codec.ts';
import { readRuns } from '../../wire/page-runs.ts';
import type { PayloadRecipe } from './document.ts';
import { OutboxRebuildError } from './errors.ts';
import { encodeModelledDelta } from './modelled-codec.ts';

installCodec(WIRE_CODEC);

const EMPTY = new Uint32Array(0);

/** Reads page indices and versions from an encoded page-delta object without touching page bytes. */
function pagesOfObject(bytes: Uint8Array): { pages: Uint32Array; versions: Uint32Array } {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vmIdBytes = view[OFF.vmIdLength] as number;
  const count = view.readUInt32LE(OFF.pageCount);
  const runBytes = view.readUInt32LE(OFF.runBytes);
  const runsAt = HEADER_BYTES + vmIdBytes;
  const pages = readRuns(bytes, runsAt, runsAt + runBytes, count, 2 ** 32);
  const recordsAt = runsAt + runBytes;
  const versions = new Uint32Array(count);
  for (let i = 0; i < count; i++) versions[i] = view.readUInt32LE(recordsAt + i * PAGE_RECORD_BYTES);
  return { pages, versions };
}

/** The recipe of a send's payload. */
export function recipeOf(payload: Payload, message: DeltaMessage): PayloadRecipe {
  if (message.kind === 'device-state') return { key: payload.key, pages: EMPTY, versions: EMPTY };
  if (payload.delta) {
    return {
      key: payload.key,
      pages: Uint32Array.from(payload.delta.pages, (p) => p.index),
      versions: Uint32Array.from(payload.delta.pages, (p) => p.version),
    };
  }
  if (!payload.bytes) throw new OutboxRebuildError(`payload ${payload.key} has neither bytes nor a delta`);
  return { key: payload.key, ...pagesOfObject(payload.bytes) };
}

/**
 * Rebuilds the payload a recipe describes and checks it against the message's claim check.
 *
 * @throws OutboxRebuildError when the rebuilt object is not the one the message claims.
 */
export function rebuildPayload(params: ColoParams, recipe: PayloadRecipe, message: DeltaMessage): Payload {
  let built: ReturnType<typeof buildDeviceState>;
  if (message.kind === 'device-state') built = buildDeviceState(params, message.epoch, message.seq);
  else {
    const versions = new Uint32Array(pageCount(params));
    for (let i = 0; i < recipe.pages.length; i++)
      versions[recipe.pages[i] as number] = recipe.versions[i] as number;
    built = buildRamDelta(
      params,
      versions,
      Array.from(recipe.pages),
      message.kind,
      message.epoch,
      message.seq,
    );
  }
  const want = message.claim;
  const got = built.claim;
  if (got.key !== want.key || got.size !== want.size || got.sha256 !== want.sha256) {
    throw new OutboxRebuildError(
      `rebuilt ${message.kind} object for seq ${message.seq} is ${got.key} (${got.size} bytes, ${got.sha256}); ` +
        `the message claims ${want.key} (${want.size} bytes, ${want.sha256})`,
    );
  }
  return built.payload;
}

/** The bytes to store for a payload (a modelled delta is encoded with the modelled codec). */
export function payloadBytes(payload: Payload): Uint8Array {
  if (payload.bytes) return payload.bytes;
  if (payload.delta) return encodeModelledDelta(payload.delta);
  throw new OutboxRebuildError(`payload ${payload.key} has neither bytes nor a delta`);
}
