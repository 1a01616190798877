/**
 * `colo experiment --backend stepfunctions` on a real LocalStack: deploys the experiment stack
 * (scripts/deploy-experiments-local.sh: the cell function and a Distributed Map over it), runs a 2 × 2 grid
 * × 1 seed there and on the embedded backend, and checks that every cell's figures are the same; then an
 * interrupted run (the execution is stopped) that a rerun completes; a malformed cell event; a missing stack.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteStackCommand, waitUntilStackDeleteComplete } from '@aws-sdk/client-cloudformation';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CellRow } from '../../src/experiment/cell-run.ts';
import { emptyBucket } from '../../src/runtime/localstack/aws.ts';
import { cli } from '../unit/cli/run-cli.ts';
import { clients, ENDPOINT } from './helpers/aws.ts';
import { startRecordingProxy } from './helpers/recording-proxy.ts';

const exec = promisify(execFile);
const runId = inject('coloItRunId');
const STACK = `ColoItExperiments-${runId}`;
const work = mkdtempSync(join(tmpdir(), 'colo-it-sfn-'));
const sfn = new SFNClient({
  endpoint: ENDPOINT,
  region: process.env.AWS_REGION,
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});
let outputs: Record<string, string> = {};

/** 2 thresholds × 2 policies × 1 seed: four cells of 30 simulated seconds on a 16 MiB guest. */
const GRID = `
name: it-sfn
base:
  guest: 16MiB
  duration: 30s
  checkpointDelay: 5s
  payload: modelled
  workload: hotcold:hotPages=256,hotRate=2000,coldRate=500
grid:
  threshold: [512KiB, 8MiB]
  policy: [none, fixed]
seeds: [7]
`;
const file = join(work, 'it-sfn.yaml');
writeFileSync(file, GRID);
const env = { ...process.env, AWS_ENDPOINT_URL: ENDPOINT };

function rows(dir: string): Map<string, CellRow> {
  const out = new Map<string, CellRow>();
  for (const line of readFileSync(join(dir, 'cells.jsonl'), 'utf8').split('\n'))
    if (line.trim()) {
      const r = JSON.parse(line) as CellRow;
      out.set(r.key, r);
    }
  return out;
}

/** What must not depend on where a cell ran: everything but the wall-clock figures. */
function deterministic(r: CellRow): unknown {
  const { simPerWall: _s, ...metrics } = r.metrics;
  return {
    key: r.key,
    values: r.values,
    policy: r.policy,
    seed: r.seed,
    verdict: r.verdict,
    outcome: r.outcome,
    simulatedMs: r.simulatedMs,
    metrics,
  };
}

function sfnRun(out: string, io: Parameters<typeof cli>[1] = {}) {
  return cli(['experiment', file, '--out', out, '--backend', 'stepfunctions', '--stack', STACK, '--no-png'], {
    env,
    ...io,
  });
}

beforeAll(async () => {
  const outFile = join(work, 'outputs.json');
  const t0 = Date.now();
  await exec(
    'bash',
    ['scripts/deploy-experiments-local.sh', '-c', `experimentStack=${STACK}`, '--outputs-file', outFile],
    {
      env: { ...env, COLO_CDK_OUT: join(work, 'cdk.out'), FORCE_COLOR: '0' },
      timeout: 480_000,
      maxBuffer: 64 << 20,
    },
  );
  outputs =
    (JSON.parse(readFileSync(outFile, 'utf8')) as Record<string, Record<string, string>>)[STACK] ?? {};
  console.log(`[colo-it] deployed ${STACK} in ${Date.now() - t0} ms (${outputs.ExperimentMapKind} map)`);
}, 600_000);

afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  if (process.env.COLO_IT_KEEP === '1' || !outputs.ExperimentBucketName) return;
  const { s3, cfn } = clients();
  await emptyBucket(s3, outputs.ExperimentBucketName).catch(() => undefined);
  await cfn.send(new DeleteStackCommand({ StackName: STACK }));
  await waitUntilStackDeleteComplete(
    { client: cfn, maxWaitTime: 300, minDelay: 1, maxDelay: 5 },
    { StackName: STACK },
  );
}, 600_000);

