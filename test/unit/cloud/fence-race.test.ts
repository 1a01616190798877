/**
 * The fence under a real race: two sides claim the VM at the same moment, their loads and compare-and-swaps
 * of the control document interleaved. Exactly one side may own the VM; the other must get the winner's
 * answer and stop — never overwrite the owner (a split brain: both sides running the VM).
 */

import { describe, expect, test } from 'vitest';
import type { FenceOwner } from '../../../src/engine/effects.ts';
import { StateConflictError, type StateStore, type Versioned } from '../../../src/engine/ports.ts';
import { heartbeatSlackMs } from '../../../src/engine/secondary/heartbeat.ts';
import {
  type CloudPorts,
  claimFence,
  controlKey,
  MemoryStateStore,
  primaryInvocation,
  readControl,
  readPrimaryDocument,
  readSecondaryDocument,
  secondaryInvocation,
} from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from './harness.ts';

/**
 * A state store whose operations on one key meet in pairs: an operation on `key` waits until a second one
 * is waiting too, then both run, in arrival order — so two callers load the same version, then both
 * compare-and-swap against it. An operation with no partner goes alone once nothing else can run (every
 * port here is in memory: by the next macrotask the other caller is either waiting or done).
 */
class PairingStore implements StateStore {
  readonly #waiting: (() => void)[] = [];
  /** Operations on `key` in the order they ran, and whether a save lost its compare-and-swap. */
  readonly ops: string[] = [];

  constructor(
    readonly inner: MemoryStateStore,
    readonly key: string,
  ) {}

  async load(key: string): Promise<Versioned<Uint8Array> | undefined> {
    if (key !== this.key) return this.inner.load(key);
    await this.#meet();
    this.ops.push('load');
    return this.inner.load(key);
  }

  async save(key: string, value: Uint8Array, etag: string | undefined): Promise<string> {
    if (key !== this.key) return this.inner.save(key, value, etag);
    await this.#meet();
    try {
      const tag = await this.inner.save(key, value, etag);
      this.ops.push('save');
      return tag;
    } catch (e) {
      if (e instanceof StateConflictError) this.ops.push('save-conflict');
      throw e;
    }
  }

  #meet(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      if (this.#waiting.length >= 2) {
        for (const go of this.#waiting.splice(0)) go();
        return;
      }
      setImmediate(() => {
        const i = this.#waiting.indexOf(resolve);
        if (i >= 0) this.#waiting.splice(i, 1)[0]?.();
      });
    });
  }
}

const other = (side: FenceOwner): FenceOwner => (side === 'primary' ? 'secondary' : 'primary');

describe('claimFence: two sides at once', () => {
  for (const first of ['primary', 'secondary'] as const) {
    test(`both load, then both compare-and-swap (${first} first): one owner, the loser gets it`, async () => {
      const store = new PairingStore(new MemoryStateStore(), controlKey('vm-0'));
      const second = other(first);
      const [a, b] = await Promise.all([
        claimFence(store, 'vm-0', first, `${first} claims`, 100),
        claimFence(store, 'vm-0', second, `${second} claims`, 200),
      ]);
      // The race happened: both loaded the empty document, both wrote against it, one write lost.
      expect(store.ops.slice(0, 4)).toEqual(['load', 'load', 'save', 'save-conflict']);
      // The loser reloaded, found the owner, and wrote nothing.
      expect(store.ops.slice(4)).toEqual(['load']);
      expect([a, b]).toEqual([first, first]);
      expect(await readControl(store.inner, 'vm-0')).toEqual({
        failedOver: true,
        reason: `${first} claims`,
        at: 100,
        owner: first,
        resumedAt: null,
      });
    });
  }

  for (const winner of ['primary', 'secondary'] as const) {
    test(`a claim after the ${winner} won gets the ${winner} and changes nothing`, async () => {
      const store = new MemoryStateStore();
      expect(await claimFence(store, 'vm-0', winner, 'first', 100)).toBe(winner);
      const stored = Buffer.from(store.peek(controlKey('vm-0')) ?? []);
      const saves = store.stats.saves;
      expect(await claimFence(store, 'vm-0', other(winner), 'too late', 200)).toBe(winner);
      // The winner claiming again (a retried invocation) keeps it too.
      expect(await claimFence(store, 'vm-0', winner, 'again', 300)).toBe(winner);
      expect(store.stats.saves).toBe(saves);
      expect(Buffer.from(store.peek(controlKey('vm-0')) ?? []).equals(stored)).toBe(true);
    });
  }
});

