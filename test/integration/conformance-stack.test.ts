// Against a deployed stack (one deploy for both parts):
// 1. Conformance inside the deployed functions: the conformance scenario's embedded schedule replayed step by
//    step through real Lambda Invoke calls of the stack's `primary` and `secondary-apply` functions
//    (virtual-clock events), every message received from the stack's own FIFO queues, state and deltas in
//    its bucket: same messages, records and final digests as the embedded run (docs/conformance.md).
// 2. `colo run --backend localstack` on the same stack for 15 s of wall-clock time: the report's format,
//    backend, the stack's parameters, measured and modelled figures, and that the replica verified.
//
// Needs LocalStack on AWS_ENDPOINT_URL (default http://127.0.0.1:4566): `npm run localstack:up`. Fails (never
// skips) without it. Deploys its own stack (ColoConformance-<run>, VM conf-<run>) with the scenario's parameters
// as context (`npm run deploy:local`) and deletes it at the end (`COLO_IT_KEEP=1` keeps it, replication
// stopped).
// Run: npx vitest run --project integration test/integration/conformance-stack.test.ts
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteStackCommand, waitUntilStackDeleteComplete } from '@aws-sdk/client-cloudformation';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/cli/report.ts';
import {
  checkLocalStack,
  clientsFor,
  emptyBucket,
  endpointFromEnv,
} from '../../src/runtime/localstack/aws.ts';
import { compareRuns } from '../../src/runtime/localstack/compare.ts';
import {
  CONFORMANCE_STACK_CONTEXT,
  conformanceScenario,
  replayInLambda,
} from '../../src/runtime/localstack/conformance.ts';
import { enterReplayMode, leaveReplayMode } from '../../src/runtime/localstack/lambda-stepper.ts';
import { deliveredKeys, recordEmbedded, sentKeys } from '../../src/runtime/localstack/schedule.ts';
import { deployedParams, readOutputsFile, type StackOutputs } from '../../src/runtime/localstack/stack.ts';

const exec = promisify(execFile);
// Unique per run: two test runs on one LocalStack (say a checkout and a fresh clone) never share a stack.
const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
const STACK = `ColoConformance-${RUN}`;
const VM = `conf-${RUN}`;
const endpoint = endpointFromEnv();
const clients = clientsFor(endpoint);
const env = { ...process.env, FORCE_COLOR: '0', AWS_ENDPOINT_URL: endpoint.url };
const dir = mkdtempSync(join(tmpdir(), 'colo-conf-stack-'));
const outputsFile = join(dir, 'outputs.json');
const reportFile = join(dir, 'report.json');
let outputs: StackOutputs | undefined;

