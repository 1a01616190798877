// A fleet on one stack (LocalStack, no mocks): one deployed ColoStack, five VMs added at run time with
// `colo vm add` (run in-process), each replicating on the stack's own wall-clock timers — the shared tick
// queues armed by the watchdog; no virtual-clock stepper — with background rounds, for several checkpoints
// each. Then one VM is removed (its timers stop while the others go on), the rest are stopped, and every
// VM is checked: each commit equals its own PVM at that checkpoint's stop, nothing refused, retired or
// dead-lettered on the shared channels (so no VM's messages reached another's state).
//
// Needs LocalStack (npm run localstack:up). Deploys its own stack FleetIt<run id> (about 1–3 min) and
// destroys it afterwards; `COLO_FLEET_STACK=<name>` runs on an already deployed stack instead (kept).
// Run: npx vitest run --project integration test/integration/colo-fleet.test.ts
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PULSE_DOCUMENT_KEY, STATE_PREFIX } from '../../lambda/adapters/contract.ts';
import { S3StateStore } from '../../lambda/adapters/s3-state-store.ts';
import type { ColoParams } from '../../src/engine/params.ts';
import { removedConfigKey } from '../../src/runtime/cloud/keys.ts';
import { parsePulse } from '../../src/runtime/cloud/pulse-document.ts';
import { adminLeaseKey } from '../../src/runtime/localstack/admin-lease.ts';
import { clientsFor, endpointFromEnv } from '../../src/runtime/localstack/aws.ts';
import { queueDepth, waitQuiet } from '../../src/runtime/localstack/backend.ts';
import { commitsOf, stopVm, verifyFleetVm } from '../../src/runtime/localstack/fleet-run.ts';
import {
  deployedParams,
  describeStackOutputs,
  destroyStack,
  type StackOutputs,
} from '../../src/runtime/localstack/stack.ts';
import { readLoggedUsage } from '../../src/runtime/localstack/usage-logs.ts';
import { waitFor } from './helpers/aws.ts';
import { colo } from './helpers/colo-cli.ts';
import { diagnose, withDiagnosis } from './helpers/diagnose.ts';

const exec = promisify(execFile);
const clients = clientsFor(endpointFromEnv());
/** The five VMs, named per run so that a stack kept from an earlier run (COLO_FLEET_STACK) starts them afresh. */
let VMS: string[] = [];
/** Checkpoints each VM must commit before it is checked. */
const COMMITS = 3;
let stackName: string;
let outputs: StackOutputs;
const deployedHere = !process.env.COLO_FLEET_STACK;
/** When the VMs were added, ms since the epoch (the start of the usage-record window). */
let addedAtMs = 0;

/** When the stack's pulse last stepped the VM's primary (its pulse document entry), ms; 0 when none. */
async function timerSeq(vmId: string): Promise<number> {
  const state = new S3StateStore({ bucket: outputs.bucketName, client: clients.s3 });
  const d = await state.load(PULSE_DOCUMENT_KEY);
  return d ? (parsePulse(d.value, PULSE_DOCUMENT_KEY).vms[vmId]?.steppedAt ?? 0) : 0;
}

