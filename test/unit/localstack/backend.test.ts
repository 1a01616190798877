// The LocalStack backend's pure parts: flag checks, stack outputs parsing, the replica checks on metrics
// logs, and the report table. The backend against a real LocalStack: test/integration/conformance-run.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseBackend } from '../../../src/cli/backend.ts';
import { EXIT, exitCodeOf, verdictOf } from '../../../src/cli/outcome.ts';
import { type RunReport, renderTable } from '../../../src/cli/report.ts';
import { runScenario } from '../../../src/cli/run-command.ts';
import { resolveScenario, ScenarioError } from '../../../src/cli/scenario.ts';
import { costCaution } from '../../../src/cost/section.ts';
import { memoryDigest } from '../../../src/engine/memory/digest.ts';
import type { CheckpointRecord } from '../../../src/engine/metrics/records.ts';
import { DEFAULT_PARAMS, pageCount } from '../../../src/engine/params.ts';
import type { LogRecord } from '../../../src/runtime/cloud/log-record.ts';
import {
  claimedAsItStopped,
  localStackOutcome,
  STOP_REASON,
  verifyLogs,
} from '../../../src/runtime/localstack/backend.ts';
import {
  outputsFromRecord,
  readOutputsFile,
  StackNotFoundError,
} from '../../../src/runtime/localstack/stack.ts';

