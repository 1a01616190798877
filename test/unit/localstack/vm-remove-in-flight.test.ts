/**
 * What `colo vm remove` waits out before unregistering a VM (`inFlight`, vm-admin.ts): a node document that
 * does not decode holds nothing in flight, so the removal goes on instead of failing after the stop flag.
 */
import { describe, expect, it } from 'vitest';
import type { StateStore } from '../../../src/engine/ports.ts';
import { MemoryStateStore } from '../../../src/runtime/cloud/index.ts';
import { nodeStateKey } from '../../../src/runtime/cloud/keys.ts';
import { inFlight } from '../../../src/runtime/localstack/vm-admin.ts';
import { testParams } from '../../helpers/engine.ts';

const params = testParams({ vmId: 'vm-7' });

describe('inFlight (colo vm remove)', () => {
  it('holds nothing when neither node has a document', async () => {
    expect(await inFlight(new MemoryStateStore(), params)).toBe(false);
  });

  it('holds nothing when a node document does not decode (it cannot be stepped either)', async () => {
    const state = new MemoryStateStore();
    await state.save(nodeStateKey('vm-7', 'primary'), new TextEncoder().encode('not a document'), undefined);
    await state.save(nodeStateKey('vm-7', 'secondary'), new Uint8Array([0, 1, 2, 255]), undefined);
    expect(await inFlight(state, params)).toBe(false);
  });

  it("passes the store's own failures on (a read that failed is not an empty document)", async () => {
    const failing: StateStore = {
      load: () => Promise.reject(new Error('S3 unavailable')),
      save: () => Promise.reject(new Error('S3 unavailable')),
    } as unknown as StateStore;
    await expect(inFlight(failing, params)).rejects.toThrow('S3 unavailable');
  });
});
