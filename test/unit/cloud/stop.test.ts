import { describe, expect, test } from 'vitest';
import { markFailedOver } from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from './harness.ts';

/**
 * A stop (the control flag with no fence owner: `colo run`'s end, `colo vm remove`) ends the tick chains;
 * the cloud runtime must also keep the engine from starting anything new, or checkpoints that overrun their
 * delay chain on through their own messages with no timer at all (seen on a loaded LocalStack: a stopped VM
 * made 15 more checkpoints and never went quiet).
 */
describe('a stopped VM goes quiet', () => {
  const params = testParams({ policy: 'none', checkpointDelayMs: 200, checkpointTimeoutMs: 60_000 });

  /** Runs until a checkpoint is in flight; then every hop of a message takes `hopMs` (> the delay). */
  async function overrunning(stop: boolean, hopMs: number, hops: number) {
    const pair = new CloudPair(params);
    await pair.start();
    // Ticks only, no deliveries, until the primary has sent its first checkpoint-request.
    for (let i = 0; i < 1000 && (await pair.primaryDoc())?.state.phase === 'running'; i++) {
      pair.clock.advance(10);
      const doc = await pair.primaryDoc();
      if (doc && doc.wakeAt <= pair.clock.now()) await pair.primary([{ type: 'tick' }]);
    }
    expect((await pair.primaryDoc())?.state.phase).toMatch(/^ckpt-/);
    if (stop) await markFailedOver(pair.state, params.vmId, 'stopped by the test', pair.clock.now());
    // No ticks from here on (the chains ended): only messages, each arriving hopMs after it was sent.
    let delivered = 0;
    for (let i = 0; i < hops && (pair.p2s.size > 0 || pair.s2p.size > 0); i++) {
      pair.clock.advance(hopMs);
      if (await pair.toSecondary()) delivered++;
      pair.clock.advance(hopMs);
      if (await pair.toPrimary()) delivered++;
    }
    return { pair, delivered, busy: pair.p2s.size > 0 || pair.s2p.size > 0 };
  }

  test('without a stop, overrunning checkpoints carry the VM on with no timer (what the stop must end)', async () => {
    const { pair, busy } = await overrunning(false, 150, 60);
    expect(busy).toBe(true);
    expect((await pair.log('primary')).filter((r) => r.type === 'checkpoint').length).toBeGreaterThan(5);
  });

  test('stopped mid-checkpoint: that checkpoint completes, no other starts, both channels empty', async () => {
    const { pair, busy } = await overrunning(true, 150, 60);
    expect(busy).toBe(false);
    const p = await pair.primaryDoc();
    expect(p?.state.stopped).toBe(true);
    expect(p?.state.phase).toBe('running');
    const checkpoints = (await pair.log('primary')).filter((r) => r.type === 'checkpoint');
    const commits = (await pair.log('secondary')).filter((r) => r.type === 'commit');
    expect(checkpoints).toHaveLength(1);
    expect(commits.map((r) => (r.data as { epoch: number }).epoch)).toEqual(
      checkpoints.map((r) => (r.data as { epoch: number }).epoch),
    );
    // A tick long after (a late one of a chain) starts nothing either.
    pair.clock.advance(10_000);
    await pair.primary([{ type: 'tick' }]);
    expect(pair.p2s.size).toBe(0);
  });
});
