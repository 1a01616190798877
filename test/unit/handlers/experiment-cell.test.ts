/**
 * The `experiment-cell` handler: runs the cell it is given with the embedded backend's own `runCell` and
 * writes the result where the run's prefix says; refuses malformed events before running anything; turns
 * a failed write into the retried `ResultWriteError`.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createExperimentCellHandler, ResultWriteError } from '../../../lambda/handlers/experiment-cell.ts';
import { resolveScenario } from '../../../src/cli/scenario.ts';
import { type CellJob, runCell } from '../../../src/experiment/cell-run.ts';
import { cellKey } from '../../../src/experiment/grid.ts';
import { parseCellResult } from '../../../src/experiment/stepfunctions/contract.ts';

const s3 = mockClient(S3Client);
const client = new S3Client({ region: 'us-east-1' });
const scenario = resolveScenario({
  guest: '4MiB',
  duration: '12s',
  checkpointDelay: '3s',
  payload: 'modelled',
  workload: 'hotcold:hotPages=64,hotRate=500,coldRate=200',
  seed: 5,
});
const job: CellJob = { key: cellKey(scenario, 'fixed'), scenario, policy: 'fixed' };
const event = { cell: JSON.parse(JSON.stringify(job)), resultPrefix: 'runs/r-1/results/' };

beforeEach(() => s3.reset());

describe('experiment-cell', () => {
  it('writes the figures runCell gives for the same cell', async () => {
    s3.on(PutObjectCommand).resolves({});
    const handler = createExperimentCellHandler({ s3: client, bucket: 'b' });
    const r = await handler(event);
    expect(r).toMatchObject({ key: job.key, resultKey: `runs/r-1/results/${job.key}.json` });
    const put = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(put?.Bucket).toBe('b');
    expect(put?.Key).toBe(`runs/r-1/results/${job.key}.json`);
    const written = parseCellResult(String(put?.Body), job.key);
    const local = runCell(job);
    const { simPerWall: _a, ...remote } = written.metrics;
    const { simPerWall: _b, ...here } = local.metrics;
    // As cells.jsonl holds them: through JSON (a single VM's NaN fleet figures are null there too).
    expect(remote).toEqual(JSON.parse(JSON.stringify(here)));
    expect(written.metrics.checkpoints).toBeGreaterThan(0);
    expect(written.verdict).toBe(local.verdict);
    expect(written.policy).toBe('fixed');
  });

  it.each([
    [null, /not an object/],
    [{ ...event, resultPrefix: 'state/x/' }, /resultPrefix must be runs\/<run id>\/results\//],
    [{ ...event, cell: { ...event.cell, key: '../x' } }, /cell\.key must be/],
    [
      { ...event, cell: { ...event.cell, policy: 'sometimes' } },
      /cell\.policy must be none, fixed or adaptive/,
    ],
    [{ ...event, cell: { ...event.cell, scenario: 'x' } }, /cell\.scenario is not an object/],
  ])('refuses a malformed event (%#) before running or writing anything', async (bad, message) => {
    let ran = 0;
    const handler = createExperimentCellHandler({
      s3: client,
      bucket: 'b',
      run: (j) => {
        ran++;
        return runCell(j);
      },
    });
    await expect(handler(bad)).rejects.toThrow(message);
    expect(ran).toBe(0);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('a failed write is a ResultWriteError (the state machine retries it)', async () => {
    s3.on(PutObjectCommand).rejects(new Error('SlowDown'));
    const handler = createExperimentCellHandler({ s3: client, bucket: 'b' });
    const e = await handler(event).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ResultWriteError);
    expect((e as Error).name).toBe('ResultWriteError');
    expect((e as Error).message).toMatch(/writing s3:\/\/b\/runs\/r-1\/results\/.*\.json failed: SlowDown/);
  });
});
