/** Issue 9 finding 4 at the handler: a failover request on a secondary whose document cannot be read. */
import { expect, test } from 'vitest';
import { nodeStateKey } from '../../../src/runtime/cloud/index.ts';
import { HandlerSim, handlerParams } from '../handlers/sim.ts';

test('heartbeat-monitor answers a failover on an unreadable document with the fence it claimed', async () => {
  const sim = new HandlerSim(handlerParams({ policy: 'fixed' }));
  await sim.tickArm({ source: 'colo.watchdog', vmId: 'vm-0' });
  await sim.run(100);
  const key = nodeStateKey('vm-0', 'secondary');
  const bytes = sim.state.peek(key)?.slice() as Uint8Array;
  bytes[20] = (bytes[20] ?? 0) ^ 0xff;
  sim.state.put(key, bytes, (await sim.state.load(key))?.etag);
  const answer = await sim.heartbeatMonitor({ source: 'colo.failover', vmId: 'vm-0' });
  expect(answer).toMatchObject({ vmId: 'vm-0', failedOver: false, phase: 'unreadable', fence: 'secondary' });
  expect((answer as { error: string }).error).toMatch(/cannot be read.*needs an operator/s);
});
