import type { Effect } from '../effects.ts';
import { type ColoParams, maxDeltaPages } from '../params.ts';
import { checkAdaptive, SAMPLE_PERIOD_MS, sampleRegions } from '../policy/adaptive.ts';
import { decide, ewma } from '../policy/policy.ts';
import { PAGE_SIZE } from '../protocol/delta.ts';
import { trace } from '../trace.ts';
import { buildRamDelta } from '../transfer/build-delta.ts';
import { sendMessage } from './sends.ts';
import type { PrimaryState, RoundState } from './state.ts';

/** The round whose send has not completed yet, if any (at most one is ever in flight). */
export function roundInFlight(state: PrimaryState): RoundState | undefined {
  const last = state.rounds[state.rounds.length - 1];
  return last && !last.done && last.sendId !== 0 ? last : undefined;
}

/** Bytes sent in background rounds this epoch. */
export function backgroundBytesThisEpoch(state: PrimaryState): number {
  return state.rounds.reduce((sum, r) => sum + r.bytes, 0);
}

/**
 * The pending-RAM check (`colo_need_migrate_ram_background`). Runs the policy and starts a round, asks
 * for an early checkpoint, or does nothing. A check that fires while a round is in flight is coalesced
 * into one more check right after that round (the review's answer: at most one round in flight).
 * Returns true when the policy asked for a checkpoint.
 */
export function pendingCheck(state: PrimaryState, params: ColoParams, now: number, fx: Effect[]): boolean {
  const pendingBytes = state.dirty.count * PAGE_SIZE;
  fx.push(trace(now, 'colo_need_migrate_ram_background', { pending: pendingBytes }));
  if (state.phase !== 'running' || roundInFlight(state)) {
    if (state.phase === 'running') state.recheckAfterRound = true;
    if (state.phase === 'running' && params.policy === 'adaptive') {
      // Learning does not wait for the round: a sweep is timed to the sample that sees it.
      sampleRegions(state.regions, state.touched, state.guestTime);
      state.nextPendingCheckAt = Math.min(state.nextPendingCheckAt, now + SAMPLE_PERIOD_MS);
    }
    fx.push({ type: 'pending-check', record: { at: now, pendingBytes, decision: 'busy' } });
    return false;
  }
  const decision = decide(params, {
    now,
    pendingBytes,
    sentThisEpochBytes: backgroundBytesThisEpoch(state),
    nextCheckpointAt: state.nextCheckpointAt,
    estimates: state.estimates,
  });
  let started = false;
  if (decision === 'round') {
    started = sendPassChunk(state, params, now, fx, state.dirty.indices(), pendingBytes);
  } else if (params.policy === 'adaptive' && decision !== 'checkpoint') {
    const e = state.estimates;
    const apply = params.costs.applyBytesPerMs;
    const known = e.bandwidth > 0;
    const plan = checkAdaptive(state, params, now, known ? Math.min(e.bandwidth, apply) : apply, !known);
    if (plan.pages.length > 0) started = sendPassChunk(state, params, now, fx, plan.pages, pendingBytes);
    // Late phase with more qualifying pages than one round takes: check again as soon as this round has left.
    if (plan.late && plan.more && started) state.recheckAfterRound = true;
    // Late phase: check again as soon as this round has left, and soon in any case.
    state.nextPendingCheckAt = Math.max(now, Math.min(state.nextPendingCheckAt, plan.nextCheckAt));
  }
  if (params.policy !== 'adaptive') state.touched.reset();
  fx.push({
    type: 'pending-check',
    record: {
      at: now,
      pendingBytes,
      decision: started ? 'round' : decision === 'checkpoint' ? 'checkpoint' : 'none',
    },
  });
  return decision === 'checkpoint';
}

/**
 * Sends the next round of a background pass: at most one delta object's worth of `pass`; the rest is kept
 * in `passRest` and sent by {@link continuePass} as soon as this round has left. Takes `pass` over (every
 * caller hands a fresh list): the rest is moved to its front and kept as `passRest`, not copied.
 */