describe('a primary and a secondary invocation that both claim, concurrently', () => {
  /**
   * The primary's checkpoint deadline and the secondary's heartbeat watchdog fall due at the same instant
   * (the link from the primary died right after its checkpoint-request); each side's timer tick then runs
   * at that instant, together, their reads and compare-and-swaps of the control document interleaved.
   */
  async function race(first: 'primary' | 'secondary') {
    // The watchdog is due at heard + slack + timeout = 750 + 3000 ms; the checkpoint deadline with it.
    const params = testParams({ policy: 'none', checkpointTimeoutMs: 2750, heartbeatTimeoutMs: 3000 });
    expect(heartbeatSlackMs(params)).toBe(750);
    const pair = new CloudPair(params);
    await pair.start();
    const startedAt = pair.clock.now();
    // The secondary hears the primary's first heartbeat: its watchdog is due at startedAt + 3750.
    await pair.toSecondary();
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(startedAt);
    pair.clock.advance(params.checkpointDelayMs);
    const tick = await pair.primary([{ type: 'tick' }]);
    expect(tick.document.state.phase).toBe('ckpt-wait-reply');
    // The link dies: the checkpoint-request never reaches the secondary.
    pair.p2s.take();
    const deadline = tick.document.state.txn?.deadline ?? Number.NaN;
    expect(deadline).toBe(startedAt + 3750);
    pair.clock.setTo(deadline);

    const store = new PairingStore(pair.state, controlKey(params.vmId));
    const ports = (channel: CloudPorts['channel']): CloudPorts => ({
      state: store,
      deltas: pair.deltas,
      channel,
    });
    const runPrimary = () =>
      primaryInvocation(ports(pair.p2s), params, pair.clock.now, [{ type: 'tick' }], pair.options);
    const runSecondary = () =>
      secondaryInvocation(ports(pair.s2p), params, pair.clock.now, [{ type: 'tick' }], pair.options);
    const [p, s] =
      first === 'primary'
        ? await Promise.all([runPrimary(), runSecondary()])
        : await Promise.all([runSecondary(), runPrimary()]).then(([b, a]) => [a, b] as const);
    // Both claimed, and their compare-and-swaps met on the same version: one of them lost.
    expect(p.effects.some((e) => e.type === 'claim')).toBe(true);
    expect(s.effects.some((e) => e.type === 'claim')).toBe(true);
    expect(store.ops).toContain('save-conflict');
    return { pair, params };
  }

  for (const first of ['primary', 'secondary'] as const) {
    test(`${first} first: exactly one owner, the other side fenced`, async () => {
      const { pair, params } = await race(first);
      const control = await readControl(pair.state, params.vmId);
      const owner = control.owner;
      const primary = await readPrimaryDocument(pair.state, params);
      const secondary = await readSecondaryDocument(pair.state, params);
      // Never both sides running the VM.
      expect(primary?.state.phase === 'exited' && secondary?.state.phase === 'failed-over').toBe(false);
      // The pairing store runs the first arrival's write first: the side whose tick started first wins.
      expect(owner).toBe(first);
      if (owner === 'primary') {
        expect(primary?.exit?.reason).toBe('error');
        expect(primary?.state.phase).toBe('exited');
        expect(secondary?.exit?.reason).toBe('fenced');
        expect(secondary?.state.phase).toBe('fenced');
        expect(secondary?.state.vmRunning).toBe(false);
      } else {
        expect(secondary?.exit?.reason).toBe('failover');
        expect(secondary?.state.phase).toBe('failed-over');
        expect(primary?.exit?.reason).toBe('fenced');
        expect(primary?.state.phase).toBe('fenced');
        expect(primary?.state.vmRunning).toBe(false);
      }
      // Later invocations of either side change nothing of it.
      pair.clock.advance(5000);
      await pair.primary([{ type: 'tick' }]);
      await pair.secondary([{ type: 'tick' }]);
      expect((await readControl(pair.state, params.vmId)).owner).toBe(owner);
    });
  }
});
