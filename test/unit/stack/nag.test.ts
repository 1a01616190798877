import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { ColoStack } from '../../../lib/colo-stack.ts';
import { TEST_CONTEXT } from './helpers.ts';

/** cdk-nag 3 is a policy-validation plugin: its findings are violations, not annotations. */
function violations(app: App) {
  return new AwsSolutionsChecks(app, { verbose: true })
    .validateScope(app)
    .violations.filter((v) => v.ruleName.startsWith('AwsSolutions-'))
    .map((v) => ({
      rule: v.ruleName,
      severity: v.severity,
      at: v.violatingResources.map((r) => r.constructPath),
    }));
}

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged error or warning on the stack', () => {
    const app = new App({ builtinCloudFormationValidation: false, context: TEST_CONTEXT });
    new ColoStack(app, 'Nag');
    expect(violations(app)).toEqual([]);
  });

  it('does report findings when they are not acknowledged (the check is live)', () => {
    const app = new App({ builtinCloudFormationValidation: false });
    const stack = new Stack(app, 'Bare');
    new s3.Bucket(stack, 'Open');
    const rules = violations(app).map((v) => v.rule);
    expect(rules).toContain('AwsSolutions-S1');
    expect(rules).toContain('AwsSolutions-S10');
  });

  it('acknowledges every rule with a reason', () => {
    const app = new App({ builtinCloudFormationValidation: false, context: TEST_CONTEXT });
    const stack = new ColoStack(app, 'Ack');
    const acks: { id: string; reason: string }[] = [];
    for (const construct of stack.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) {
          for (const [id, reason] of Object.entries(entry.data as Record<string, string>))
            acks.push({ id, reason });
        }
      }
    }
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) expect(ack.reason.length, ack.id).toBeGreaterThan(40);
    const ids = new Set(acks.map((a) => a.id.replace(/^annotation::/i, '').replace(/\[.*$/, '')));
    expect([...ids].sort()).toEqual([
      'AwsSolutions-IAM5',
      'AwsSolutions-L1',
      'AwsSolutions-S1',
      'AwsSolutions-SMG4',
    ]);
  });

  it("passes a full synthesis with the nag plugin and CDK's built-in CloudFormation validation", () => {
    const outdir = mkdtempSync(join(tmpdir(), 'colo-nag-'));
    try {
      const app = new App({ outdir, context: TEST_CONTEXT });
      new ColoStack(app, 'Full');
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      const assembly = app.synth();
      const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'));
      expect(report.pluginReports).toEqual([]);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
