/**
 * Two cloud-runtime nodes wired back to back on in-memory ports and a virtual clock: what Lambda, SQS and S3
 * do between invocations, done by hand, so tests can drive every step.
 */
import type { ColoParams } from '../../../src/engine/params.ts';
import type { PrimaryState } from '../../../src/engine/primary/state.ts';
import type { SecondaryState } from '../../../src/engine/secondary/state.ts';
import {
  type CloudPorts,
  type InvocationOptions,
  type InvocationResult,
  MemoryChannel,
  MemoryDeltaStore,
  MemoryStateStore,
  type PrimaryCloudInput,
  type PrimaryDocument,
  primaryInvocation,
  readLog,
  readPrimaryDocument,
  readSecondaryDocument,
  type SecondaryCloudInput,
  type SecondaryDocument,
  type SecondaryInvocationResult,
  secondaryInvocation,
  VirtualClock,
} from '../../../src/runtime/cloud/index.ts';

/** A primary and a secondary on shared in-memory ports. */
export class CloudPair {
  readonly clock: VirtualClock;
  readonly state = new MemoryStateStore();
  readonly deltas = new MemoryDeltaStore();
  readonly p2s: MemoryChannel;
  readonly s2p: MemoryChannel;
  readonly primaryPorts: CloudPorts;
  readonly secondaryPorts: CloudPorts;
  options: InvocationOptions;

  constructor(
    readonly params: ColoParams,
    start = 1_000_000,
  ) {
    this.clock = new VirtualClock(start);
    // Each record is stamped with its send time (SQS's SentTimestamp), which a heartbeat counts with.
    this.p2s = new MemoryChannel({ now: this.clock.now });
    this.s2p = new MemoryChannel({ now: this.clock.now });
    this.primaryPorts = { state: this.state, deltas: this.deltas, channel: this.p2s };
    this.secondaryPorts = { state: this.state, deltas: this.deltas, channel: this.s2p };
    this.options = { sleep: this.clock.sleep };
  }

  /** Runs one primary invocation. */
  primary(
    inputs: PrimaryCloudInput[],
    options: InvocationOptions = {},
  ): Promise<InvocationResult<PrimaryState>> {
    return primaryInvocation(this.primaryPorts, this.params, this.clock.now, inputs, {
      ...this.options,
      ...options,
    });
  }

  /** Runs one secondary invocation. */
  secondary(
    inputs: SecondaryCloudInput[],
    options: InvocationOptions = {},
  ): Promise<SecondaryInvocationResult> {
    return secondaryInvocation(this.secondaryPorts, this.params, this.clock.now, inputs, {
      ...this.options,
      ...options,
    });
  }

  /** Delivers up to `max` queued primary → secondary messages in one secondary invocation. */
  async toSecondary(max = 10): Promise<InvocationResult<SecondaryState> | undefined> {
    const batch = this.p2s.take(max);
    if (batch.length === 0) return undefined;
    return this.secondary(
      batch.map((r) =>
        r.sentAt === undefined
          ? { type: 'message', body: r.body }
          : { type: 'message', body: r.body, sentAt: r.sentAt },
      ),
    );
  }

  /** Delivers up to `max` queued secondary → primary messages in one primary invocation. */
  async toPrimary(max = 10): Promise<InvocationResult<PrimaryState> | undefined> {
    const batch = this.s2p.take(max);
    if (batch.length === 0) return undefined;
    return this.primary(batch.map((r) => ({ type: 'message', body: r.body })));
  }

  /** Delivers messages both ways until both channels are empty (at most `rounds` times). */
  async settle(rounds = 20): Promise<void> {
    for (let i = 0; i < rounds && (this.p2s.size > 0 || this.s2p.size > 0); i++) {
      await this.toSecondary();
      await this.toPrimary();
    }
  }

  /** Starts the secondary and lets the primary see `checkpoint-ready`. */
  async start(): Promise<void> {
    await this.secondary([{ type: 'start' }]);
    await this.toPrimary();
  }

  /**
   * Runs for `ms` of virtual time in steps of `stepMs`: each step ticks the nodes whose wake is due and
   * delivers every queued message.
   */
  async run(ms: number, stepMs = 10): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.clock.advance(stepMs);
      const p = await this.primaryDoc();
      if (p && p.wakeAt <= this.clock.now()) await this.primary([{ type: 'tick' }]);
      const s = await this.secondaryDoc();
      if (s && s.wakeAt <= this.clock.now()) await this.secondary([{ type: 'tick' }]);
      await this.settle();
    }
  }

  primaryDoc(): Promise<PrimaryDocument | undefined> {
    return readPrimaryDocument(this.state, this.params);
  }

  secondaryDoc(): Promise<SecondaryDocument | undefined> {
    return readSecondaryDocument(this.state, this.params);
  }

  /** Records of a node's log. */
  async log(node: 'primary' | 'secondary') {
    return (await readLog(this.state, this.params.vmId, node)).records;
  }
}
