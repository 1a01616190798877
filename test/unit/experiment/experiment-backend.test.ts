/**
 * `colo experiment --backend`: flag checks, the Step Functions runner wired into the same recording and
 * outputs (a stand-in runner here; the real one runs on LocalStack in test/integration), a missing stack
 * refused before anything is written, and no stack lookup when nothing is left to run.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StepFunctionsRunnerRequest } from '../../../src/cli/experiment-command.ts';
import { inProcessCellRunner } from '../../../src/experiment/pool.ts';
import { ExperimentStackError } from '../../../src/experiment/stepfunctions/backend.ts';
import { cli } from '../cli/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'colo-experiment-backend-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = join(dir, 'two.yaml');
writeFileSync(
  file,
  `
name: two
base:
  guest: 4MiB
  duration: 12s
  checkpointDelay: 3s
  payload: modelled
  workload: hotcold:hotPages=64,hotRate=500,coldRate=200
grid:
  policy: [none, fixed]
`,
);

function keys(out: string): string[] {
  return readFileSync(join(out, 'cells.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { key: string }).key)
    .sort();
}

/** A stand-in for the deployed stack: runs the cells here, records what it was asked for. */
function fakeStack() {
  const requests: StepFunctionsRunnerRequest[] = [];
  let started = 0;
  return {
    requests,
    started: () => started,
    factory: async (r: StepFunctionsRunnerRequest) => {
      requests.push(r);
      const inner = inProcessCellRunner();
      return {
        ...inner,
        slots: Number.MAX_SAFE_INTEGER,
        describe: (n: number) => `on Step Functions (stand-in, ${n} cells)`,
        start: (...a: Parameters<typeof inner.start>) => {
          started++;
          return inner.start(...a);
        },
      };
    },
  };
}

describe('colo experiment --backend', () => {
  it.each([
    [
      ['--backend', 'lambda'],
      /--backend: "lambda" is not a backend of colo experiment: use embedded or stepfunctions/,
    ],
    [['--stack', 'Exp'], /--stack needs --backend stepfunctions/],
    [['--endpoint', 'http://127.0.0.1:4566'], /--endpoint needs --backend stepfunctions/],
    [['--backend', 'stepfunctions', '--jobs', '2'], /--jobs applies to the embedded backend/],
    [
      ['--backend', 'stepfunctions', '--stack', '9lives'],
      /--stack: "9lives" is not a CloudFormation stack name/,
    ],
    [
      ['--backend', 'stepfunctions', '--endpoint', 'ftp://x'],
      /--endpoint: "ftp:\/\/x" is not an http\(s\) URL/,
    ],
  ])('refuses %j with one line and writes nothing', async (flags, message) => {
    const out = join(dir, 'refused');
    const stack = fakeStack();
    const r = await cli(['experiment', file, '--out', out, ...flags], { stepFunctionsRunner: stack.factory });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
    expect(stack.requests).toHaveLength(0);
  });

  it('a missing stack is one line, exit 1, and no folder', async () => {
    const out = join(dir, 'missing');
    const r = await cli(['experiment', file, '--out', out, '--backend', 'stepfunctions'], {
      stepFunctionsRunner: async (req) => {
        throw new ExperimentStackError(
          `--stack: experiment stack ${req.stack} is not deployed on AWS: deploy it`,
        );
      },
    });
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(
      'colo: --stack: experiment stack ColoExperiments is not deployed on AWS: deploy it',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('records the cells the Step Functions runner returns exactly as the embedded backend does', async () => {
    const stack = fakeStack();
    const sfnOut = join(dir, 'sfn');
    const r = await cli(
      ['experiment', file, '--out', sfnOut, '--backend', 'stepfunctions', '--stack', 'Exp2', '--no-png'],
      { stepFunctionsRunner: stack.factory },
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('2 to run on Step Functions (stand-in, 2 cells)');
    expect(stack.requests).toEqual([expect.objectContaining({ stack: 'Exp2', name: 'two' })]);
    const embedded = await cli(['experiment', file, '--out', join(dir, 'embedded'), '--no-png', '--quiet']);
    expect(embedded.code).toBe(0);
    expect(keys(sfnOut)).toEqual(keys(join(dir, 'embedded')));
    expect(existsSync(join(sfnOut, 'summary.md'))).toBe(true);

    // Everything done: the rerun neither looks the stack up nor starts a cell.
    const again = fakeStack();
    const r2 = await cli(['experiment', file, '--out', sfnOut, '--backend', 'stepfunctions', '--no-png'], {
      stepFunctionsRunner: again.factory,
    });
    expect(r2.code).toBe(0);
    expect(r2.err).toContain('nothing to run');
    expect(again.requests).toHaveLength(0);
    expect(again.started()).toBe(0);
  });

  it('--dry-run does not contact the stack', async () => {
    const stack = fakeStack();
    const r = await cli(['experiment', file, '--backend', 'stepfunctions', '--dry-run'], {
      stepFunctionsRunner: stack.factory,
    });
    expect(r.code).toBe(0);
    expect(r.out).toContain('2 to run');
    expect(stack.requests).toHaveLength(0);
  });
});
