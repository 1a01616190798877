import { describe, expect, it } from 'vitest';
import { RELAY_ADDRESS, relayRouteArgs, setUpRelayAck } from '../../../src/fidelity/relay-ack.ts';

describe("the link meter's quick acknowledgements", () => {
  it('routes its own loopback address with quickack, the primary taking it as its source', () => {
    // As `ip route` reads them: the host route of the meter's address in the local table, on lo.
    const route = (op: string) => `route ${op} local ${RELAY_ADDRESS}/32 dev lo table local`;
    expect(relayRouteArgs('replace').join(' ')).toBe(`${route('replace')} src ${RELAY_ADDRESS} quickack 1`);
    expect(relayRouteArgs('del').join(' ')).toBe(route('del'));
    // Not the host's own loopback address: nothing else on the machine routes through it.
    expect(RELAY_ADDRESS).not.toBe('127.0.0.1');
    expect(RELAY_ADDRESS.startsWith('127.')).toBe(true);
  });

  it('sets the route, hands out its address and removes the route exactly once', () => {
    const calls: string[][] = [];
    const relay = setUpRelayAck((cmd, args) => {
      calls.push([cmd, ...args]);
    });
    expect(relay).toMatchObject({ host: RELAY_ADDRESS, quickAck: true });
    expect(calls).toEqual([['ip', ...relayRouteArgs('replace')]]);
    relay.release();
    relay.release();
    expect(calls).toEqual([
      ['ip', ...relayRouteArgs('replace')],
      ['ip', ...relayRouteArgs('del')],
    ]);
  });

  it('falls back to 127.0.0.1 with delayed ACKs, saying why, where the route cannot be set', () => {
    const calls: string[][] = [];
    const relay = setUpRelayAck((cmd, args) => {
      calls.push([cmd, ...args]);
      throw new Error('RTNETLINK answers: Operation not permitted');
    });
    expect(relay).toMatchObject({ host: '127.0.0.1', quickAck: false });
    expect(relay.note).toContain('Operation not permitted');
    relay.release();
    expect(calls).toHaveLength(1);
  });

  it('a release whose route is already gone does not throw', () => {
    let n = 0;
    const relay = setUpRelayAck(() => {
      if (n++ > 0) throw new Error('RTNETLINK answers: No such process');
    });
    expect(() => relay.release()).not.toThrow();
  });
});
