/**
 * The Step Functions cell runner against mocked SDK clients: what it uploads and starts, how it collects
 * results across polls (surviving failed polls), and how it ends — a failed execution, an interruption,
 * an oversized inline input, a missing stack.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { CellJob, CellResult } from '../../../src/experiment/cell-run.ts';
import {
  cellsJson,
  ExperimentStackError,
  findExperimentStack,
  newRunId,
  type StepFunctionsClients,
  stepFunctionsCellRunner,
} from '../../../src/experiment/stepfunctions/backend.ts';
import { type ExecutionInput, RUN_ID_PATTERN } from '../../../src/experiment/stepfunctions/contract.ts';

const s3 = mockClient(S3Client);
const sfn = mockClient(SFNClient);
const cfn = mockClient(CloudFormationClient);
const clients: StepFunctionsClients = {
  s3: new S3Client({ region: 'us-east-1' }),
  sfn: new SFNClient({ region: 'us-east-1' }),
  cloudformation: new CloudFormationClient({ region: 'us-east-1' }),
  where: 'http://emulator',
};
const target = { stackName: 'Exp', bucket: 'b', stateMachineArn: 'arn:sm', mapKind: 'distributed' as const };
const RUN = 'tiny-abc-000001';
const PREFIX = `runs/${RUN}/results/`;

function job(key: string, policy: CellJob['policy'] = 'none'): CellJob {
  return { key, policy, scenario: { name: key, durationMs: 1000 } as unknown as CellJob['scenario'] };
}

function result(key: string, policy = 'none', checkpoints = 3): string {
  return JSON.stringify({
    key,
    policy,
    verdict: 'consistent',
    outcome: 'replicating',
    metrics: { checkpoints },
    simulatedMs: 1000,
    wallMs: 5,
  });
}

/** A bucket whose result objects appear poll by poll. */
function results(schedule: string[][]): { written: Map<string, string> } {
  const written = new Map<string, string>();
  let poll = 0;
  s3.on(ListObjectsV2Command).callsFake(() => {
    for (const key of schedule[poll] ?? []) written.set(`${PREFIX}${key}.json`, result(key));
    poll++;
    return { Contents: [...written.keys()].map((Key) => ({ Key })) };
  });
  s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const text = written.get(input.Key) ?? '';
    return { Body: { transformToString: async () => text } };
  });
  return { written };
}

function runner(extra: Partial<Parameters<typeof stepFunctionsCellRunner>[0]> = {}) {
  const notes: string[] = [];
  const r = stepFunctionsCellRunner({
    clients,
    target,
    runId: RUN,
    pollMs: 0,
    sleep: async () => {},
    note: (l) => notes.push(l),
    ...extra,
  });
  return { r, notes };
}

beforeEach(() => {
  s3.reset();
  sfn.reset();
  cfn.reset();
  s3.on(PutObjectCommand).resolves({});
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec' });
  stopsIgnored = 0;
  let stopped = false;
  sfn.on(DescribeExecutionCommand).callsFake(() => ({ status: stopped ? 'ABORTED' : 'RUNNING' }));
  // The first `stopsIgnored` stops are answered and change nothing (LocalStack 4.13.1, for a stop that
  // reaches an execution still being set up).
  sfn.on(StopExecutionCommand).callsFake(() => {
    if (stopsIgnored > 0) stopsIgnored--;
    else stopped = true;
    return {};
  });
});

/** A wait that lets timers run (a poll loop on mocks that resolve at once would otherwise never yield). */
const yieldTurn = () => new Promise<void>((r) => setImmediate(r));

/** Starts one cell, interrupts it once its execution has started, and closes the runner. */
async function interruptOne(r: ReturnType<typeof runner>['r']): Promise<void> {
  const a = r.start(job('a'), () => {});
  await new Promise((res) => setTimeout(res, 10));
  a.cancel();
  await expect(a.result).rejects.toThrow('cancelled');
  await r.close();
}

/** Stop requests the mocked service answers without stopping anything. */
let stopsIgnored = 0;