const dir = mkdtempSync(join(tmpdir(), 'colo-backend-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OUTPUTS: Record<string, string> = {
  VmId: 'vm-7',
  BucketName: 'b',
  PrimaryToSecondaryQueueUrl: 'q/p2s.fifo',
  SecondaryToPrimaryQueueUrl: 'q/s2p.fifo',
  PrimaryToSecondaryDlqUrl: 'q/p2s-dlq.fifo',
  SecondaryToPrimaryDlqUrl: 'q/s2p-dlq.fifo',
  CheckpointTickQueueUrl: 'q/ck',
  PendingCheckTickQueueUrl: 'q/pc',
  HeartbeatTickQueueUrl: 'q/hb',
  PrimaryFunctionName: 'primary-fn',
  SecondaryApplyFunctionName: 'secondary-apply-fn',
  TickArmFunctionName: 'tick-arm-fn',
  WatchdogRuleName: 'rule',
};

describe('chooseBackend', () => {
  it('defaults to embedded and refuses LocalStack-only flags there', () => {
    expect(chooseBackend({})).toBe('embedded');
    expect(() => chooseBackend({ stack: 'S' })).toThrow(/--stack needs --backend localstack/);
    expect(() => chooseBackend({ outputs: 'f' })).toThrow(ScenarioError);
    expect(() => chooseBackend({ backend: 'cloud' })).toThrow(/embedded, localstack/);
  });

  it('accepts duration and the modelled link with localstack, refuses scenario flags', () => {
    expect(
      chooseBackend({ backend: 'localstack', duration: '10s', bandwidth: '1Gbit', latency: '1ms' }),
    ).toBe('localstack');
    expect(() => chooseBackend({ backend: 'localstack', policy: 'none', checkpointDelay: '5s' })).toThrow(
      /--policy, --checkpoint-delay cannot be used with --backend localstack/,
    );
    expect(() => chooseBackend({ backend: 'localstack', scenario: 'x.json' })).toThrow(/--scenario/);
    expect(() => chooseBackend({ backend: 'localstack', miscompareRate: '1' })).toThrow(/--miscompare-rate/);
  });
});

describe('stack outputs', () => {
  it('parses a cdk outputs file, picking the stack', () => {
    const file = join(dir, 'out.json');
    writeFileSync(file, JSON.stringify({ ColoA: OUTPUTS, ColoB: { ...OUTPUTS, VmId: 'vm-8' } }));
    expect(readOutputsFile(file, 'ColoB').vmId).toBe('vm-8');
    expect(() => readOutputsFile(file)).toThrow(/2 stacks .*--stack/);
    expect(() => readOutputsFile(file, 'ColoC')).toThrow(/no outputs for stack ColoC/);
    const one = join(dir, 'one.json');
    writeFileSync(one, JSON.stringify({ ColoA: OUTPUTS }));
    const o = readOutputsFile(one);
    expect(o).toMatchObject({ stackName: 'ColoA', vmId: 'vm-7', tickArmFunction: 'tick-arm-fn' });
    expect(o.tickQueueUrls).toEqual({ checkpoint: 'q/ck', 'pending-check': 'q/pc', heartbeat: 'q/hb' });
  });

  it('says what is missing', () => {
    expect(() => readOutputsFile(join(dir, 'nope.json'))).toThrow(StackNotFoundError);
    const { TickArmFunctionName: _, ...rest } = OUTPUTS;
    expect(() => outputsFromRecord('S', rest)).toThrow(/stack S has no output TickArmFunctionName/);
  });
});

describe('verifyLogs', () => {
  const params = { ...DEFAULT_PARAMS, guestBytes: 64 * 4096 };
  const ok = { quiet: true, dlq: 0, started: true };
  const ckpt = (epoch: number, digest: string) => ({ epoch, digest }) as CheckpointRecord;
  const commit = (n: number, epoch: number, digest: string): LogRecord => ({
    n,
    at: n,
    node: 'secondary',
    type: 'commit',
    data: { epoch, flushedPages: 1, digest },
  });

  it('passes when every commit matches its checkpoint and the image is the last commit', () => {
    const v = verifyLogs(
      params,
      [ckpt(1, 'a'), ckpt(2, 'b')],
      [],
      [commit(0, 1, 'a'), commit(1, 2, 'b')],
      {
        committedDigest: 'b',
        committedEpoch: 2,
      },
      ok,
    );
    expect(v).toEqual({ consistent: true, checkpointsVerified: 2, problems: [] });
  });

  it('fails on a wrong commit, a stray image, a colo exit, DLQ messages, no start, no quiet', () => {
    const exit: LogRecord = {
      n: 3,
      at: 3,
      node: 'primary',
      type: 'colo-exit',
      data: { reason: 'error', detail: 'unexpected message X, expected Y' },
    };
    const v = verifyLogs(
      params,
      [ckpt(1, 'a')],
      [exit],
      [commit(0, 1, 'z')],
      {
        committedDigest: 'q',
        committedEpoch: 1,
      },
      { quiet: false, dlq: 2, started: false },
    );
    expect(v.consistent).toBe(false);
    const text = v.problems.join('\n');
    for (const want of [
      /epoch 1: committed image z ≠ PVM at stop a/,
      /committed image differs from the last commit/,
      /primary left COLO: error: unexpected message X/,
      /2 message\(s\) in the channels' dead-letter queues/,
      /never started/,
      /did not finish/,
    ]) {
      expect(text).toMatch(want);
    }
  });

  it('an untouched VM verifies against the all-zero image', () => {
    const zero = memoryDigest(params.seed, new Uint32Array(pageCount(params)));
    expect(verifyLogs(params, [], [], [], { committedDigest: zero, committedEpoch: 0 }, ok).consistent).toBe(
      true,
    );
  });
});

describe('report table', () => {
  it('labels measured and modelled figures for a LocalStack report', () => {
    const embedded = runScenario(
      resolveScenario({ guest: '4MiB', duration: '3s', checkpointDelay: '1s', policies: ['fixed'] }),
    );
    const run = embedded.runs[0];
    if (!run) throw new Error('no run');
    const report: RunReport = {
      ...embedded,
      backend: 'localstack',
      runs: [{ ...run, modelled: run.summary }],
      localstack: { endpoint: 'http://127.0.0.1:4566', stackName: 'S', vmId: 'vm-7' },
    };
    const table = renderTable(report);
    expect(table).toMatch(/3 s wall-clock on LocalStack \(http:\/\/127\.0\.0\.1:4566, stack S, VM vm-7\)/);
    expect(table).toMatch(/downtime p50 measured \(ms\)/);
    expect(table).toMatch(/modelled downtime max \(ms\)/);
    expect(renderTable(embedded)).not.toMatch(/measured|modelled/);
  });
});

describe('a failover on LocalStack is an outcome, not a divergence', () => {
  const params = { ...DEFAULT_PARAMS, guestBytes: 64 * 4096 };
  const zero = memoryDigest(params.seed, new Uint32Array(pageCount(params)));
  const t0 = 1_700_000_000_000;
  const failover = {
    failedOver: true,
    reason: 'heartbeat timeout: no heartbeat from the primary for 10000 ms',
    at: t0 + 12_500,
    owner: 'secondary' as const,
    resumedAt: null,
  };

  it('reads side, time and reason off the control document', () => {
    const o = localStackOutcome(failover, t0, 3);
    expect(o).toMatchObject({ state: 'secondary-took-over', at: 12_500, reason: failover.reason });
    expect(o.text).toBe(
      'replication ended at 12.5 s: secondary took over from its last commit (epoch 3) — heartbeat timeout: no heartbeat from the primary for 10000 ms',
    );
    expect(localStackOutcome({ ...failover, owner: 'primary' }, t0, 3).state).toBe('primary-alone');
    expect(localStackOutcome({ ...failover, owner: null }, t0, 3).state).toBe('ending');
  });

  it('our own stop, or no stop at all, is still replicating', () => {
    const none = { failedOver: false, reason: null, at: null, owner: null, resumedAt: null };
    expect(localStackOutcome(none, t0, 0).state).toBe('replicating');
    expect(localStackOutcome({ ...failover, reason: STOP_REASON, owner: null }, t0, 0).state).toBe(
      'replicating',
    );
  });

  it('verifies when the sides left COLO by the failover, and exits 3 (failed-over), not 2', () => {
    const exit = (node: 'primary' | 'secondary', reason: 'failover' | 'fenced' | 'error'): LogRecord => ({
      n: 1,
      at: t0 + 12_600,
      node,
      type: 'colo-exit',
      data: { reason, detail: 'heartbeat timeout' },
    });
    const facts = { quiet: true, dlq: 0, started: true, endedAt: failover.at };
    const final = { committedDigest: zero, committedEpoch: 0 };
    const v = verifyLogs(
      params,
      [],
      [exit('primary', 'fenced')],
      [exit('secondary', 'failover')],
      final,
      facts,
    );
    expect(v).toEqual({ consistent: true, checkpointsVerified: 0, problems: [] });
    const run = { verification: v, outcome: localStackOutcome(failover, t0, 0), summary: { checkpoints: 1 } };
    expect(verdictOf(run)).toBe('failed-over');
    expect(exitCodeOf([run])).toBe(EXIT.failedOver);
    // An exit for an error is still a problem, failover or not; and without a failover, leaving COLO is one.
    expect(verifyLogs(params, [], [exit('primary', 'error')], [], final, facts).consistent).toBe(false);
    const { endedAt: _e, ...noFailover } = facts;
    expect(verifyLogs(params, [], [], [exit('secondary', 'failover')], final, noFailover).consistent).toBe(
      false,
    );
  });
});

describe('a claim that lands as colo run stops the VM (review D)', () => {
  it('is the run’s failover, with the winner’s reason and time, not a replicating outcome', async () => {
    const { MemoryStateStore } = await import('../../../src/runtime/cloud/memory-ports.ts');
    const { claimFence, markFailedOver, readControl } = await import('../../../src/runtime/cloud/control.ts');
    const { appendLog } = await import('../../../src/runtime/cloud/metrics-log.ts');
    const state = new MemoryStateStore();
    const before = await readControl(state, 'vm-7');
    // The run's stop, then the secondary's claim (its checkpoint wait ran out as the run ended).
    await markFailedOver(state, 'vm-7', STOP_REASON, 30_000);
    await claimFence(state, 'vm-7', 'secondary', 'timed out in ckpt-wait-ram after 10000 ms', 30_050);
    await appendLog(state, 'vm-7', 'secondary', [
      {
        n: 0,
        at: 30_040,
        node: 'secondary',
        type: 'colo-exit',
        data: { reason: 'failover', detail: 'timed out in ckpt-wait-ram after 10000 ms' },
      } as LogRecord,
    ]);
    const decided = await claimedAsItStopped(state, 'vm-7', before);
    expect(decided).toMatchObject({
      owner: 'secondary',
      reason: 'timed out in ckpt-wait-ram after 10000 ms',
      at: 30_040,
    });
    expect(localStackOutcome(decided, 0, 3).state).toBe('secondary-took-over');
    // No claim: the run was replicating; the first read stands.
    const quiet = new MemoryStateStore();
    const q = await readControl(quiet, 'vm-7');
    await markFailedOver(quiet, 'vm-7', STOP_REASON, 30_000);
    expect(await claimedAsItStopped(quiet, 'vm-7', q)).toBe(q);
  });

  it('the cost section cautions when the run made no checkpoint or stopped replicating', () => {
    expect(costCaution(0, 'secondary took over at 31.0 s')).toMatch(
      /^the run completed no checkpoint and replication ended: the checkpoint path, most of the bill, is missing/,
    );
    expect(costCaution(4, 'secondary took over at 31.0 s')).toMatch(
      /^replication ended during the run \(secondary took over/,
    );
    expect(costCaution(4)).toBeUndefined();
  });
});
