/**
 * The test side of the fault hook (lambda/handlers/common/test-hooks.ts): arms faults on a deployed stack
 * built with `testFaults: allow` by writing the VM's armed-faults document, and reads back which faults
 * fired and which channel records the consumers copied. Used by the LocalStack fault tests and the
 * LocalStack soak.
 */
import {
  type ArmedFaults,
  type ArmedFaultsInput,
  type CapturedRecord,
  type CapturedRecords,
  encodeArmedFaults,
  type FiredFault,
  parseArmedFaults,
  testCapturedKey,
  testFaultsKey,
} from '../../../lambda/handlers/common/test-hooks.ts';
import type { StateStore } from '../../engine/ports.ts';

/** Compare-and-swap attempts of one arm (the hook appends to the same document while faults fire). */
const ARM_ATTEMPTS = 10;

/** Arms faults on one VM of a deployed stack and reads what fired. */
export class ArmedFaultsClient {
  constructor(
    private readonly state: StateStore,
    private readonly vmId: string,
  ) {}

  /**
   * Replaces the armed-faults document (compare-and-swap on whatever is there; `fired` starts empty).
   *
   * @returns When it was armed, ms since the Unix epoch.
   * @throws the last conflict after {@link ARM_ATTEMPTS} attempts.
   */
  async arm(faults: ArmedFaultsInput): Promise<number> {
    const key = testFaultsKey(this.vmId);
    for (let attempt = 1; ; attempt++) {
      const d = await this.state.load(key);
      try {
        await this.state.save(key, encodeArmedFaults(faults), d?.etag);
        return Date.now();
      } catch (e) {
        if (attempt >= ARM_ATTEMPTS) throw e;
      }
    }
  }

  /** Disarms everything (an empty document). */
  async disarm(): Promise<void> {
    await this.arm({});
  }

  /** The armed-faults document as it is now. @throws Error when nothing was ever armed. */
  async armed(): Promise<ArmedFaults> {
    const d = await this.state.load(testFaultsKey(this.vmId));
    if (!d) throw new Error(`nothing armed on ${this.vmId}`);
    return parseArmedFaults(d.value, 'test-faults.json');
  }

  /** The faults of one name (e.g. `put:checkpoint-ram`) that fired since the last arm, oldest first. */
  async fired(fault: string): Promise<FiredFault[]> {
    return (await this.armed()).fired.filter((x) => x.fault === fault);
  }

  /** The records the channel consumers copied while `captureUntil` was in the future. */
  async captured(): Promise<CapturedRecord[]> {
    const d = await this.state.load(testCapturedKey(this.vmId));
    return d ? (JSON.parse(Buffer.from(d.value).toString('utf8')) as CapturedRecords).records : [];
  }
}