describe('stepFunctionsCellRunner', () => {
  it('uploads the cells, starts one execution named after the run and resolves each cell as its result appears', async () => {
    results([[], ['a'], ['b', 'c']]);
    const { r } = runner();
    const started = ['a', 'b', 'c'].map((k) => r.start(job(k), () => {}));
    const got = await Promise.all(started.map((s) => s.result));
    expect(got.map((g: CellResult) => g.metrics.checkpoints)).toEqual([3, 3, 3]);
    expect(got[0]).not.toHaveProperty('key');
    const put = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(put?.Key).toBe(`runs/${RUN}/cells.json`);
    expect(JSON.parse(String(put?.Body)).map((c: CellJob) => c.key)).toEqual(['a', 'b', 'c']);
    const start = sfn.commandCalls(StartExecutionCommand);
    expect(start).toHaveLength(1);
    expect(start[0]?.args[0].input.name).toBe(RUN);
    const input = JSON.parse(start[0]?.args[0].input.input ?? '{}') as ExecutionInput;
    expect(input).toEqual({ bucket: 'b', cellsKey: `runs/${RUN}/cells.json`, resultPrefix: PREFIX });
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(0);
    await r.close();
  });

  it('a second cell of a key already running is refused at once (it would never settle) and the first still does', async () => {
    results([['a']]);
    const { r } = runner();
    const first = r.start(job('a'), () => {});
    const twin = r.start(job('a'), () => {});
    await expect(twin.result).rejects.toThrow(/cell a is already running/);
    await expect(first.result).resolves.toMatchObject({ verdict: 'consistent' });
    const put = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(JSON.parse(String(put?.Body)).map((c: CellJob) => c.key)).toEqual(['a']);
    await r.close();
  });

  it('survives failed polls and says so', async () => {
    let calls = 0;
    const written = new Map<string, string>([[`${PREFIX}a.json`, result('a')]]);
    s3.on(ListObjectsV2Command).callsFake(() => {
      calls++;
      if (calls <= 2) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
      return { Contents: [...written.keys()].map((Key) => ({ Key })) };
    });
    s3.on(GetObjectCommand).callsFake((i: { Key: string }) => ({
      Body: { transformToString: async () => written.get(i.Key) ?? '' },
    }));
    const { r, notes } = runner();
    const a = await r.start(job('a'), () => {}).result;
    expect(a.verdict).toBe('consistent');
    expect(notes.filter((n) => /polling failed \(\d+\/10\): socket hang up; retrying/.test(n))).toHaveLength(
      2,
    );
  });

  it('gives up after too many failed polls in a row', async () => {
    s3.on(ListObjectsV2Command).rejects(new Error('connection refused'));
    const { r } = runner({ maxPollFailures: 3 });
    await expect(r.start(job('a'), () => {}).result).rejects.toThrow(
      /failed 3 times in a row: connection refused/,
    );
  });

  it('a failed execution fails the cells without results, naming its error and cause', async () => {
    results([['a']]);
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ status: 'FAILED', error: 'States.TaskFailed', cause: 'boom' });
    const { r } = runner();
    const a = r.start(job('a'), () => {});
    const b = r.start(job('b'), () => {});
    await expect(a.result).resolves.toMatchObject({ verdict: 'consistent' });
    await expect(b.result).rejects.toThrow(
      /ended FAILED \(States\.TaskFailed: boom\) without results for 1 cell\(s\), e\.g\. b/,
    );
  });

  it('refuses a result of another policy than the cell ran', async () => {
    const written = new Map([[`${PREFIX}a.json`, result('a', 'fixed')]]);
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: `${PREFIX}a.json` }] });
    s3.on(GetObjectCommand).callsFake((i: { Key: string }) => ({
      Body: { transformToString: async () => written.get(i.Key) ?? '' },
    }));
    const { r } = runner();
    await expect(r.start(job('a', 'none'), () => {}).result).rejects.toThrow(/ran policy fixed, not none/);
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(1);
  });

  it('cancel stops the execution and rejects the cells', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { r } = runner({ sleep: () => gate });
    const a = r.start(job('a'), () => {});
    await new Promise((res) => setTimeout(res, 10));
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
    a.cancel();
    await expect(a.result).rejects.toThrow('cancelled');
    release();
    await r.close();
    const stop = sfn.commandCalls(StopExecutionCommand);
    expect(stop).toHaveLength(1);
    expect(stop[0]?.args[0].input.executionArn).toBe('arn:exec');
  });

  it('an interruption while the execution is being started stops it as soon as it has started', async () => {
    let started: () => void = () => {};
    sfn
      .on(StartExecutionCommand)
      .callsFake(() => new Promise((res) => (started = () => res({ executionArn: 'arn:late' }))));
    const { r } = runner();
    const a = r.start(job('a'), () => {});
    await new Promise((res) => setTimeout(res, 10));
    a.cancel();
    await expect(a.result).rejects.toThrow('cancelled');
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(0);
    const closing = r.close();
    started();
    await closing;
    const stop = sfn.commandCalls(StopExecutionCommand);
    expect(stop).toHaveLength(1);
    expect(stop[0]?.args[0].input.executionArn).toBe('arn:late');
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(0);
  });

  it('a stop the service answers without stopping is asked again until the execution reads ended', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    stopsIgnored = 2;
    const waits: number[] = [];
    const { r, notes } = runner({
      sleep: (ms) => {
        waits.push(ms);
        return yieldTurn();
      },
      stopRetryMs: 1000,
      stopCheckMs: 250,
    });
    await interruptOne(r);
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(3);
    // Each ignored stop is read four times, 250 ms apart, before the next one is asked.
    expect(waits.filter((ms) => ms === 250)).toHaveLength(6);
    expect(notes.join('\n')).not.toContain('could not stop');
    expect(r.quitNote()).toBeUndefined();
  });

  it('a stop request that never answers is given up on within the budget, naming the command', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    sfn.on(StopExecutionCommand).callsFake(() => new Promise(() => {}));
    const { r, notes } = runner({
      sleep: (ms) => new Promise((res) => setTimeout(res, Math.min(ms, 5))),
      stopCallTimeoutMs: 20,
      stopBudgetMs: 150,
    });
    const a = r.start(job('a'), () => {});
    await new Promise((res) => setTimeout(res, 10));
    a.cancel();
    await expect(a.result).rejects.toThrow('cancelled');
    // While the stop is still being made, a quit names the command that stops it.
    expect(r.quitNote()).toBe(
      'execution arn:exec may still be running; stop it with: aws stepfunctions stop-execution --execution-arn arn:exec --endpoint-url http://emulator',
    );
    await r.close();
    const line = notes.find((n) => n.startsWith('could not stop'));
    expect(line).toMatch(
      /^could not stop arn:exec \(\d+ requests in \d+ ms; last: no answer in 20 ms\); stop it with/,
    );
    expect(sfn.commandCalls(StopExecutionCommand).length).toBeGreaterThanOrEqual(1);
  });

  it('a cell cancelled while its cells are uploaded starts no execution', async () => {
    let uploaded: () => void = () => {};
    s3.on(PutObjectCommand).callsFake(() => new Promise((res) => (uploaded = () => res({}))));
    const { r } = runner();
    const a = r.start(job('a'), () => {});
    await new Promise((res) => setTimeout(res, 10));
    a.cancel();
    await expect(a.result).rejects.toThrow('cancelled');
    const closing = r.close();
    uploaded();
    await closing;
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(r.quitNote()).toBeUndefined();
  });

  it('a failed stop request is made again', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    let failures = 1;
    let stopped = false;
    sfn.on(StopExecutionCommand).callsFake(() => {
      if (failures-- > 0) throw Object.assign(new Error('InternalError'), { name: 'InternalError' });
      stopped = true;
      return {};
    });
    sfn.on(DescribeExecutionCommand).callsFake(() => ({ status: stopped ? 'ABORTED' : 'RUNNING' }));
    const { r, notes } = runner({ sleep: yieldTurn });
    await interruptOne(r);
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(2);
    expect(notes.join('\n')).not.toContain('could not stop');
  });

  it('an execution that keeps running after every stop request is named with the command that stops it', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    stopsIgnored = Number.POSITIVE_INFINITY;
    const { r, notes } = runner({ maxStopRequests: 3, sleep: yieldTurn });
    await interruptOne(r);
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(3);
    expect(notes.join('\n')).toMatch(
      /could not stop arn:exec \(3 requests in \d+ ms; last: it still reads RUNNING\); stop it with: aws stepfunctions stop-execution --execution-arn arn:exec --endpoint-url http:\/\/emulator/,
    );
  });

  it('an inline map gets the cells in the execution input, and too many of them are refused before anything starts', async () => {
    results([['a']]);
    const inline = { ...target, mapKind: 'inline' as const };
    const { r } = runner({ target: inline });
    await r.start(job('a'), () => {}).result;
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}');
    expect(input.cells.map((c: CellJob) => c.key)).toEqual(['a']);

    sfn.resetHistory();
    const big = runner({ target: inline }).r;
    const many = Array.from({ length: 300 }, (_, i) => {
      const j = job(`k${i}`);
      (j.scenario as unknown as Record<string, unknown>).pad = 'x'.repeat(1000);
      return big.start(j, () => {}).result;
    });
    await expect(many[0]).rejects.toThrow(
      /over Step Functions' 256 KiB: .*redeploy it with -c mapKind=distributed/,
    );
    await Promise.allSettled(many);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});

