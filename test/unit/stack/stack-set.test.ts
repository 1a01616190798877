import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ColoStack } from '../../../lib/colo-stack.ts';
import { parseStackSet, readStackSet, StackSetError } from '../../../lib/stack-set.ts';
import { SOAK_STACK_CONTEXT } from '../../../src/runtime/localstack/soak.ts';
import { TEST_CONTEXT } from './helpers.ts';

describe('stack sets', () => {
  it('parses stack name → context, in file order', () => {
    expect(parseStackSet('{"Colo-a":{"vmId":"a","seed":3},"Colo-b":{}}', 'x.json')).toEqual([
      { stackName: 'Colo-a', context: { vmId: 'a', seed: 3 } },
      { stackName: 'Colo-b', context: {} },
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'stack-set-'));
    writeFileSync(join(dir, 'set.json'), '{"One":{"vmId":"one"}}');
    expect(readStackSet(join(dir, 'set.json'))).toEqual([{ stackName: 'One', context: { vmId: 'one' } }]);
  });

  it.each([
    ['[]', /must be an object of stack name/],
    ['{}', /names no stack/],
    ['not json', /is not JSON/],
    ['{"1bad":{}}', /"1bad" is not a CloudFormation stack name/],
    ['{"A":[1]}', /the context of A must be an object/],
    ['{"A":{"stackName":"B"}}', /may not set stackName/],
    ['{"A":{"vmId":"v"},"B":{"vmId":"v"}}', /A and B share vmId v/],
    [
      '{"A":{"checkpointDelay":5000}}',
      /^stack set set\.json: A: "checkpointDelay" is not a stack parameter: did you mean checkpointDelayMs \(ms\)\?$/,
    ],
    ['{"A":{"colour":"red"}}', /: A: "colour" is not a stack parameter \(docs\/parameters\.md lists them\)$/],
  ])('refuses %s', (text, message) => {
    expect(() => parseStackSet(text, 'set.json')).toThrow(StackSetError);
    expect(() => parseStackSet(text, 'set.json')).toThrow(message);
  });

  it('the stack sets the tests and the soak deploy hold only stack parameters', () => {
    const file = new URL('../../integration/colo-it-stacks.json', import.meta.url);
    expect(readStackSet(file.pathname).map((e) => e.stackName)).toHaveLength(4);
    expect(() =>
      parseStackSet(JSON.stringify({ Soak: { ...SOAK_STACK_CONTEXT, vmId: 'soak' } }), 'soak.json'),
    ).not.toThrow();
  });

  it('refuses a missing file with its path', () => {
    expect(() => readStackSet('/nonexistent/set.json')).toThrow(
      /cannot read stack set \/nonexistent\/set.json/,
    );
  });

  it('a stack’s own context wins over the app context for the keys it names; the rest comes from the app', () => {
    const app = new App({
      builtinCloudFormationValidation: false,
      context: { ...TEST_CONTEXT, vmId: 'app-vm', checkpointDelayMs: '7000', seed: 5 },
    });
    const a = new ColoStack(app, 'A', { context: { vmId: 'vm-a', seed: 1 } });
    const b = new ColoStack(app, 'B', { context: { vmId: 'vm-b', checkpointDelayMs: 3000 } });
    expect(a.parameters).toMatchObject({ vmId: 'vm-a', seed: 1, checkpointDelayMs: 7000 });
    expect(b.parameters).toMatchObject({ vmId: 'vm-b', seed: 5, checkpointDelayMs: 3000 });
    // Each stack's VM reaches its functions as the config its deploy registers (output VmConfigJson).
    const config = (s: ColoStack) =>
      JSON.parse(Template.fromStack(s).toJSON().Outputs.VmConfigJson.Value as string);
    expect(config(a)).toMatchObject({ vmId: 'vm-a', seed: 1, checkpointDelayMs: 7000 });
    expect(config(b)).toMatchObject({ vmId: 'vm-b', seed: 5, checkpointDelayMs: 3000 });
  });
});