/** Runs `colo run`; resolves with its exit code and output whatever the code. */
async function colo(args: string[], timeoutMs: number) {
  try {
    const r = await exec('npx', ['tsx', 'bin/colo.ts', 'run', ...args], { env, timeout: timeoutMs });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

beforeAll(async () => {
  await checkLocalStack(endpoint, ['s3', 'sqs', 'lambda', 'cloudformation', 'events']);
  const context = Object.entries({ stackName: STACK, vmId: VM, ...CONFORMANCE_STACK_CONTEXT }).flatMap(
    ([k, v]) => ['-c', `${k}=${v}`],
  );
  await exec('bash', ['scripts/deploy-local.sh', ...context, '--outputs-file', outputsFile], {
    env: { ...env, COLO_CDK_OUT: join(dir, 'cdk.out') },
    // Generous: synthesis and deploy took 290 s at load 12 here (and the 300 s this had was exceeded).
    timeout: 540_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  outputs = readOutputsFile(outputsFile, STACK);
}, 560_000);

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (!outputs || process.env.COLO_IT_KEEP === '1') return;
  // The bucket has no auto-delete custom resource: empty it, then delete the stack.
  await emptyBucket(clients.s3, outputs.bucketName);
  await clients.cloudformation.send(new DeleteStackCommand({ StackName: STACK }));
  await waitUntilStackDeleteComplete(
    { client: clients.cloudformation, maxWaitTime: 120 },
    { StackName: STACK },
  );
}, 180_000);

describe('conformance: embedded runtime vs the deployed Lambda functions', () => {
  it('same messages, records and final digests', async () => {
    if (!outputs) throw new Error('no stack');
    const scenario = conformanceScenario(VM);
    // The functions run the parameters the stack was deployed with: they must be the scenario's.
    expect(await deployedParams(clients, outputs)).toEqual(scenario.params);
    const recorded = recordEmbedded(scenario);
    const { result: embedded, steps } = recorded;
    expect(embedded.checkpoints.length).toBeGreaterThanOrEqual(3);
    expect(embedded.rounds.filter((r) => r.ok).length).toBeGreaterThanOrEqual(1);

    await enterReplayMode(clients, outputs);
    try {
      const result = await replayInLambda(steps, scenario.params, clients, outputs);
      expect(compareRuns(recorded, result)).toEqual([]);
      expect(result.lambda.invocations).toBe(steps.length);
      expect(result.sent).toEqual(sentKeys(embedded));
      expect(result.delivered).toEqual(deliveredKeys(steps));
      expect(result.final).toEqual(embedded.final);
      expect(result.checkpoints).toEqual(embedded.checkpoints);
      expect(result.rounds).toEqual(embedded.rounds);
    } finally {
      await leaveReplayMode(clients, outputs);
    }
  }, 180_000);
});

describe('colo run --backend localstack', () => {
  it('runs the deployed stack briefly and writes a verified report', async () => {
    const r = await colo(
      ['--backend', 'localstack', '--outputs', outputsFile, '--duration', '15s', '--json', reportFile],
      180_000,
    );
    expect(r.stderr).toMatch(/\[localstack\] .*starting the tick chains/);
    expect(r.stderr).toMatch(/\[localstack\] 15 s of 15 s: \d+ checkpoints?/);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/downtime p50 measured \(ms\)/);
    expect(r.stdout).toMatch(/modelled downtime p50 \(ms\)/);

    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as RunReport;
    expect(report.version).toBe(1);
    expect(report.backend).toBe('localstack');
    expect(report.localstack).toEqual({ endpoint: endpoint.url, stackName: STACK, vmId: VM });
    expect(report.scenario.durationMs).toBe(15_000);
    expect(report.scenario.params).toEqual(conformanceScenario(VM).params);
    expect(report.scenario.policies).toEqual(['fixed']);
    expect(report.runs).toHaveLength(1);
    const [p] = report.runs;
    if (!p) throw new Error('no run');
    expect(p.verification).toEqual({
      consistent: true,
      checkpointsVerified: p.summary.checkpoints,
      problems: [],
    });
    expect(p.summary.checkpoints).toBeGreaterThanOrEqual(1);
    expect(p.final.committedEpoch).toBe(p.summary.checkpoints);
    expect(p.summary.downtimeMs.max).toBeGreaterThan(0);
    expect(p.summary.checkpointMiB).toBeGreaterThan(0);
    expect(p.final.primaryDigest).toMatch(/^m2:[0-9a-f]{32}$/);
    expect(p.final.committedDigest).toMatch(/^m2:[0-9a-f]{32}$/);
    expect(p.messages).toBeGreaterThan(4 * p.summary.checkpoints);
    expect(p.wallMs).toBeGreaterThanOrEqual(15_000);
    expect(p.modelled?.checkpoints).toBeGreaterThanOrEqual(1);
    expect(p.modelled?.downtimeMs.max).toBeGreaterThan(0);
  }, 200_000);

  it('says clearly when the stack is missing', async () => {
    const r = await colo(
      ['--backend', 'localstack', '--stack', 'ColoNoSuchStack', '--duration', '5s'],
      60_000,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/colo: stack ColoNoSuchStack is not deployed on .*npm run deploy:local/);
  }, 70_000);
});