function sendPassChunk(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  fx: Effect[],
  pass: number[],
  pendingBytes: number,
): boolean {
  if (pass.length === 0) return false;
  const limit = maxDeltaPages(params);
  if (pass.length <= limit) {
    state.passRest = [];
    return sendRound(state, params, now, fx, pass, pendingBytes);
  }
  const pages = pass.slice(0, limit);
  const n = pass.length;
  for (let i = limit; i < n; i++) pass[i - limit] = pass[i] as number;
  pass.length = n - limit;
  state.passRest = pass;
  return sendRound(state, params, now, fx, pages, pendingBytes);
}

/** Starts round `state.rounds.length + 1` with `pages` (ascending, at most one delta object's worth). */
function sendRound(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  fx: Effect[],
  pages: number[],
  pendingBytes: number,
): boolean {
  const round = state.rounds.length + 1;
  sendMessage(state, params, now, fx, { type: 'migrate-ram-background', round });
  const seq = state.outSeq;
  const built = buildRamDelta(params, state.versions, pages, 'background-ram', state.epoch, seq);
  const sendId = sendMessage(
    state,
    params,
    now,
    fx,
    { type: 'delta', kind: 'background-ram', round, claim: built.claim },
    { payload: built.payload, wireBytes: built.wireBytes },
  );
  const { dirty, bgCurrent } = state;
  for (let i = 0; i < pages.length; i++) {
    const p = pages[i] as number;
    dirty.clear(p);
    bgCurrent.set(p);
  }
  state.rounds.push({
    round,
    pages,
    sendId,
    pendingBytes,
    startedAt: now,
    bytes: built.wireBytes,
    done: false,
  });
  return true;
}

/**
 * Continues the current background pass with its next round, if pages of it are still dirty.
 * Returns true if a round was started.
 */
export function continuePass(state: PrimaryState, params: ColoParams, now: number, fx: Effect[]): boolean {
  // One pass over the rest: its first round's worth of still-dirty pages go now, the other still-dirty pages
  // move to its front and stay (in place: the rest of a pass can be a whole guest's dirty set, and copying it
  // per round made a pass quadratic in its rounds).
  const { passRest, dirty } = state;
  const limit = maxDeltaPages(params);
  const pages: number[] = [];
  const n = passRest.length;
  let i = 0;
  for (; i < n && pages.length < limit; i++) {
    const p = passRest[i] as number;
    if (dirty.has(p)) pages.push(p);
  }
  let kept = 0;
  for (; i < n; i++) {
    const p = passRest[i] as number;
    if (dirty.has(p)) passRest[kept++] = p;
  }
  passRest.length = kept;
  if (pages.length === 0) {
    state.passRest = [];
    return false;
  }
  return sendRound(state, params, now, fx, pages, state.dirty.count * PAGE_SIZE);
}

/**
 * The round's delta left (or failed to leave). A failed send — the review's `qemu_file_get_error`
 * check — marks its pages dirty again so the checkpoint carries them.
 */
export function finishRound(
  state: PrimaryState,
  round: RoundState,
  now: number,
  error: string | undefined,
  fx: Effect[],
): void {
  round.done = true;
  // A round of at least 1 MiB measures the rate bytes leave at (smaller ones are latency-bound).
  if (error === undefined && round.bytes >= 1024 * 1024 && now > round.startedAt) {
    state.estimates.bandwidth = ewma(state.estimates.bandwidth, round.bytes / (now - round.startedAt));
  }
  if (error !== undefined) {
    for (const p of round.pages) {
      state.dirty.set(p);
      state.bgCurrent.clear(p);
    }
    round.pages = [];
    round.bytes = 0;
  }
  fx.push(
    trace(now, 'colo_background_round_end', {
      epoch: state.epoch,
      round: round.round,
      pages: round.pages.length,
      ok: error === undefined,
    }),
  );
  fx.push({
    type: 'round',
    record: {
      epoch: state.epoch,
      round: round.round,
      pendingBytes: round.pendingBytes,
      startedAt: round.startedAt,
      endedAt: now,
      pages: round.pages.length,
      bytes: round.bytes,
      ok: error === undefined,
    },
  });
}
