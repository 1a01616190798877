/** A modelled one-way network link: serialises sends at a bandwidth and adds a latency. */
export interface LinkParams {
  /** Bandwidth, bytes per second. */
  bandwidthBytesPerSec: number;
  /** One-way latency, ms. */
  latencyMs: number;
}

/** Default link: 10 Gbit/s, 0.1 ms one way (a data-centre LAN, the seed's setting). */
export const DEFAULT_LINK: LinkParams = { bandwidthBytesPerSec: 10e9 / 8, latencyMs: 0.1 };

/** One direction of the link. Sends leave in order; each occupies the link for bytes / bandwidth. */
export class Link {
  private freeAt = 0;
  /** Total bytes carried, bytes. */
  bytes = 0;

  /** Creates a link direction. */
  constructor(private readonly params: LinkParams) {}

  /**
   * Schedules a send of `bytes` that is ready at `readyAt` ms. Returns when its first byte leaves
   * (`start`), when its last byte leaves (`done`) and when it arrives at the far end (`arrives`), ms.
   */
  transmit(readyAt: number, bytes: number): { start: number; done: number; arrives: number } {
    const start = Math.max(readyAt, this.freeAt);
    const done = start + (bytes * 1000) / this.params.bandwidthBytesPerSec;
    this.freeAt = done;
    this.bytes += bytes;
    return { start, done, arrives: done + this.params.latencyMs };
  }

  /** One-way latency, ms. */
  get latencyMs(): number {
    return this.params.latencyMs;
  }
}