describe('colo experiment --backend stepfunctions on LocalStack', () => {
  it('produces the same per-cell results as the embedded backend for the same seeds', async () => {
    const t0 = Date.now();
    const remote = await sfnRun(join(work, 'sfn'));
    const sfnMs = Date.now() - t0;
    expect(remote.err).toMatch(
      /4 to run on Step Functions \(stack ColoItExperiments-[a-z0-9]+, distributed map/,
    );
    expect(remote.code, remote.err).toBe(0);
    const t1 = Date.now();
    const local = await cli(['experiment', file, '--out', join(work, 'embedded'), '--no-png', '--quiet']);
    console.log(`[colo-it] 4 cells: Step Functions ${sfnMs} ms, embedded (one thread) ${Date.now() - t1} ms`);
    expect(local.code, local.err).toBe(0);
    const a = rows(join(work, 'sfn'));
    const b = rows(join(work, 'embedded'));
    expect(a.size).toBe(4);
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    for (const [key, row] of a) expect(deterministic(row), key).toEqual(deterministic(b.get(key) as CellRow));
    // Cells with a background policy did send in the background: the comparison covers real figures.
    expect([...a.values()].some((r) => r.metrics.backgroundMiB > 0)).toBe(true);
    for (const f of ['summary.md', 'cells.csv', 'summary.csv', 'report.html', 'chart-downtimeP99Ms.svg'])
      expect(existsSync(join(work, 'sfn', f)), f).toBe(true);
    // One execution, succeeded, its results under its run's prefix.
    const list = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: outputs.ExperimentStateMachineArn }),
    );
    const done = (list.executions ?? []).filter((e) => e.name?.startsWith('it-sfn-'));
    expect(done.map((e) => e.status)).toEqual(['SUCCEEDED']);
  });

  it('an interrupted run stops its execution and keeps what had finished; the rerun runs only the rest', async () => {
    const out = join(work, 'resume');
    // Two cells finished by an earlier run (their lines as the first run wrote them).
    mkdirSync(out);
    const earlier = readFileSync(join(work, 'sfn', 'cells.jsonl'), 'utf8')
      .split('\n')
      .slice(0, 2);
    writeFileSync(join(out, 'cells.jsonl'), `${earlier.join('\n')}\n`);
    let interrupt: (() => void) | undefined;
    let err = '';
    // The interrupted run talks to LocalStack through a recording pass-through proxy. Whether the stop or the
    // cells win is a race on a loaded machine, and LocalStack 4.13.1 may answer a stop that reaches an
    // execution still being set up with a 500 (the SDK retries it) or a 200 that changes nothing — so the CLI
    // asks again until the execution reads ended. Asserted: every stop named the execution the CLI started,
    // the last one was answered, the execution had ended when the CLI returned, and the rerun runs only what
    // had not finished.
    const proxy = await startRecordingProxy(ENDPOINT);
    const first = await sfnRun(out, {
      env: { ...env, AWS_ENDPOINT_URL: proxy.endpoint },
      onInterrupt: (h) => {
        interrupt = h;
        return () => {
          interrupt = undefined;
        };
      },
      stderr: (t) => {
        err += t;
        // Ctrl-C as soon as the execution has started (its cells take seconds each).
        if (/^execution .* started with 2 cells/m.test(t)) interrupt?.();
      },
    }).finally(() => proxy.close());
    expect(first.code, err).toBe(130);
    expect(err).toContain('2 already in');
    expect(rows(out).size).toBe(2);
    expect(err).not.toContain('could not stop');
    const arn = /^execution (\S+) started with 2 cells/m.exec(err)?.[1];
    expect(arn, err).toBeDefined();
    const stops = proxy.calls.filter((c) => c.target === 'AWSStepFunctions.StopExecution');
    expect(stops.length).toBeGreaterThanOrEqual(1);
    for (const c of stops) expect((JSON.parse(c.body) as { executionArn?: string }).executionArn).toBe(arn);
    expect(stops.at(-1)?.status).toBe(200);
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
    expect(d.status).not.toBe('RUNNING');
    const where = /results under s3:\/\/([^/\s]+)\/(\S+)/.exec(err);
    const { s3 } = clients();
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: where?.[1], Prefix: where?.[2] }));
    const endedMs = (d.stopDate?.getTime() ?? 0) - (stops[0]?.answeredAt ?? 0);
    console.log(
      `[colo-it] interrupted execution ${d.status}${d.error ? ` (${d.error})` : ''}, ${(listed.Contents ?? []).length} of 2 results, ended ${endedMs} ms after the first stop was answered; stops ${stops.map((c) => c.status).join(', ')}`,
    );
    const second = await sfnRun(out);
    expect(second.code, second.err).toBe(0);
    expect(second.err).toContain('2 already in');
    expect(second.err).toContain('2 to run on Step Functions');
    const resumed = rows(out);
    const reference = rows(join(work, 'sfn'));
    expect(resumed.size).toBe(4);
    for (const [key, row] of resumed)
      expect(deterministic(row), key).toEqual(deterministic(reference.get(key) as CellRow));
  });

  it('the cell function refuses a malformed event and writes nothing', async () => {
    const { lambda, s3 } = clients();
    const r = await lambda.send(
      new InvokeCommand({
        FunctionName: outputs.ExperimentCellFunctionName,
        Payload: Buffer.from(
          JSON.stringify({ cell: { key: 'x', policy: 'sometimes' }, resultPrefix: 'runs/bad/results/' }),
        ),
      }),
    );
    expect(r.FunctionError).toBe('Unhandled');
    expect(Buffer.from(r.Payload ?? []).toString()).toContain('cell.policy must be none, fixed or adaptive');
    const listed = await s3.send(
      new ListObjectsV2Command({ Bucket: outputs.ExperimentBucketName, Prefix: 'runs/bad/' }),
    );
    expect(listed.KeyCount ?? 0).toBe(0);
  });

  it('a missing stack is one clear line, exit 1, and no folder', async () => {
    const out = join(work, 'missing');
    const r = await cli(
      ['experiment', file, '--out', out, '--backend', 'stepfunctions', '--stack', `NoSuchStack-${runId}`],
      { env },
    );
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(
      /experiment stack NoSuchStack-[a-z0-9]+ is not deployed on http:\/\/127\.0\.0\.1:\d+: deploy it with/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('the execution of the first run is described as succeeded with no error', async () => {
    const list = await sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: outputs.ExperimentStateMachineArn,
        statusFilter: 'SUCCEEDED',
      }),
    );
    const first = list.executions?.[0];
    expect(first?.executionArn).toBeDefined();
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn: first?.executionArn }));
    expect(d.status).toBe('SUCCEEDED');
    expect(d.error).toBeUndefined();
  });
});
