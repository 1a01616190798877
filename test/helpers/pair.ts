import type { Effect, FenceOwner } from '../../src/engine/effects.ts';
import type { ColoParams } from '../../src/engine/params.ts';
import { type PrimaryInput, primaryStep } from '../../src/engine/primary/primary.ts';
import { createPrimary, type PrimaryState } from '../../src/engine/primary/state.ts';
import type { PageDelta } from '../../src/engine/protocol/delta.ts';
import type { ColoMessage } from '../../src/engine/protocol/messages.ts';
import { secondaryStep } from '../../src/engine/secondary/secondary.ts';
import { createSecondary, type SecondaryState } from '../../src/engine/secondary/state.ts';

/** A queued delivery between the two nodes. */
export interface Queued {
  to: 'primary' | 'secondary';
  message: ColoMessage;
  payload?: Uint8Array | PageDelta;
  /** For a primary send-complete. */
  sendId?: number;
  /** For a fencing decision handed to a node. */
  fence?: FenceOwner;
}

/**
 * A zero-latency harness around the two transition functions: messages are delivered in order, sends
 * complete right after they are handed over, and time jumps to the next wake when nothing is queued.
 * Lets unit tests stop the pair in any phase and poke one input in.
 */
export class Pair {
  readonly primary: PrimaryState;
  readonly secondary: SecondaryState;
  readonly queue: Queued[] = [];
  readonly effects: { node: 'primary' | 'secondary'; effect: Effect }[] = [];
  now = 0;
  /** The VM's control document: who won the fence (null while replicating). First claim wins. */
  control: FenceOwner | null = null;
  private wake = { primary: Number.POSITIVE_INFINITY, secondary: Number.POSITIVE_INFINITY };

  constructor(
    readonly params: ColoParams,
    start = true,
  ) {
    this.primary = createPrimary(params);
    this.secondary = createSecondary(params);
    if (start) this.record('secondary', secondaryStep(this.secondary, params, 0, { type: 'start' }));
  }

  /** Feeds effects back: sends become queued deliveries (and send-completes), wakes are remembered. */
  record(node: 'primary' | 'secondary', fx: Effect[]): Effect[] {
    for (const effect of fx) {
      this.effects.push({ node, effect });
      if (effect.type === 'wake') this.wake[node] = effect.at;
      if (effect.type === 'claim') {
        const first = this.control === null;
        this.control ??= effect.role;
        const owner = this.control;
        this.queue.push({ to: node, message: fenceCarrier, fence: owner });
        // The other side learns the decision too (in the cloud: from the control document, next time it runs).
        if (first)
          this.queue.push({
            to: node === 'primary' ? 'secondary' : 'primary',
            message: fenceCarrier,
            fence: owner,
          });
      }
      if (effect.type !== 'send') continue;
      const to = node === 'primary' ? 'secondary' : 'primary';
      const message = JSON.parse(JSON.stringify(effect.message)) as ColoMessage;
      const payload = effect.payload ? (effect.payload.bytes ?? effect.payload.delta) : undefined;
      this.queue.push(payload ? { to, message, payload } : { to, message });
      if (node === 'primary' && effect.sendId > 0) {
        this.queue.push({ to: 'primary', message, sendId: effect.sendId });
      }
    }
    return fx;
  }

  /** Delivers the next queued item, or advances time to the next wake and ticks. False if nothing can happen. */
  step(): boolean {
    const next = this.queue.shift();
    if (next) {
      this.deliver(next);
      return true;
    }
    const at = Math.min(this.wake.primary, this.wake.secondary);
    if (!Number.isFinite(at)) return false;
    this.now = Math.max(this.now, at);
    const node = this.wake.primary <= this.wake.secondary ? 'primary' : 'secondary';
    this.wake[node] = Number.POSITIVE_INFINITY;
    this.tick(node);
    return true;
  }

  /** Ticks one node at the current time. */
  tick(node: 'primary' | 'secondary'): Effect[] {
    return node === 'primary'
      ? this.record('primary', primaryStep(this.primary, this.params, this.now, { type: 'tick' }))
      : this.record('secondary', secondaryStep(this.secondary, this.params, this.now, { type: 'tick' }));
  }

  /** Delivers one queued item now. */
  deliver(q: Queued): Effect[] {
    if (q.fence !== undefined) {
      return q.to === 'primary'
        ? this.record(
            'primary',
            primaryStep(this.primary, this.params, this.now, { type: 'fence', owner: q.fence }),
          )
        : this.record(
            'secondary',
            secondaryStep(this.secondary, this.params, this.now, { type: 'fence', owner: q.fence }),
          );
    }
    if (q.to === 'primary') {
      const input: PrimaryInput =
        q.sendId !== undefined
          ? { type: 'send-complete', sendId: q.sendId }
          : { type: 'message', message: q.message };
      return this.record('primary', primaryStep(this.primary, this.params, this.now, input));
    }
    const input = q.payload
      ? { type: 'message' as const, message: q.message, payload: q.payload }
      : { type: 'message' as const, message: q.message };
    return this.record('secondary', secondaryStep(this.secondary, this.params, this.now, input));
  }

  /** Steps until `pred` holds (checked before each step). Throws if it never does. */
  until(pred: () => boolean, maxSteps = 100_000): this {
    for (let i = 0; i < maxSteps; i++) {
      if (pred()) return this;
      if (!this.step()) break;
    }
    if (!pred()) throw new Error('condition never reached');
    return this;
  }

  /** The next queued delivery to `to` (not yet delivered). */
  peek(to: 'primary' | 'secondary'): Queued | undefined {
    return this.queue.find((q) => q.to === to && q.sendId === undefined && q.fence === undefined);
  }
}

/** Placeholder message of a queued fencing decision (it carries no message). */
const fenceCarrier = { v: 1, vmId: '', epoch: 0, seq: 0, type: 'heartbeat', beat: 0 } as ColoMessage;
