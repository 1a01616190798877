import { connect, createServer, type Server, type Socket } from 'node:net';

/** Which way bytes went: primary → secondary (migration stream) or back (return path). */
export type LinkDirection = 'p2s' | 's2p';

/** Bytes the meter forwarded in one read. */
export interface LinkChunk {
  /** When the meter read them, ms since the Unix epoch (sub-ms). */
  at: number;
  /** Direction. */
  dir: LinkDirection;
  /** How many, bytes. */
  bytes: number;
}

/** Wall clock, ms since the Unix epoch with sub-ms resolution (the traces' clock). */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * A TCP relay between the two QEMUs that counts the bytes of each direction with their time: QEMU 7.2
 * reports no RAM statistics during COLO, so bytes per checkpoint are measured on the link. One connection
 * (the migration stream and its return path share it).
 *
 * The relay's own sockets send at once (`TCP_NODELAY`): QEMU's sockets keep their Nagle, and a relay with
 * Nagle of its own added a second hold QEMU's link does not have. Its last small write of an epoch (the tail
 * of the RAM and the device state) waited for the secondary's delayed ACK, ~43 ms, in 69 of 396 steady
 * checkpoints of three kept runs (2026-12-01 04:57, 07:45, 08:05; QEMU's own socket held 41), which put a
 * size's median pause on the slow mode (07:45, 1024 pages: 96.8 ms; 57.7 ms without a hold):
 * scripts/pause-factors.ts. Runs before this change relayed with Nagle on. Its listening end acknowledges at
 * once where the run routes its address with `quickack` (relay-ack.ts), so QEMU's own Nagle does not wait either.
 */
export class LinkMeter {
  readonly chunks: LinkChunk[] = [];
  private server: Server | undefined;
  private readonly sockets: Socket[] = [];

  /**
   * Listens on a free port of `host` (a loopback address; relay-ack.ts says why not always 127.0.0.1) and
   * relays to 127.0.0.1:`targetPort`; returns the port it took.
   */
  async start(targetPort: number, host = '127.0.0.1'): Promise<number> {
    this.server = createServer((inbound) => {
      const outbound = connect(targetPort, '127.0.0.1');
      inbound.setNoDelay(true);
      outbound.setNoDelay(true);
      this.sockets.push(inbound, outbound);
      this.pipe(inbound, outbound, 'p2s');
      this.pipe(outbound, inbound, 's2p');
    });
    const server = this.server;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(0, host, () => res());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('link meter: no TCP port');
    return address.port;
  }

  /** Stops relaying and closes every connection. */
  stop(): void {
    for (const s of this.sockets) s.destroy();
    this.server?.close();
  }

  private pipe(from: Socket, to: Socket, dir: LinkDirection): void {
    from.on('data', (b: Buffer) => {
      this.chunks.push({ at: wallMs(), dir, bytes: b.length });
      if (!to.write(b)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.on('error', () => to.destroy());
    from.on('close', () => to.destroy());
  }
}

/** A TCP port of 127.0.0.1 that was free a moment ago (for QEMU's `-incoming`). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res());
  });
  const address = server.address();
  await new Promise((r) => server.close(r));
  if (address === null || typeof address === 'string') throw new Error('no free TCP port');
  return address.port;
}
