// The stack's own clock on LocalStack (ColoItTimer): nothing in this file invokes tick-arm — the stack's
// EventBridge minute rule does (LocalStack fires scheduled rules about once a minute) and arms the tick
// chains. On this stack the checkpoint tick chain is the primary's only clock (pending checks hourly,
// policy none), so its checkpoints are started by `checkpoint-timer`. Then the primary's clock is stopped
// (its event-source mapping disabled, as if its timers died) and the secondary's own heartbeat watchdog
// fails over. State is read from S3 with the cloud runtime's decoders, logs from CloudWatch Logs. No mocks.
//
// Needs LocalStack (npm run localstack:up); the stacks are deployed by the first file that needs them.
// Run: npx vitest run --project integration test/integration/colo-timer.test.ts
import {
  GetEventSourceMappingCommand,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MONITOR_DOCUMENT_KEY } from '../../lambda/adapters/contract.ts';
import { PULSE_OUTAGE_GRACE_MS } from '../../lambda/handlers/common/monitor.ts';
import { memoryDigest } from '../../src/engine/memory/digest.ts';
import type { CheckpointRecord } from '../../src/engine/metrics/records.ts';
import type { SecondaryDocument } from '../../src/runtime/cloud/index.ts';
import { clients, since, waitFor } from './helpers/aws.ts';
import { type ColoTestStack, ensureColoStacks } from './helpers/colo-stacks.ts';

let t: ColoTestStack;

interface SentMessage {
  type: string;
  epoch: number;
  seq: number;
}

async function checkpoints(): Promise<CheckpointRecord[]> {
  return (await t.log('primary')).flatMap((r) => (r.type === 'checkpoint' ? [r.data] : []));
}

async function commits(): Promise<{ epoch: number; flushedPages: number; digest: string }[]> {
  return (await t.log('secondary')).flatMap((r) => (r.type === 'commit' ? [r.data] : []));
}

async function secondary(): Promise<SecondaryDocument> {
  const d = await t.secondaryDoc();
  if (!d) throw new Error('no secondary document');
  return d;
}

/**
 * The checkpoint requests the primary's timers sent, from their `invocation` log lines: `checkpoint-timer`'s,
 * and the stack's pulse's (`pending-check-timer`), which steps the primary at least every quarter of its
 * heartbeat timeout and fires the checkpoint timer when it finds it due first.
 */
async function requestsByCheckpointTimer(): Promise<SentMessage[]> {
  const lines = [
    ...(await t.functionLogs('CheckpointTimerFunctionName')),
    ...(await t.functionLogs('PendingCheckTimerFunctionName')),
  ];
  return lines
    .filter((l) => l.message === 'invocation' && Array.isArray(l.messages))
    .flatMap((l) => l.messages as SentMessage[])
    .filter((m) => m.type === 'checkpoint-request');
}

/** When the VM was started from nothing (its chains left to the rule), ms since the Unix epoch. */
let startedAt = 0;
/** The checkpoint chain's generation before the rule armed it. */
let generationBefore = 0;

beforeAll(async () => {
  ({ timer: t } = await ensureColoStacks(inject('coloItRunId')));
  // The VM was stopped after the deploy; start it from nothing and leave the arming to the minute rule.
  // (Read the generation first: the rule may arm the VM as soon as its control document is cleared.)
  generationBefore = (await t.timer('checkpoint'))?.generation ?? 0;
  startedAt = Date.now();
  await t.start('minute-rule');
}, 600_000);

afterAll(async () => {
  await t?.stop();
});

