/**
 * Schemas of the engine's node states as they come out of a decoded container: every field, strict (an
 * unknown field is an error, so a state written by a newer engine is refused rather than half-read), and
 * a check that every per-page array matches the guest size.
 */
import { z } from 'zod';
import { memoryDigestProblem } from '../../engine/memory/digest.ts';
import { DirtyBitmap } from '../../engine/memory/dirty-bitmap.ts';
import { PageVersionMap } from '../../engine/memory/page-version-map.ts';
import { REGION_PAGES } from '../../engine/policy/adaptive.ts';
import type { PrimaryState } from '../../engine/primary/state.ts';
import type { SecondaryState } from '../../engine/secondary/state.ts';

/** Any number, including NaN and ±∞ (the engine uses them for "not yet" and "never"). */
export const anyNumber = z.custom<number>((v) => typeof v === 'number', 'expected a number');
/** A non-negative safe integer. */
export const count = z.int().min(0);

/**
 * A transaction's memory digest: '' before the stop, else this build's format. A state written by a build
 * with the older whole-image digest is refused by name: its digest cannot match this build's commits.
 */
const memoryDigestText = z.string().superRefine((d, ctx) => {
  const problem = d === '' ? undefined : memoryDigestProblem(d);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const trigger = z.enum(['timer', 'miscompare', 'policy', 'request']);
const bitmap = z.instanceof(DirtyBitmap);

const roundState = z.strictObject({
  round: count,
  pages: z.array(count),
  sendId: count,
  pendingBytes: anyNumber,
  startedAt: anyNumber,
  bytes: anyNumber,
  done: z.boolean(),
});

const transactionState = z.strictObject({
  trigger,
  coalesced: count,
  requestedAt: anyNumber,
  replyAt: anyNumber,
  stopAt: anyNumber,
  ramStartAt: anyNumber,
  ramDoneAt: anyNumber,
  deviceDoneAt: anyNumber,
  receivedAt: anyNumber,
  ramSendId: count,
  deviceSendId: count,
  ramRest: z.array(count),
  pages: count,
  zeroPages: count,
  bytes: anyNumber,
  resentPages: count,
  digest: memoryDigestText,
  deadline: anyNumber,
});

/** Schema of {@link PrimaryState}. */
export const primaryStateSchema: z.ZodType<PrimaryState> = z.strictObject({
  phase: z.enum([
    'wait-ready',
    'running',
    'ckpt-wait-reply',
    'ckpt-wait-received',
    'ckpt-wait-loaded',
    'claiming',
    'exited',
    'fenced',
  ]),
  vmRunning: z.boolean(),
  epoch: count,
  outSeq: count,
  inSeq: count,
  nextSendId: count,
  versions: z.instanceof(Uint32Array),
  dirty: bitmap,
  bgCurrent: bitmap,
  touched: bitmap,
  guestTime: anyNumber,
  lastNow: anyNumber,
  miscompareK: count,
  miscompareAt: anyNumber,
  nextCheckpointAt: anyNumber,
  nextPendingCheckAt: anyNumber,
  nextHeartbeatAt: anyNumber,
  rounds: z.array(roundState),
  passRest: z.array(count),
  recheckAfterRound: z.boolean(),
  checkpointDue: trigger.nullable(),
  coalesced: count,
  wastedPages: count,
  wastedBytes: anyNumber,
  txn: transactionState.nullable(),
  estimates: z.strictObject({ bandwidth: anyNumber, fixedCost: anyNumber, redirty: anyNumber }),
  regions: z.strictObject({
    rate: z.instanceof(Uint32Array),
    sweepAt: z.instanceof(Uint32Array),
    sweepGap: z.instanceof(Uint32Array),
    sampledAt: anyNumber,
    samples: count,
    // A state saved before the scale existed has its rates at their true values: a scale of 1.
    rateScale: z
      .custom<number>(
        (v) => typeof v === 'number' && v > 0 && v <= 1,
        'the rate scale must be a number in (0, 1]: every stored rate is multiplied by it',
      )
      .optional()
      .transform((v) => v ?? 1),
  }),
  claimReason: z.string().max(4096),
  stopped: z.literal(true).optional(),
});

/**
 * A secondary state as the schema accepts it: the colo cache as the engine holds it, or as a container
 * decodes it (a `Map`); `checkSecondaryState` turns the latter into a {@link PageVersionMap} once its pages
 * are known to fit the guest.
 */
export type DecodedSecondaryState = Omit<SecondaryState, 'cache'> & {
  cache: PageVersionMap | Map<number, number>;
};

/** Schema of {@link SecondaryState} (the cache as {@link DecodedSecondaryState} allows). */
export const secondaryStateSchema: z.ZodType<DecodedSecondaryState> = z.strictObject({
  phase: z.enum([
    'starting',
    'idle',
    'bg-loading',
    'ckpt-wait-vmstate-send',
    'ckpt-wait-ram',
    'ckpt-wait-vmstate-size',
    'ckpt-wait-device',
    'committing',
    'claiming',
    'failed-over',
    'fenced',
  ]),
  vmRunning: z.boolean(),
  epoch: count,
  inSeq: count,
  outSeq: count,
  committed: z.instanceof(Uint32Array),
  running: z.instanceof(Uint32Array),
  svmDirty: bitmap,
  cache: z.union([z.instanceof(PageVersionMap), z.map(count, count)]),
  appliedRounds: z.array(count),
  loadingRound: count,
  loadingSeq: count,
  deviceSize: count,
  deadline: anyNumber,
  stagedAt: anyNumber,
  commitDoneAt: anyNumber,
  applyMemMs: anyNumber,
  applyDevMs: anyNumber,
  lastHeardAt: anyNumber,
  // Documents saved before heartbeats left the sequence lack it; their `inSeq > 0` still arms the watchdog.
  heard: z.boolean().default(false),
  // Documents saved before heartbeats carried a sealed send time lack it: none admitted yet.
  lastBeat: z.int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  failoverDeferred: z.boolean(),
  guestTime: anyNumber,
  lastNow: anyNumber,
  committedEpoch: count,
  claimReason: z.string().max(4096),
});

/** Problems with the per-page sizes of a primary state of a guest of `pages` pages (empty when none). */
export function primaryShapeProblems(s: PrimaryState, pages: number): string[] {
  const out: string[] = [];
  if (s.versions.length !== pages) out.push(`versions has ${s.versions.length} pages`);
  for (const [name, b] of [
    ['dirty', s.dirty],
    ['bgCurrent', s.bgCurrent],
    ['touched', s.touched],
  ] as const) {
    if (b.size !== pages) out.push(`${name} covers ${b.size} pages`);
  }
  const regions = Math.ceil(pages / REGION_PAGES);
  for (const [name, a] of [
    ['regions.rate', s.regions.rate],
    ['regions.sweepAt', s.regions.sweepAt],
    ['regions.sweepGap', s.regions.sweepGap],
  ] as const) {
    if (a.length !== regions) out.push(`${name} covers ${a.length} regions`);
  }
  for (const r of s.rounds)
    if (r.pages.some((p) => p >= pages)) out.push(`round ${r.round} names a page ≥ ${pages}`);
  if (s.passRest.some((p) => p >= pages)) out.push(`the background pass names a page ≥ ${pages}`);
  if (s.txn?.ramRest.some((p) => p >= pages)) out.push(`the checkpoint's RAM names a page ≥ ${pages}`);
  return out;
}

/** Problems with the per-page sizes of a secondary state of a guest of `pages` pages (empty when none). */
export function secondaryShapeProblems(s: DecodedSecondaryState, pages: number): string[] {
  const out: string[] = [];
  if (s.committed.length !== pages) out.push(`committed has ${s.committed.length} pages`);
  if (s.running.length !== pages) out.push(`running has ${s.running.length} pages`);
  if (s.svmDirty.size !== pages) out.push(`svmDirty covers ${s.svmDirty.size} pages`);
  for (const p of s.cache.keys()) {
    if (p >= pages) {
      out.push(`cache holds page ${p}`);
      break;
    }
  }
  return out;
}