describe('cellsJson and newRunId', () => {
  it('refuses a cell that does not survive JSON', () => {
    const j = job('a');
    (j.scenario as unknown as Record<string, unknown>).durationMs = Number.POSITIVE_INFINITY;
    expect(() => cellsJson([job('ok'), j])).toThrow(/cell a does not survive JSON/);
    expect(JSON.parse(cellsJson([job('ok')]))).toEqual([job('ok')]);
  });

  it('makes execution names from the experiment name', () => {
    const id = newRunId('Threshold_sweep.v2', Date.UTC(2026, 10, 30), () => 0.5);
    expect(id).toMatch(RUN_ID_PATTERN);
    expect(id.startsWith('threshold-sweep-v2-')).toBe(true);
    expect(newRunId('x'.repeat(64), 0, () => 0)).toMatch(RUN_ID_PATTERN);
  });
});

describe('findExperimentStack', () => {
  const outputs = [
    { OutputKey: 'ExperimentBucketName', OutputValue: 'b' },
    { OutputKey: 'ExperimentStateMachineArn', OutputValue: 'arn:sm' },
    { OutputKey: 'ExperimentCellFunctionName', OutputValue: 'f' },
    { OutputKey: 'ExperimentMapKind', OutputValue: 'distributed' },
  ];

  it('reads the outputs of a complete stack', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        { StackName: 'Exp', StackStatus: 'CREATE_COMPLETE', Outputs: outputs, CreationTime: new Date() },
      ],
    });
    await expect(findExperimentStack(clients, 'Exp')).resolves.toEqual(target);
  });

  it('says how to deploy a missing stack', async () => {
    cfn.on(DescribeStacksCommand).rejects(new Error('Stack with id Exp does not exist'));
    await expect(findExperimentStack(clients, 'Exp')).rejects.toThrow(ExperimentStackError);
    await expect(findExperimentStack(clients, 'Exp')).rejects.toThrow(
      /experiment stack Exp is not deployed on http:\/\/emulator: deploy it with `AWS_ENDPOINT_URL=http:\/\/emulator npm run deploy:experiments:local -- -c experimentStack=Exp`/,
    );
  });

  it('refuses a stack that is not an experiment stack or not complete', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'Colo', StackStatus: 'CREATE_COMPLETE', Outputs: [], CreationTime: new Date() }],
    });
    await expect(findExperimentStack(clients, 'Colo')).rejects.toThrow(
      /has no output ExperimentMapKind: is it an experiment stack/,
    );
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        { StackName: 'Exp', StackStatus: 'ROLLBACK_COMPLETE', Outputs: outputs, CreationTime: new Date() },
      ],
    });
    await expect(findExperimentStack(clients, 'Exp')).rejects.toThrow(/is ROLLBACK_COMPLETE/);
  });

  it('reports an unreachable endpoint as such', async () => {
    cfn.on(DescribeStacksCommand).rejects(new Error('connect ECONNREFUSED 127.0.0.1:1'));
    await expect(findExperimentStack(clients, 'Exp')).rejects.toThrow(
      /cannot reach CloudFormation on http:\/\/emulator: connect ECONNREFUSED/,
    );
  });
});