describe('the stack’s own clock on LocalStack', () => {
  it('fires a checkpoint from the EventBridge minute rule: rule → tick-arm → tick chain → checkpoint-timer', async () => {
    const t0 = Date.now();
    // 1. The rule invoked tick-arm (its constant input names the source) and it started the chains.
    const watchdog = await waitFor(
      'the minute rule to invoke tick-arm and arm the chains',
      async (note) => {
        const lines = await t.functionLogs('TickArmFunctionName');
        note({ lines: lines.length });
        // The rule's own run (not deploy-local's `colo vm add`, which names the VM and arms it at once),
        // after the start: it lists the fleet and finds this VM's three chains armed or, already started,
        // healthy.
        return lines.find(
          (l) =>
            l.message === 'watchdog' &&
            Date.parse(String(l.timestamp)) >= startedAt &&
            l.source === 'colo.watchdog' &&
            l.named === false &&
            Number(l.visited) >= 1,
        );
      },
      150_000,
      2000,
    );
    // The VM's checkpoint chain, and the stack's pulse and monitor.
    const chains = watchdog.chains as Record<string, number>;
    expect((chains.armed ?? 0) + (chains.healthy ?? 0)).toBeGreaterThanOrEqual(1);
    expect(chains.error).toBe(0);
    const stack = watchdog.stack as Record<string, string>;
    expect(['armed', 'healthy']).toContain(stack.pulse);
    expect(['armed', 'healthy']).toContain(stack.monitor);
    const armedAt = Date.parse(String(watchdog.timestamp));
    console.log(
      `[colo-timer] the rule's tick-arm ran over the fleet at ${watchdog.timestamp}, ${Math.round((armedAt - startedAt) / 1000)} s after the start`,
    );

    // 2. The primary's timers — checkpoint-timer on the chain the rule armed, or the stack's pulse, whichever
    //    finds the checkpoint timer due first — start a checkpoint the secondary commits.
    const { request, commit, ckpt } = await waitFor(
      'a checkpoint started by checkpoint-timer and committed by the secondary',
      async (note) => {
        const [requests, done] = [await requestsByCheckpointTimer(), await commits()];
        note({ requests: requests.map((r) => r.epoch), commits: done.map((c) => c.epoch) });
        for (const r of requests) {
          const c = done.find((x) => x.epoch === r.epoch);
          // The primary's own record of that checkpoint too: its log is appended in batches, so it may
          // reach S3 after the secondary's commit (rehearsal 12 read the commit first and found no record).
          const k = c && (await checkpoints()).find((x) => x.epoch === r.epoch);
          if (c && k) return { request: r, commit: c, ckpt: k };
        }
        return undefined;
      },
      120_000,
      2000,
    );
    expect(ckpt?.trigger).toBe('timer');
    expect(ckpt?.digest).toBe(commit.digest);
    // The chain is the one the rule armed (one generation after the start's: never re-armed by anyone else)
    // and it has ticked. One tick is enough: on a loaded machine the pulse may find the checkpoint due
    // before the chain's second tick is delivered (CI stop 34 read seq 1 at the commit).
    const chain = await t.timer('checkpoint');
    expect(chain?.generation).toBe(generationBefore + 1);
    expect(chain?.seq).toBeGreaterThanOrEqual(1);
    console.log(
      `[colo-timer] checkpoint of epoch ${request.epoch} (downtime ${Math.round(ckpt?.downtimeMs ?? 0)} ms) committed ${since(t0)} ms into the test`,
    );
  });

  it('fails over by itself when the primary’s clock stops, to exactly the last committed checkpoint', async () => {
    const { lambda } = clients();
    // The primary's clocks: its checkpoint chain, and the stack's pulse (which steps it for its liveness
    // evidence at least every quarter of the heartbeat timeout, docs/cloud.md "The pulse and the monitor").
    for (const output of ['CheckpointTimerFunctionName', 'PendingCheckTimerFunctionName']) {
      const FunctionName = t.output(output);
      const mappings = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName }));
      const uuid = mappings.EventSourceMappings?.[0]?.UUID;
      expect(mappings.EventSourceMappings).toHaveLength(1);
      await lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: false }));
      await waitFor(
        `the ${output} mapping to be disabled`,
        async (note) => {
          const m = await lambda.send(new GetEventSourceMappingCommand({ UUID: uuid }));
          note(m.State);
          return m.State === 'Disabled' ? true : undefined;
        },
        60_000,
      );
    }
    const t0 = Date.now();
    // With the pulse stopped too, the monitor holds the watchdog for the pulse-outage grace (90 s: a pulse
    // outage is no evidence of the primary's silence) and judges after it — measured 91 s, so the wait is
    // the grace plus room for a loaded machine.
    const after = await waitFor(
      'the secondary’s heartbeat watchdog to fail over',
      async (note) => {
        const d = await secondary();
        note({ phase: d.state.phase, lastHeardAt: d.state.lastHeardAt, now: Date.now() });
        return d.state.phase === 'failed-over' ? d : undefined;
      },
      PULSE_OUTAGE_GRACE_MS + 150_000,
      1000,
    );
    expect(after.exit?.reason).toBe('failover');
    expect(after.exit?.detail).toMatch(/no message from the primary for \d+ ms/);
    expect((after.exit?.at ?? 0) - after.state.lastHeardAt).toBeGreaterThanOrEqual(
      t.params.heartbeatTimeoutMs,
    );
    expect(after.state.cache.size).toBe(0);
    // The image it continues from is the last committed checkpoint.
    const k = await commits();
    const last = k.at(-1);
    expect(last?.epoch).toBe(after.state.committedEpoch);
    const ckpt = (await checkpoints()).find((c) => c.epoch === after.state.committedEpoch);
    expect(memoryDigest(t.params.seed, after.state.running)).toBe(last?.digest);
    expect(memoryDigest(t.params.seed, after.state.committed)).toBe(ckpt?.digest);
    // The control flag is set, and the monitor no longer has a wake of this secondary to wait for.
    expect(await t.control()).toMatchObject({ failedOver: true });
    await waitFor(
      'the monitor document to hold no wake for the failed-over secondary',
      async (note) => {
        const m = await t.json<{ vms: Record<string, { wakeAt: number | null }> }>(MONITOR_DOCUMENT_KEY);
        note(m?.vms[t.vmId]);
        return m?.vms[t.vmId]?.wakeAt === null ? true : undefined;
      },
      30_000,
    );
    console.log(
      `[colo-timer] watchdog failover ${since(t0)} ms after the primary's clock stopped; epoch ${after.state.committedEpoch} kept`,
    );
  });
});
