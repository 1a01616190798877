import { connect, createServer, type Server, Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LinkMeter } from '../../../src/fidelity/link-meter.ts';

/** Listens on 127.0.0.1 and hands every byte it receives to `onData`; resolves with its port. */
async function sink(onData: (b: Buffer) => void): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.on('data', onData));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}

describe('the link meter', () => {
  afterEach(() => vi.restoreAllMocks());

  it('relays and counts the bytes with Nagle off on both of its own sockets, not on the peers', async () => {
    const noDelay = vi.spyOn(Socket.prototype, 'setNoDelay');
    let received = 0;
    let arrived: () => void = () => {};
    const all = new Promise<void>((res) => {
      arrived = res;
    });
    const target = await sink((b) => {
      received += b.length;
      if (received === 5) arrived();
    });
    const meter = new LinkMeter();
    const port = await meter.start(target.port);
    const client = connect(port, '127.0.0.1');
    client.write('hello');
    await all;
    expect(meter.chunks.filter((c) => c.dir === 'p2s').reduce((a, c) => a + c.bytes, 0)).toBe(5);
    const relays = new Set(noDelay.mock.contexts.filter((_, i) => noDelay.mock.calls[i]?.[0] === true));
    expect(relays.size).toBe(2);
    expect(relays.has(client)).toBe(false);
    client.destroy();
    meter.stop();
    target.server.close();
  });

  it('listens on the loopback address it is given and relays to 127.0.0.1', async () => {
    let received = '';
    let arrived: () => void = () => {};
    const all = new Promise<void>((res) => {
      arrived = res;
    });
    const target = await sink((b) => {
      received += b.toString();
      if (received === 'ping') arrived();
    });
    const meter = new LinkMeter();
    // Any 127/8 address is local on Linux without a route of its own.
    const port = await meter.start(target.port, '127.0.0.9');
    await expect(
      new Promise((res, rej) => connect(port, '127.0.0.1').once('connect', res).once('error', rej)),
    ).rejects.toThrow(/ECONNREFUSED/);
    const client = connect(port, '127.0.0.9');
    client.write('ping');
    await all;
    expect(received).toBe('ping');
    client.destroy();
    meter.stop();
    target.server.close();
  });
});