beforeAll(async () => {
  const runId = inject('coloItRunId');
  VMS = ['a', 'b', 'c', 'd', 'e'].map((x) => `fl${runId.slice(-4)}-${x}`);
  stackName = process.env.COLO_FLEET_STACK ?? `FleetIt${runId}`;
  if (deployedHere) {
    // The deploy registers the stack's own VM (fl-0) like any single-VM deploy.
    await exec(
      'bash',
      [
        'scripts/deploy-local.sh',
        '-c',
        `stackName=${stackName}`,
        '-c',
        'vmId=fl-0',
        '-c',
        'applyTimeoutMs=15000',
        // LocalStack's SQS event source invokes one VM's group at a time, then waits 1 s: four mappings per
        // channel poll side by side (docs/cloud.md, "Event sources on LocalStack").
        '-c',
        'channelPollers=4',
        // The same for the tick queues: a slow tick of one VM (a checkpoint's sends left to a timer) held the
        // pending-check ticks of all five on one mapping, and CI saw two commits per VM in 800 s.
        '-c',
        'tickPollers=3',
        // The stack's own VM at the five VMs' guest size, not the default 64 MiB: on LocalStack a tick
        // queue's mapping runs one invocation at a time for every VM, and fl-0's 60 MB checkpoints held the
        // primary's timers for up to 30 s, so every VM's primary went silent past its heartbeat timeout
        // (main and cost3 alike, docs/cloud.md "Event sources on LocalStack").
        '-c',
        'guestBytes=4194304',
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
  }
  outputs = await describeStackOutputs(clients, stackName);
  // The stack's own VM takes no part in these tests: stopped, so that its chains do not load LocalStack
  // while the five VMs run (and its 10 s default heartbeat timeout cannot fail it over meanwhile).
  if (deployedHere) await stopVm(clients, outputs, 'fl-0');
});

/**
 * Runs `colo vm remove <vmId>` as its own process and sends it SIGINT once it says it is waiting for the
 * VM to settle (inside its lease); resolves with its exit code and output.
 */
function interruptedRemove(vmId: string): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'bin/colo.ts', 'vm', 'remove', vmId, '--stack', stackName],
      { env: process.env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      if (!sent && err.includes('waiting for its in-flight work to settle')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, err }));
  });
}

/** Whether VM `vmId`'s `colo vm` lease object is in the bucket. */
async function leaseLeft(vmId: string): Promise<boolean> {
  const listed = await clients.s3.send(
    new ListObjectsV2Command({ Bucket: outputs.bucketName, Prefix: adminLeaseKey(vmId) }),
  );
  return (listed.KeyCount ?? 0) > 0;
}

/** The `--set` flags VM number `i` is added with. */
function vmFlags(i: number, over: Record<string, string> = {}): string[] {
  const values: Record<string, string> = {
    seed: String(31 + i),
    guestBytes: '4194304',
    workload: 'hotcold:hotPages=128,hotRate=100,coldRate=100',
    policy: 'fixed',
    thresholdBytes: '65536',
    checkpointDelayMs: '4000',
    applyTimeoutMs: String(outputs.applyTimeoutCapMs ?? 5000),
    heartbeatTimeoutMs: '30000',
    // Above the secondary's 30 s wait: the primary never ends a stalled checkpoint first (colo vm warns).
    checkpointTimeoutMs: '60000',
    // One value per key: `colo vm` refuses a key given twice.
    ...over,
  };
  return Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
}

/** A failed test's diagnosis: the VMs, the stack's functions since the file began. */
const fileStartMs = Date.now();
const diagnosis = () => diagnose(clients, outputs, VMS, fileStartMs);

afterAll(async () => {
  if (deployedHere && stackName && process.env.COLO_IT_KEEP !== '1') await destroyStack(clients, stackName);
});

