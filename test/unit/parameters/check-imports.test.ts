/** The import-rule check (scripts/check-imports.mjs) passes on the repository and catches each kind of violation. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module script without type declarations
import { check, KNOWN } from '../../../scripts/check-imports.mjs';

const root = mkdtempSync(join(tmpdir(), 'colo-imports-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function put(path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

describe('check-imports', () => {
  it('passes on this repository (with its listed known violations)', () => {
    expect(check(new URL('../../..', import.meta.url).pathname, KNOWN)).toEqual([]);
  });

  it('fails on an upward import, AWS or the wall clock in the engine, and test tooling in a function bundle', () => {
    put('src/engine/params.ts', "import { x } from '../cli/options.ts';\nexport const y = x;\n");
    put('src/engine/clock.ts', 'export const now = () => Date.now();\n');
    put('src/engine/aws.ts', "import { S3Client } from '@aws-sdk/client-s3';\nexport const c = S3Client;\n");
    put('src/wire/ok.ts', "import { y } from '../engine/params.ts';\nexport const z = y;\n");
    put('src/runtime/cloud/report.ts', "import type { R } from '../../cli/report.ts';\nexport type S = R;\n");
    put('src/cli/options.ts', 'export const x = 1;\n');
    put('lambda/handlers/primary.ts', "import { h } from './common/hook.ts';\nexport const handler = h;\n");
    put(
      'lambda/handlers/common/hook.ts',
      "import { s } from '../../../src/runtime/localstack/step.ts';\nexport const h = s;\n",
    );
    put('src/runtime/localstack/step.ts', 'export const s = 1;\n');
    put(
      'lib/stack.ts',
      "import { handler } from '../lambda/handlers/primary.ts';\nexport const k = handler;\n",
    );
    const problems: string[] = check(root, {});
    expect(problems).toEqual(
      expect.arrayContaining([
        'src/engine/params.ts (engine) imports src/cli/options.ts (shell): an upward import',
        'src/engine/clock.ts: the engine reads the wall clock',
        'src/engine/aws.ts: the engine imports @aws-sdk/client-s3 (no AWS in the engine)',
        'src/runtime/cloud/report.ts (runtime) imports src/cli/report.ts (shell): an upward import',
        'lambda/handlers/primary.ts: its function bundle includes src/runtime/localstack/step.ts (test or replay tooling)',
      ]),
    );
    expect(problems).toHaveLength(5);
    // A known violation that no longer occurs is reported too.
    expect(check(root, { 'src/wire/gone.ts → src/cli/x.ts': 'fixed' })).toContain(
      'known violation no longer occurs, remove it from KNOWN: src/wire/gone.ts → src/cli/x.ts',
    );
  });

  it('also catches a side-effect import, the clock through process.hrtime, and files outside every layer', () => {
    const r = mkdtempSync(join(tmpdir(), 'colo-imports-more-'));
    try {
      const at = (path: string, text: string) => {
        mkdirSync(dirname(join(r, path)), { recursive: true });
        writeFileSync(join(r, path), text);
      };
      at('src/engine/side.ts', "import '../cli/main.ts';\nexport const a = 1;\n");
      at('src/engine/chart.ts', "import { c } from '../report/chart.ts';\nexport const b = c;\n");
      at('src/engine/hr.ts', 'export const t = () => process.hrtime.bigint();\n');
      at('src/engine/ok.ts', 'export const d = (ms: number) => new Date(ms);\n');
      at('src/experiment/axes.ts', "import { S } from '../../lib/stack.ts';\nexport const e = S;\n");
      at('src/newfolder/x.ts', 'export const f = 1;\n');
      at('src/cli/main.ts', 'export const g = 1;\n');
      at('src/report/chart.ts', 'export const c = 1;\n');
      at('lib/stack.ts', 'export const S = 1;\n');
      expect(check(r, {}).sort()).toEqual(
        [
          'src/engine/side.ts (engine) imports src/cli/main.ts (shell): an upward import',
          'src/engine/chart.ts (engine) imports src/report/chart.ts (runtime): an upward import',
          'src/engine/hr.ts: the engine reads the wall clock',
          'src/experiment/axes.ts (shell) imports lib/stack.ts (cdk): an upward import',
          'src/newfolder/x.ts: in no layer (add its folder to LAYERS in scripts/check-imports.mjs)',
        ].sort(),
      );
    } finally {
      rmSync(r, { recursive: true, force: true });
    }
  });
});
