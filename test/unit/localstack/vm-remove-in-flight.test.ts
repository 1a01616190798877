/**
 * What `colo vm remove` waits out before unregistering a VM (`inFlight`, vm-admin.ts): a node document that
 * does not decode holds nothing in flight, so the removal goes on instead of failing after the stop flag;
 * a stopped primary's batched pending-check records are not work under way (an outside review: an idle
 * VM's remove waited out its whole 60 s settle for them).
 */
import { describe, expect, it } from 'vitest';
import type { StateStore } from '../../../src/engine/ports.ts';
import { markFailedOver, VM_REMOVED_REASON } from '../../../src/runtime/cloud/control.ts';
import { decodePrimaryDocument, emptyOutbox, outboxBusy } from '../../../src/runtime/cloud/document.ts';
import { MemoryStateStore, readPrimaryDocument } from '../../../src/runtime/cloud/index.ts';
import { nodeStateKey } from '../../../src/runtime/cloud/keys.ts';
import type { LogRecord } from '../../../src/runtime/cloud/log-record.ts';
import { primaryStateStore } from '../../../src/runtime/cloud/status.ts';
import { inFlight } from '../../../src/runtime/localstack/vm-admin.ts';
import { testParams } from '../../helpers/engine.ts';
import { handlerParams } from '../handlers/sim.ts';
import { StackSim } from '../handlers/stack-sim.ts';

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

  it('outboxBusy: a send or a record that is due counts; pending-check records waiting for their batch do not', () => {
    const record = (type: string) => ({ n: 0, at: 0, node: 'primary', type, data: {} }) as never;
    expect(outboxBusy(emptyOutbox())).toBe(false);
    expect(
      outboxBusy({ ...emptyOutbox(), records: [record('pending-check'), record('pending-check')] }),
    ).toBe(false);
    expect(outboxBusy({ ...emptyOutbox(), records: [record('pending-check'), record('checkpoint')] })).toBe(
      true,
    );
    expect(
      outboxBusy({ ...emptyOutbox(), sends: [{ sendId: 1, message: {} as never, payload: null }] }),
    ).toBe(true);
  });

  it('an idle VM stopped by colo vm remove holds nothing in flight, though its primary keeps batched records', async () => {
    const stack = new StackSim();
    const params = handlerParams({
      vmId: 'vm-7',
      policy: 'fixed',
      checkpointDelayMs: 5000,
      pendingCheckIntervalMs: 1000,
      heartbeatIntervalMs: 1000,
      heartbeatTimeoutMs: 10_000,
    });
    const vm = await stack.add(params);
    await stack.run(12_000);
    await markFailedOver(stack.state, 'vm-7', VM_REMOVED_REASON, stack.clock.now());
    await stack.run(3000);
    expect((await vm.secondaryDoc())?.state.phase).toBe('idle');
    expect(await inFlight(stack.state, params)).toBe(false);
    // What the deployed primary keeps (LEAN_INVOCATION: a batch of 30 or 30 s): routine records only.
    const store = primaryStateStore(stack.state, params);
    const stored = await store.load(decodePrimaryDocument);
    if (!stored) throw new Error('no primary document');
    const at = stack.clock.now();
    const n = stored.doc.logNext;
    const pendingCheck = (k: number): LogRecord => ({
      n: n + k,
      at,
      node: 'primary',
      type: 'pending-check',
      data: { at, pendingBytes: 0, decision: 'none' },
    });
    stored.doc.outbox.records.push(pendingCheck(0), pendingCheck(1));
    await store.save(stored, at);
    expect((await readPrimaryDocument(stack.state, params))?.outbox.records).toHaveLength(2);
    expect(await inFlight(stack.state, params)).toBe(false);
    // A record that is due (not a routine one) is work under way.
    stored.doc.outbox.records.push({
      n: n + 2,
      at,
      node: 'primary',
      type: 'colo-exit',
      data: { reason: 'error', detail: 'test' },
    });
    await store.save(stored, at);
    expect(await inFlight(stack.state, params)).toBe(true);
  }, 60_000);
});
