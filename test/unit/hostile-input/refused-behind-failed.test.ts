// A forgery behind a genuine delta whose object read fails transiently: the forgery is refused by
// authentication AND delivered again (the FIFO processor fails every record after the first failure). It
// used to be forwarded to the DLQ at every delivery (found by an outside review); now it is forwarded once,
// when it is finally done with.
import type { SQSRecord } from 'aws-lambda';
import { describe, expect, test } from 'vitest';
import { deriveVmKey } from '../../../src/wire/replication-key.ts';
import { sealMessage } from '../../../src/wire/sealed-message.ts';
import { HandlerSim, handlerParams, sqsEvent, sqsRecord, typeOfBody } from '../handlers/sim.ts';

const WRONG_KEY = deriveVmKey('a key that is not the deployment secret at all', 'vm-0');

describe('a refused record behind a failed one', () => {
  test('is dead-lettered once, when it is finally acknowledged, not at every delivery', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }));
    await sim.tickArm({ source: 'colo.watchdog', vmId: 'vm-0' });
    await sim.run(100);
    for (let i = 0; i < 30 && !sim.p2s.history.some((m) => m.type === 'delta'); i++) {
      sim.clock.advance(100);
      await sim.deliverTicks('pending-check');
    }
    const records = sim.fifoRecords(sim.p2s.take(), 'p2s.fifo');
    const d = records.findIndex((r) => typeOfBody(r.body) === 'delta');
    for (const r of records.slice(0, d)) await sim.secondaryApply(sqsEvent([r]));
    const delta = records[d] as SQSRecord;
    const forged = sqsRecord(
      sealMessage(WRONG_KEY, {
        v: 1,
        vmId: 'vm-0',
        epoch: 0,
        seq: 999,
        type: 'heartbeat',
        beat: 0,
        sentAt: 0,
      }),
    );
    let failing = true;
    sim.deltas.beforeCall = (op) => {
      if (op === 'get' && failing) throw new Error('SlowDown');
    };
    const deliveries = 3;
    for (let i = 0; i < deliveries; i++) {
      const r = await sim.secondaryApply(sqsEvent([delta, forged]));
      expect(r.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([delta.messageId, forged.messageId]);
    }
    failing = false;
    expect(await sim.secondaryApply(sqsEvent([delta, forged]))).toEqual({ batchItemFailures: [] });
    const forwards = sim.deadLetters.filter((l) => l.messageId === forged.messageId).length;
    expect(forwards).toBe(1);
    expect(sim.deadLetters.at(-1)).toMatchObject({ messageId: forged.messageId, code: 'unauthenticated' });
  });
});