describe('one stack, many VMs', () => {
  it('refuses bad input in one line and changes nothing', async () => {
    const bad = await colo('vm', 'add', 'fl-bad', '--stack', stackName, '--set', 'checkpointDelayMs=10');
    expect(bad.code).toBe(1);
    expect(bad.err.trim().split('\n')).toHaveLength(1);
    expect(bad.err).toMatch(/VM config "checkpointDelayMs"/);
    const capMs = outputs.applyTimeoutCapMs ?? 0;
    const cap = await colo(
      'vm',
      'add',
      'fl-bad',
      '--stack',
      stackName,
      '--set',
      `applyTimeoutMs=${capMs + 1000}`,
    );
    expect(cap.code).toBe(1);
    expect(cap.err).toMatch(new RegExp(`at most ${capMs} ms on this stack`));
    const list = await colo('vm', 'list', '--stack', stackName, '--json');
    expect(JSON.parse(list.out).vms).not.toContain('fl-bad');
  });

  it('adds five VMs at run time; each replicates with background rounds and commits its own image', () =>
    withDiagnosis(async () => {
      addedAtMs = Date.now();
      for (const [i, vmId] of VMS.entries()) {
        const r = await colo('vm', 'add', vmId, '--stack', stackName, '--json', ...vmFlags(i));
        expect(r.code, r.err).toBe(0);
        expect(JSON.parse(r.out)).toMatchObject({ config: { vmId, seed: 31 + i }, replaced: false });
      }
      const list = JSON.parse((await colo('vm', 'list', '--stack', stackName, '--json')).out).vms as string[];
      for (const vmId of VMS) expect(list).toContain(vmId);

      // One VM at a time, and a VM that is done is not read again: reading a VM's log is 32 GETs, and five
      // read side by side every 3 s (160 requests, 110 of them queued behind the client's 50 sockets) loaded
      // the LocalStack the VMs run on.
      const commits = new Map<string, number>();
      await waitFor(
        `every VM to commit ${COMMITS} checkpoints`,
        async (note) => {
          for (const v of VMS) {
            if ((commits.get(v) ?? 0) < COMMITS) commits.set(v, await commitsOf(clients, outputs, v));
          }
          note(Object.fromEntries(commits));
          return VMS.every((v) => (commits.get(v) ?? 0) >= COMMITS) ? true : undefined;
        },
        540_000,
        5000,
      );
      // `colo vm list` tells what each VM is doing: replicating, stepped by the pulse. (Its epoch is the
      // pulse's last evidence, absent until the pulse steps a VM that is replicating: not asserted.)
      const listed = JSON.parse((await colo('vm', 'list', '--stack', stackName, '--json')).out).status as {
        vmId: string;
        state: string;
        steppedAt?: number;
      }[];
      for (const vmId of VMS) {
        const e = listed.find((x) => x.vmId === vmId);
        expect(e, JSON.stringify(listed)).toMatchObject({ state: 'replicating' });
        expect(e?.steppedAt, JSON.stringify(e)).toBeGreaterThan(0);
      }
      // `colo vm show` tells where the stack's chains left the VM: its pulse and monitor entries.
      const shown = await colo('vm', 'show', VMS[0] as string, '--stack', stackName, '--json');
      expect(shown.code, shown.err).toBe(0);
      const stack = JSON.parse(shown.out).stack;
      expect(stack.pulse.steppedAt).toBeGreaterThan(0);
      expect(stack.monitor.steppedAt).toBeGreaterThan(0);
      // A change the VM's replication state cannot take is refused in one line, the config kept.
      const set = await colo('vm', 'set', VMS[0] as string, '--stack', stackName, '--set', 'seed=99');
      expect(set.code).toBe(1);
      // The progress line (`changing … on …`), then the refusal in one line.
      const lines = set.err.trim().split('\n');
      expect(lines.length, set.err).toBeLessThanOrEqual(2);
      expect(lines.at(-1)).toMatch(/has replication state, which seed cannot change under \(seed 31 → 99\)/);
      const kept = await colo('vm', 'show', VMS[0] as string, '--stack', stackName, '--json');
      const keptConfig = JSON.parse(kept.out).config;
      expect(keptConfig.seed).toBe(31);
      // `set --scenario` changes only what the file names (the keys it leaves out are not reset to the
      // registry's defaults: that reset the seed and was refused, or changed the timers of a running VM).
      const dir = mkdtempSync(join(tmpdir(), 'colo-fleet-'));
      const file = join(dir, 'budget.json');
      writeFileSync(file, JSON.stringify({ downtimeBudget: '275ms' }));
      const scen = await colo(
        'vm',
        'set',
        VMS[0] as string,
        '--stack',
        stackName,
        '--scenario',
        file,
        '--json',
      );
      expect(scen.code, scen.err).toBe(0);
      const after = JSON.parse(
        (await colo('vm', 'show', VMS[0] as string, '--stack', stackName, '--json')).out,
      ).config;
      expect(keptConfig.downtimeBudgetMs).not.toBe(275);
      expect(after).toEqual({ ...keptConfig, downtimeBudgetMs: 275 });
    }, diagnosis));

  it('removing a VM stops its timers and leaves the others running', () =>
    withDiagnosis(async () => {
      const gone = VMS[4] as string;
      const params: ColoParams = await deployedParams(clients, outputs, gone);
      // A remove stopped by Ctrl-C while the VM settles gives its lease back at once: the next command
      // need not wait for it to age out. The VM stays registered, stopped; add says to finish the remove.
      const stopped = await interruptedRemove(gone);
      expect(stopped.code, stopped.err).toBe(130);
      expect(stopped.err).toMatch(/colo vm: interrupted: releasing the VM's lease/);
      expect(await leaseLeft(gone)).toBe(false);
      expect((await colo('vm', 'show', gone, '--stack', stackName)).code).toBe(0);
      // `colo vm list` shows it stopped by that remove, and how to finish it.
      const stoppedEntry = (
        JSON.parse((await colo('vm', 'list', '--stack', stackName, '--json')).out).status as {
          vmId: string;
        }[]
      ).find((x) => x.vmId === gone);
      expect(stoppedEntry).toMatchObject({
        state: 'stopped',
        reason: 'removed by colo vm remove',
        hint: expect.stringMatching(/run it again to finish it/),
      });
      const readd = await colo('vm', 'add', gone, '--stack', stackName);
      expect(readd.code).toBe(1);
      expect(readd.err).toMatch(
        /stopped by a colo vm remove that did not finish.*run `colo vm remove .*` again/,
      );
      const r = await colo('vm', 'remove', gone, '--stack', stackName);
      expect(r.code, r.err).toBe(0);
      const removedAt = performance.now();
      expect((await colo('vm', 'show', gone, '--stack', stackName)).code).toBe(1);
      // Its chain stops (warm functions drop it within their config cache); another VM keeps committing.
      const other = VMS[0] as string;
      const before = await commitsOf(clients, outputs, other);
      let seq = await timerSeq(gone);
      let stillSince = performance.now();
      await waitFor(
        `the pulse to stop stepping ${gone} while ${other} commits again`,
        async () => {
          const now = await timerSeq(gone);
          if (now !== seq) {
            seq = now;
            stillSince = performance.now();
          }
          const still = performance.now() - stillSince > 15_000;
          return still && (await commitsOf(clients, outputs, other)) > before ? true : undefined;
        },
        240_000,
        2000,
      );
      // Its state was kept (no --delete-state): what it committed still verifies.
      const kept = await verifyFleetVm(clients, outputs, gone, { quiet: true, dlq: 0 }, params);
      expect(kept.commits).toBeGreaterThanOrEqual(COMMITS);
      expect(kept.verification.problems).toEqual([]);
      // The config a plain remove kept with the state judges a re-add: a slipped seed is refused in one
      // line, nothing registered (accepted, it could not be put right afterwards: an outside review).
      const slipped = await colo('vm', 'add', gone, '--stack', stackName, ...vmFlags(4, { seed: '99' }));
      expect(slipped.code, slipped.err).toBe(1);
      expect(slipped.err.trim().split('\n').at(-1)).toMatch(
        /has replication state, which seed cannot change under \(seed 35 → 99\): `colo vm remove .* --delete-state` first/,
      );
      // Without that file (state older than it), the node documents judge: another guest size is refused.
      await clients.s3.send(
        new DeleteObjectCommand({
          Bucket: outputs.bucketName,
          Key: `${STATE_PREFIX}${removedConfigKey(gone)}`,
        }),
      );
      const regrown = await colo(
        'vm',
        'add',
        gone,
        '--stack',
        stackName,
        ...vmFlags(4, { guestBytes: '8388608' }),
      );
      expect(regrown.code, regrown.err).toBe(1);
      expect(regrown.err.trim().split('\n').at(-1)).toMatch(
        /has replication state that this config cannot run on \(.*\): `colo vm remove .* --delete-state` first/,
      );
      expect((await colo('vm', 'show', gone, '--stack', stackName)).code).toBe(1);
      // Added again with its own config after a pause longer than its heartbeat timeout: it resumes from
      // its state and commits again — its secondary does not take the pause for the primary's silence.
      // (The pause is this step's input: 40 s, past the 30 s timeout and its 7.5 s slack.)
      await waitFor(
        'a pause longer than the heartbeat timeout',
        async () => (performance.now() - removedAt > 40_000 ? true : undefined),
        60_000,
        1000,
      );
      const again = await colo('vm', 'add', gone, '--stack', stackName, ...vmFlags(4));
      expect(again.code, again.err).toBe(0);
      await waitFor(
        `${gone} to commit again after it was added back`,
        async () => ((await commitsOf(clients, outputs, gone)) > kept.commits ? true : undefined),
        240_000,
        3000,
      );
      const control = JSON.parse(
        (await colo('vm', 'show', gone, '--stack', stackName, '--json')).out,
      ).control;
      expect(control?.failedOver ?? false, JSON.stringify(control)).toBe(false);
      // Removed with its state and added again at once, inside SQS's 5-minute deduplication window: the
      // fresh VM's first messages repeat the old one's numbers and bodies, and must not be dropped as
      // resends (an outside review: the primary waited in wait-ready for good).
      const wiped = await colo('vm', 'remove', gone, '--stack', stackName, '--delete-state');
      expect(wiped.code, wiped.err).toBe(0);
      const fresh = await colo('vm', 'add', gone, '--stack', stackName, ...vmFlags(4));
      expect(fresh.code, fresh.err).toBe(0);
      await waitFor(
        `${gone}, added afresh, to commit ${COMMITS} checkpoints`,
        async () => ((await commitsOf(clients, outputs, gone)) >= COMMITS ? true : undefined),
        300_000,
        3000,
      );
    }, diagnosis));

  it('every remaining VM verifies consistent: no message lost, refused or dead-lettered', () =>
    withDiagnosis(async () => {
      // All five: the one removed and added again verifies across its pause.
      const live = VMS;
      for (const v of live) await stopVm(clients, outputs, v);
      const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));
      const quiet = await Promise.all(live.map((v) => waitQuiet(clients, outputs, v, 120_000, sleep)));
      const dlq =
        (await queueDepth(clients, outputs.p2sDlqUrl)) + (await queueDepth(clients, outputs.s2pDlqUrl));
      for (const [i, vmId] of live.entries()) {
        const r = await verifyFleetVm(clients, outputs, vmId, { quiet: quiet[i] === true, dlq });
        expect(r.commits, vmId).toBeGreaterThanOrEqual(COMMITS);
        // "With background rounds": each VM sent some between its checkpoints.
        expect(r.rounds, vmId).toBeGreaterThan(0);
        expect(r.verification.problems, vmId).toEqual([]);
        expect(r.verification.consistent, vmId).toBe(true);
      }
    }, diagnosis));

  it("the functions' usage records name the VM each invocation served (per-VM cost figures)", async () => {
    const logged = await readLoggedUsage(clients, outputs.functionNames, addedAtMs, Date.now());
    for (const vmId of VMS) {
      const mine = logged.byVm[vmId];
      expect(mine?.records.primary ?? 0, vmId).toBeGreaterThan(0);
      expect(mine?.records['secondary-apply'] ?? 0, vmId).toBeGreaterThan(0);
      expect(mine?.records['checkpoint-timer'] ?? 0, vmId).toBeGreaterThan(0);
    }
  });
});
