// `colo run --backend localstack` end to end: deploys a small ColoStack of its own to LocalStack (the
// project's deploy script), runs the CLI against it for 15 s of wall-clock time, and checks the report:
// format, backend, the stack's parameters, measured and modelled figures, and that the replica verified.
//
// Needs LocalStack on AWS_ENDPOINT_URL (default http://127.0.0.1:4566): `npm run localstack:up`. Fails (never
// skips) without it. The stack (ColoConformanceRun, VM conf-run) is left deployed with replication stopped,
// so a second run only updates it.
// Run: npx vitest run --project integration test/integration/conformance-run.test.ts
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/cli/report.ts';
import { checkLocalStack, endpointFromEnv } from '../../src/runtime/localstack/aws.ts';

const run = promisify(execFile);
const STACK = 'ColoConformanceRun';
const VM = 'conf-run';
const dir = mkdtempSync(join(tmpdir(), 'colo-run-'));
const outputs = join(dir, 'outputs.json');
const reportFile = join(dir, 'report.json');
const env = { ...process.env, FORCE_COLOR: '0', AWS_ENDPOINT_URL: endpointFromEnv().url };

/** Runs the CLI; resolves with its exit code and output whatever the code. */
async function colo(args: string[], timeoutMs: number) {
  try {
    const r = await run('npx', ['tsx', 'bin/colo.ts', 'run', ...args], { env, timeout: timeoutMs });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

beforeAll(async () => {
  await checkLocalStack(endpointFromEnv(), ['s3', 'sqs', 'lambda', 'cloudformation', 'events']);
  await run(
    'bash',
    [
      'scripts/deploy-local.sh',
      ...['-c', `stackName=${STACK}`, '-c', `vmId=${VM}`, '-c', 'guestBytes=16777216'],
      ...['-c', 'workload=uniform', '-c', 'checkpointDelayMs=5000', '-c', 'thresholdBytes=2097152'],
      ...['-c', 'heartbeatTimeoutMs=10000', '--outputs-file', outputs],
    ],
    { env, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
  );
}, 320_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('colo run --backend localstack', () => {
  it('runs the deployed stack briefly and writes a verified report', async () => {
    const r = await colo(
      ['--backend', 'localstack', '--outputs', outputs, '--duration', '15s', '--json', reportFile],
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
    expect(report.localstack).toEqual({ endpoint: env.AWS_ENDPOINT_URL, stackName: STACK, vmId: VM });
    expect(report.scenario.durationMs).toBe(15_000);
    expect(report.scenario.params).toMatchObject({
      vmId: VM,
      guestBytes: 16 * 1024 * 1024,
      workload: { kind: 'uniform' },
      checkpointDelayMs: 5000,
      thresholdBytes: 2 * 1024 * 1024,
      policy: 'fixed',
    });
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
    expect(p.final.primaryDigest).toMatch(/^[0-9a-f]{32}$/);
    expect(p.final.committedDigest).toMatch(/^[0-9a-f]{32}$/);
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
