/**
 * Bad inputs, each with the one line it must produce and its exit code — flags, scenario files, output
 * paths, the stack's CDK context and the functions' environment. None may print a stack trace, and none
 * may run anything (stdout stays empty).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { paramsFromEnv } from '../../../lambda/handlers/common/params.ts';
import { ContextValidationError, DEFAULT_PARAMETERS, validateParameters } from '../../../lib/parameters.ts';
import { STACK_ENV } from '../handlers/stack-env.ts';
import { cli } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'colo-bad-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A scenario file with `content` (a string is written as it is). */
function scenarioFile(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}
const subdir = join(dir, 'a-directory');
mkdirSync(subdir);

/** [what, arguments, the one line (a pattern; `colo: ` is implied), exit code]. */
const FLAG_CASES: [string, string[], RegExp, number][] = [
  ['vm remove with a bad id (before any network call)', ['vm', 'remove', 'BAD_ID'], /^VM id must match /, 1],
  ['vm show with a bad id (before any network call)', ['vm', 'show', 'BAD_ID'], /^VM id must match /, 1],
  [
    'vm add with a __proto__ key (refused before any network call)',
    ['vm', 'add', 'vm-1', '--set', '__proto__=1'],
    /^VM config has no key "__proto__" \(VM keys: /,
    1,
  ],
  [
    'vm: an unknown option names the vm help',
    ['vm', 'list', '--bogus'],
    /^unknown option '--bogus'; see colo vm --help$/,
    1,
  ],
  [
    'vm set with one key given twice (refused before any network call; review C: the last one won)',
    ['vm', 'set', 'vm-1', '--set', 'checkpointDelayMs=6000', '--set', 'checkpointDelayMs=7000'],
    /^--set checkpointDelayMs is given twice \("6000" and "7000"\): give it once$/,
    1,
  ],
  [
    'vm set with an unknown key (refused before any network call)',
    ['vm', 'set', 'vm-1', '--set', 'foo=1'],
    /^VM config has no key "foo" \(VM keys: /,
    1,
  ],
  [
    'vm set with a bad value (refused before any network call)',
    ['vm', 'set', 'vm-1', '--set', 'checkpointDelayMs=soon'],
    /^VM config "checkpointDelayMs" must be an integer in \[1000, 3600000\] ms, got "soon"$/,
    1,
  ],
  [
    'vm add with an unknown key',
    ['vm', 'add', 'vm-1', '--set', 'foo=1'],
    /^VM config has no key "foo" \(VM keys: /,
    1,
  ],
  [
    'size without B',
    ['run', '--guest', '1G'],
    /^--guest: "1G" is ambiguous: say 1GiB \(2\^30 bytes\) or 1GB \(10\^9 bytes\)$/,
    1,
  ],
  ['size in bits', ['run', '--guest', '1Mb'], /^--guest: "1Mb" is in bits .*did you mean 1MB or 1MiB\?$/, 1],
  [
    'size in bits, lower case',
    ['run', '--threshold', '64mib'],
    /^--threshold: "64mib" is in bits .*did you mean 64MiB\?$/,
    1,
  ],
  [
    'decimal guest',
    ['run', '--guest', '1GB'],
    /^--guest: 1000000000 bytes is not a whole number of 4 KiB pages \(decimal MB and GB are not: use MiB, GiB\)$/,
    1,
  ],
  ['guest below a page', ['run', '--guest', '2KiB'], /^--guest: must be at least 4KiB$/, 1],
  [
    'bare size',
    ['run', '--threshold', '100'],
    /^--threshold: "100" has no unit: did you mean 100B \(bytes\), 100KiB or 100MiB\?$/,
    1,
  ],
  [
    'bare duration',
    ['run', '--duration', '100'],
    /^--duration: "100" has no unit: did you mean 100s or 100ms\?$/,
    1,
  ],
  ['zero duration', ['run', '--duration', '0s'], /^--duration: must be above 0ms$/, 1],
  [
    'upper-case time unit',
    ['run', '--checkpoint-delay', '10S'],
    /^--checkpoint-delay: "10S": duration units are lower-case: did you mean 10s\?$/,
    1,
  ],
  [
    'days',
    ['run', '--duration', '1d'],
    /^--duration: "1d": unknown duration unit "d": use us, ms, s, m \(or min\), h \(1d = 24h\)$/,
    1,
  ],
  [
    'negative duration',
    ['run', '--duration', '-5s'],
    /^--duration: "-5s" is negative: a duration must be 0 or more$/,
    1,
  ],
  ['zero apply timeout', ['run', '--apply-timeout', '0'], /^--apply-timeout: must be at least 1ms$/, 1],
  [
    'rate without b/B',
    ['run', '--bandwidth', '10G'],
    /^--bandwidth: "10G" is ambiguous: say 10Gbit\/s \(bits\) or 10GB\/s \(bytes\)$/,
    1,
  ],
  [
    'size as a rate',
    ['run', '--bandwidth', '100MiB'],
    /^--bandwidth: "100MiB" is a size, not a rate: did you mean 100MiB\/s \(bytes\) or 100Mibit\/s\?$/,
    1,
  ],
  ['zero rate', ['run', '--bandwidth', '0'], /^--bandwidth: must be above 0$/, 1],
  [
    'words as a rate',
    ['run', '--bandwidth', 'fast'],
    /^--bandwidth: "fast" is not a rate: expected a number with a unit, e.g. 10Gbit$/,
    1,
  ],
  ['latency too long', ['run', '--latency', '2m'], /^--latency: must be at most 1m$/, 1],
  ['fractional seed', ['run', '--seed', '1.5'], /^--seed: "1.5" is not a whole number$/, 1],
  ['negative seed', ['run', '--seed', '-1'], /^--seed: "-1" is negative$/, 1],
  ['huge seed', ['run', '--seed', '99999999999'], /^--seed: must be at most 4294967295$/, 1],
  [
    'misspelt policy',
    ['run', '--policy', 'none,fixd'],
    /^--policy: unknown policy "fixd" \(did you mean fixed\?\): use none, fixed, adaptive$/,
    1,
  ],
  [
    'empty policy',
    ['run', '--policy', 'none,,fixed'],
    /^--policy: "none,,fixed" has an empty name: use e.g. none,fixed$/,
    1,
  ],
  ['policy twice', ['run', '--policy', 'fixed,fixed'], /^--policy: names a policy twice$/, 1],
  [
    'misspelt workload',
    ['run', '--workload', 'uniformm'],
    /^--workload: unknown workload kind "uniformm" \(did you mean uniform\?\): use idle, uniform, hotcold, zipf, sequential, buffered-io$/,
    1,
  ],
  [
    'key of another kind',
    ['run', '--workload', 'hotcold:rate=5'],
    /^--workload: hotcold has no key "rate": its keys are hotPages \(pages\), hotRate \(pages\/s\), coldRate \(pages\/s\)$/,
    1,
  ],
  [
    'workload out of range',
    ['run', '--workload', 'zipf:exponent=0'],
    /^--workload exponent: must be above 0$/,
    1,
  ],
  [
    'negative workload number',
    ['run', '--workload', 'zipf:exponent=-1'],
    /^--workload: exponent: "-1" is negative \(exponent takes number\)$/,
    1,
  ],
  [
    'part of a page',
    ['run', '--workload', 'hotcold:hotPages=6KiB'],
    /^--workload: hotPages: "6KiB" is not a whole number of 4 KiB pages \(hotPages takes pages, or a size such as 16MiB\)$/,
    1,
  ],
  [
    'workload key without value',
    ['run', '--workload', 'hotcold:hotPages'],
    /^--workload: "hotPages" should be key=value; hotcold: its keys are /,
    1,
  ],
  [
    'secondary mode',
    ['run', '--secondary', 'active'],
    /^--secondary: "active" is not a mode: use passive, or running\[\/workload\]$/,
    1,
  ],
  [
    'passive with a workload',
    ['run', '--secondary', 'passive/uniform'],
    /^--secondary: a passive secondary runs no workload: use running\/<workload>$/,
    1,
  ],
  [
    'payload mode',
    ['run', '--payload', 'real'],
    /^--payload: "real" is not one of materialised, modelled$/,
    1,
  ],
  [
    'probability above 100%',
    ['run', '--faults', 'lose=150%'],
    /^--faults: lose: "150%" is not a probability: it must be between 0% and 100%/,
    1,
  ],
  ['unknown fault key', ['run', '--faults', 'boom=1'], /^--faults: unknown key "boom": use lose, /, 1],
  ['empty fault window', ['run', '--faults', 'window=-'], /^--faults: window: "-" names neither end/, 1],
  [
    'bare fault duration',
    ['run', '--faults', 'redelivery=100'],
    /^--faults: redelivery: "100" is not a duration: "100" has no unit: did you mean 100s or 100ms\?/,
    1,
  ],
  [
    'heartbeat timeout under the interval',
    ['run', '--heartbeat-timeout', '1s'],
    /^--heartbeat-timeout: the heartbeat timeout \(1s\) must exceed the heartbeat interval \(1s\), or be 0 to never fail over on silence$/,
    1,
  ],
  [
    'page shares above 1',
    ['run', '--zero-pages', '60%', '--compressible-pages', '50%'],
    /^--compressible-pages: zeroPages \+ compressiblePages must be at most 1$/,
    1,
  ],
  ['rate in words', ['run', '--miscompare-rate', 'lots'], /^--miscompare-rate: "lots" is not a number$/, 1],
  [
    'misspelt flag',
    ['run', '--gust', '1GiB'],
    /^unknown option '--gust' \(did you mean --guest\?\); see colo run --help$/,
    1,
  ],
  [
    'flag without value',
    ['run', '--guest'],
    /^option '--guest <size>' argument missing; see colo run --help$/,
    1,
  ],
  [
    'stray argument',
    ['run', 'extra'],
    /^too many arguments for 'run'\. Expected 0 arguments but got 1; see colo run --help$/,
    1,
  ],
  ['misspelt command', ['rn'], /^unknown command 'rn' \(did you mean run\?\); see colo run --help$/, 1],
  [
    'unknown backend',
    ['run', '--backend', 'aws'],
    /^--backend must be one of embedded, localstack, got "aws"$/,
    1,
  ],
  ['LocalStack flag alone', ['run', '--stack', 'X'], /^--stack needs --backend localstack$/, 1],
  [
    'scenario flag on LocalStack',
    ['run', '--backend', 'localstack', '--guest', '1GiB'],
    /^--guest cannot be used with --backend localstack: /,
    1,
  ],
  [
    'dry run on LocalStack',
    ['run', '--backend', 'localstack', '--dry-run'],
    /^--dry-run is for the embedded backend/,
    1,
  ],
  [
    'endpoint without scheme',
    ['run', '--backend', 'localstack', '--endpoint', 'localhost:4566'],
    /^--endpoint: "localhost:4566" is not an http\(s\) URL, e\.g\. http:\/\/127\.0\.0\.1:4566$/,
    1,
  ],
  [
    'report into a missing directory',
    ['run', '--json', join(dir, 'no-such-dir', 'r.json')],
    /^--json: cannot write .*r\.json: directory .*no-such-dir does not exist$/,
    1,
  ],
  [
    'report onto a directory',
    ['run', '--json', subdir],
    /^--json: .*a-directory is a directory; name a file in it$/,
    1,
  ],
  ['empty report path', ['run', '--json', ''], /^--json: the path is empty \(use - for stdout\)$/, 1],
  [
    'report and trace on one file',
    ['run', '--json', join(dir, 'out.json'), '--trace', join(dir, 'out.json')],
    /^--trace: .*out\.json is also the --json file; name another$/,
    1,
  ],
  [
    'missing scenario file',
    ['run', '--scenario', join(dir, 'missing.json')],
    /^--scenario: .*missing\.json does not exist$/,
    1,
  ],
  [
    'scenario is a directory',
    ['run', '--scenario', subdir],
    /^--scenario: .*a-directory is a directory, not a scenario file$/,
    1,
  ],
];

/** [what, file content, the one line (after `colo: scenario file PATH`), exit code]. */
const FILE_CASES: [string, unknown, RegExp, number][] = [
  ['not JSON', '{ "guest": ', /^ is not valid JSON: /, 1],
  [
    'a key written twice',
    '{\n  "guest": "1GiB",\n  "seed": 2,\n  "guest": "4GiB"\n}',
    /^: a key is written twice in one object \(line 4, column 3\)$/,
    1,
  ],
  ['not an object', [1, 2], /^: must be a JSON object, e\.g\. \{ "guest": "1GiB" \}$/, 1],
  ['misspelt key', { gest: '1GiB' }, /^: unknown key "gest" \(did you mean guest\?\)$/, 1],
  ['a __proto__ key', '{ "__proto__": { "guest": "1GiB" } }', /^: unknown key "__proto__"$/, 1],
  [
    'wrong type',
    { guest: true },
    /^: guest: expected a number \(bytes\) or a string with a unit, e\.g\. "64MiB"$/,
    1,
  ],
  [
    'unknown unit',
    { guest: '1 gigabyte' },
    /^: guest: "1 gigabyte": unknown size unit "gigabyte": use B, KiB, /,
    1,
  ],
  [
    'bare number in a string',
    { duration: '100' },
    /^: duration: "100" has no unit: did you mean 100s or 100ms\?$/,
    1,
  ],
  ['seed as a string', { seed: '42' }, /^: seed: expected a whole number$/, 1],
  [
    'a name with an escape sequence',
    { name: 'ok\u001b[2Jgone' },
    /^: name: must not contain control characters$/,
    1,
  ],
  [
    'workload value in words',
    { workload: { kind: 'hotcold', hotRate: 'fast' } },
    /^: workload: hotRate: "fast" is not a rate: /,
    1,
  ],
  [
    'workload kind unknown',
    { workload: { kind: 'warp' } },
    /^: workload: unknown workload kind "warp": use idle, /,
    1,
  ],
  ['no policies', { policies: [] }, /^: policies: name at least one policy$/, 1],
  [
    'misspelt policy in a list',
    { policies: 'none,fixd' },
    /^: policies: unknown policy "fixd" \(did you mean fixed\?\): use none, fixed, adaptive$/,
    1,
  ],
  ['share above 100%', { zeroPages: '150%' }, /^: zeroPages: must be 0 to 1$/, 1],
  [
    'secondary mode in words',
    { secondary: 'active' },
    /^: secondary: "active" is not a mode: use passive, or running\[\/workload\]$/,
    1,
  ],
  [
    'fault of the wrong type',
    { faults: { lose: true } },
    /^: faults: lose: expected a string or a number/,
    1,
  ],
  ['negative latency', { latency: -1 }, /^: latency: must be at least 0ms$/, 1],
  ['a number beyond JSON doubles', '{ "duration": 1e400 }', /^: duration: Infinity ms is too large$/, 1],
  [
    'unknown fault key (a model field name)',
    { faults: { delayMs: [0, 100] } },
    /^: faults: unknown key "delayMs": use lose, /,
    1,
  ],
];

function expectOneLine(r: { code: number; out: string; err: string }, line: RegExp, code: number): void {
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.err).not.toMatch(/Error:/);
  expect(r.out).toBe('');
  const lines = r.err.split('\n').filter((l) => l !== '');
  expect(lines, r.err).toHaveLength(1);
  expect(lines[0]?.startsWith('colo: '), r.err).toBe(true);
  expect(lines[0]?.slice('colo: '.length)).toMatch(line);
  expect(r.code).toBe(code);
}

describe('bad flags: one line, exit code 1, nothing run', () => {
  it.each(FLAG_CASES)('%s', async (_what, argv, line, code) => {
    expectOneLine(await cli(argv), line, code);
  });
});

describe('bad scenario files: one line naming the file and the key', () => {
  it.each(FILE_CASES)('%s', async (what, content, line, code) => {
    const path = scenarioFile(`${what.replaceAll(' ', '-')}.json`, content);
    const r = await cli(['run', '--scenario', path]);
    const prefix = `scenario file ${path}`;
    expect(r.err.startsWith(`colo: ${prefix}`), r.err).toBe(true);
    expectOneLine({ ...r, err: r.err.replace(prefix, '') }, line, code);
  });

  it('a binary file: one line, its bytes escaped (never sent raw to the terminal)', async () => {
    const path = scenarioFile('binary.json', '\u0000\u0001\u00ff binary \u001b[31m red');
    const r = await cli(['run', '--scenario', path]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^colo: scenario file .* is not valid JSON: .*\\u0000\\u0001/);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    // No control character but the final newline: an escape sequence would recolour the terminal.
    expect([...r.err.trimEnd()].filter((c) => (c.codePointAt(0) ?? 0) < 0x20 || c === '\u007f')).toEqual([]);
  });

  it.each([
    ['a value', { guest: '\u001b[2Jx\ny' }],
    ['a key', { 'gu\u001best\nx': 1 }],
  ])('%s with a newline and an escape sequence: one line, both escaped', async (_what, content) => {
    const path = scenarioFile('controls.json', content);
    const r = await cli(['run', '--scenario', path]);
    expect(r.code).toBe(1);
    expect(r.err.trimEnd().split('\n'), r.err).toHaveLength(1);
    expect(r.err).toMatch(/\\u001b/);
    expect([...r.err.trimEnd()].filter((c) => (c.codePointAt(0) ?? 0) < 0x20)).toEqual([]);
  });

  it('vm add: a scenario file for another VM is refused before anything is contacted', async () => {
    const path = scenarioFile('vm-1.json', { vmId: 'vm-1', guest: '4MiB' });
    // No stack answers at this port: the refusal must come first.
    const r = await cli(['vm', 'add', 'vm-2', '--scenario', path, '--stack', 'Nowhere']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `colo: scenario file ${path} is for VM vm-1, not vm-2: name vm-1, or drop "vmId" from the file\n`,
    );
  });

  it('a file that starts with a byte-order mark is read', async () => {
    const path = scenarioFile('bom.json', '\uFEFF{ "guest": "64MiB" }');
    const r = await cli(['run', '--dry-run', '--scenario', path]);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/guest\s+64 MiB/);
    expect(r.code).toBe(0);
  });

  it('several problems: one line each, flags named as flags', async () => {
    const path = scenarioFile('several.json', { guest: '1G', extra: 1 });
    // A flag that cannot be read stops before the scenario is checked.
    const r = await cli(['run', '--scenario', path, '--threshold', '1Mb']);
    expect(r.err).toMatch(/^colo: --threshold: "1Mb" is in bits[^\n]*\n$/);
    // Flags that read but are out of range are checked with the file: every problem, one line each.
    const r2 = await cli(['run', '--scenario', path, '--duration', '0s']);
    const lines = r2.err.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines).toContain(`colo: scenario file ${path}: unknown key "extra"`);
    expect(lines).toContain(
      `colo: scenario file ${path}: guest: "1G" is ambiguous: say 1GiB (2^30 bytes) or 1GB (10^9 bytes)`,
    );
    expect(lines).toContain('colo: --duration: must be above 0ms');
    expect(r2.out).toBe('');
    expect(r2.code).toBe(1);
  });
});

/** [what, context key, value, the message]. The CDK app fails synthesis with it (`cdk synth` exits 1). */
const CONTEXT_CASES: [string, string, unknown, RegExp][] = [
  [
    'checkpoint delay in words',
    'checkpointDelayMs',
    'abc',
    /^context "checkpointDelayMs" must be an integer in \[1000, 3600000\] ms, got "abc"$/,
  ],
  [
    'unknown workload kind',
    'workload',
    'uniformm',
    /^context "workload" must be one of .* \(.*unknown workload kind "uniformm" \(did you mean uniform\?\)/,
  ],
  [
    'workload out of range',
    'workload',
    'zipf:exponent=0',
    /^context "workload" must be .*exponent: must be above 0/,
  ],
  ['unknown policy', 'policy', 'fast', /^context "policy" must be one of none, fixed, adaptive, got "fast"$/],
  [
    'guest not whole pages',
    'guestBytes',
    1000,
    /^context "guestBytes" must be an integer in \[4096, 1099511627776\] bytes, got 1000$/,
  ],
  [
    'heartbeat timeout too short',
    'heartbeatTimeoutMs',
    500,
    /^context "heartbeatTimeoutMs" must be 0 or greater than heartbeatIntervalMs \(1000\) ms, got 500: the two go together \(a longer heartbeat interval needs a longer timeout\)$/,
  ],
  ['vm id with capitals', 'vmId', 'VM_0', /^context "vmId" must be a string matching /],
  [
    'checkpoint timeout below a tick',
    'checkpointTimeoutMs',
    500,
    /^context "checkpointTimeoutMs" must be an integer in \[1000, 86400000\] ms, got 500$/,
  ],
  [
    'zero downtime budget',
    'downtimeBudgetMs',
    0,
    /^context "downtimeBudgetMs" must be an integer in \[1, 86400000\] ms, got 0$/,
  ],
  [
    'negative epoch cap',
    'epochCapBytes',
    '-1',
    /^context "epochCapBytes" must be an integer in \[0, \d+\] bytes, got "-1"$/,
  ],
  [
    'seed beyond 32 bits',
    'seed',
    2 ** 32,
    /^context "seed" must be an integer in \[0, 4294967295\], got 4294967296$/,
  ],
  ['fault hook misspelt', 'testFaults', 'on', /^context "testFaults" must be one of off, allow, got "on"$/],
  [
    'path style in words',
    's3ForcePathStyle',
    'maybe',
    /^context "s3ForcePathStyle" must be true or false \(or 1, 0\), got "maybe"$/,
  ],
];

describe('bad CDK context: one line naming the key, the range and the value', () => {
  it.each(CONTEXT_CASES)('%s', (_what, key, value, message) => {
    const run = () => validateParameters({ ...DEFAULT_PARAMETERS, [key]: value });
    expect(run).toThrow(ContextValidationError);
    try {
      run();
    } catch (e) {
      expect((e as Error).message).not.toMatch(/\n/);
      expect((e as Error).message).toMatch(message);
    }
  });
});

/** [what, variable, value (undefined: unset), the message]. The function fails its invocation with it. */
const ENV_CASES: [string, string, string | undefined, RegExp][] = [
  [
    'unknown policy',
    'POLICY',
    'fast',
    /^environment variable POLICY must be one of none, fixed, adaptive, got "fast"$/,
  ],
  [
    'guest not whole pages',
    'GUEST_BYTES',
    '6000',
    /^environment variable GUEST_BYTES must be a multiple of 4096 bytes, got "6000"$/,
  ],
  [
    'unknown workload',
    'WORKLOAD',
    'warp',
    /^environment variable WORKLOAD must be one of idle, .* \(unknown workload kind "warp": use .*\), got "warp"$/,
  ],
  [
    'negative delay',
    'CHECKPOINT_DELAY_MS',
    '-1',
    /^environment variable CHECKPOINT_DELAY_MS must be an integer in \[1000, 3600000\] ms, got "-1"$/,
  ],
  [
    'function memory in words',
    'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
    'abc',
    /^environment variable AWS_LAMBDA_FUNCTION_MEMORY_SIZE must be a positive integer \(MB\), got abc$/,
  ],
  ['vm id unset', 'VM_ID', undefined, /^environment variable VM_ID is not set$/],
  [
    'checkpoint timeout unset',
    'CHECKPOINT_TIMEOUT_MS',
    undefined,
    /^environment variable CHECKPOINT_TIMEOUT_MS is not set$/,
  ],
  [
    'epoch cap in words',
    'EPOCH_CAP_BYTES',
    'abc',
    /^environment variable EPOCH_CAP_BYTES must be an integer in \[0, \d+\] bytes, got "abc"$/,
  ],
  [
    'fault hook misspelt',
    'COLO_TEST_FAULTS',
    'on',
    /^environment variable COLO_TEST_FAULTS must be one of off, allow, got "on"$/,
  ],
  [
    'heartbeat timeout inside the interval',
    'HEARTBEAT_TIMEOUT_MS',
    '500',
    /^environment variable HEARTBEAT_TIMEOUT_MS must be 0 or greater than HEARTBEAT_INTERVAL_MS \(1000\) ms, got "500": the two go together \(a longer heartbeat interval needs a longer timeout\)$/,
  ],
  [
    'apply timeout beyond Lambda',
    'APPLY_TIMEOUT_MS',
    '900000',
    /^environment variable APPLY_TIMEOUT_MS must be an integer in \[100, 840000\] ms, got "900000"$/,
  ],
];

describe('the CDK app: bad context ends in one line and exit 1, no stack trace', () => {
  it.each([
    [
      'checkpointDelayMs',
      'soon',
      /^colo stack: context "checkpointDelayMs" must be an integer in \[1000, 3600000\] ms, got "soon"$/,
    ],
    [
      'checkpointDelay',
      '5000',
      /^colo stack: context "checkpointDelay" is not a stack parameter: did you mean checkpointDelayMs \(ms\)\?$/,
    ],
    [
      'bandwidth',
      '10Gbit',
      /^colo stack: context "bandwidth" is not a stack parameter: bandwidth is simulation only \(/,
    ],
    [
      'stackName',
      '1bad',
      /^colo stack: context "stackName" must be a CloudFormation stack name, got "1bad"$/,
    ],
  ])('%s=%s', (key, value, line) => {
    const r = spawnSync('npx', ['tsx', 'bin/app.ts'], {
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ [key]: value }) },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(line)]);
  });
});

describe('bad function environment: one line naming the variable', () => {
  it.each(ENV_CASES)('%s', (_what, name, value, message) => {
    const env: Record<string, string | undefined> = { ...STACK_ENV, [name]: value };
    if (value === undefined) delete env[name];
    const run = () => paramsFromEnv(env);
    expect(run).toThrow(message);
    try {
      run();
    } catch (e) {
      expect((e as Error).message).not.toMatch(/\n/);
    }
  });
});

it('the table holds at least 30 bad inputs', () => {
  expect(
    FLAG_CASES.length + FILE_CASES.length + CONTEXT_CASES.length + ENV_CASES.length,
  ).toBeGreaterThanOrEqual(30);
});

describe('a LOCALSTACK_PORT that is not a port: one line, exit 1, no network call', () => {
  it.each([
    ['vm list', ['vm', 'list', '--stack', 'X']],
    ['run on LocalStack', ['run', '--backend', 'localstack', '--duration', '10s']],
  ])('%s', async (_what, argv) => {
    const before = process.env.LOCALSTACK_PORT;
    const endpoint = process.env.AWS_ENDPOINT_URL;
    process.env.LOCALSTACK_PORT = 'abc';
    delete process.env.AWS_ENDPOINT_URL;
    try {
      const r = await cli(argv);
      expect(r.err.trim()).toBe('colo: LOCALSTACK_PORT must be a TCP port, got "abc"');
      expect(r.code).toBe(1);
    } finally {
      if (before === undefined) delete process.env.LOCALSTACK_PORT;
      else process.env.LOCALSTACK_PORT = before;
      if (endpoint !== undefined) process.env.AWS_ENDPOINT_URL = endpoint;
    }
  });
});

describe('an endpoint that accepts the connection and never answers', () => {
  it('colo vm list: one line naming it, exit 1 (the process does not exit silently)', async () => {
    const { createServer } = await import('node:net');
    const held: import('node:net').Socket[] = [];
    const server = createServer((s) => held.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as import('node:net').AddressInfo).port;
    try {
      const { spawn } = await import('node:child_process');
      // Spawned (not spawnSync): this process must keep serving the listener while the CLI waits on it.
      const child = spawn('npx', ['tsx', 'bin/colo.ts', 'vm', 'list', '--stack', 'X'], {
        env: { ...process.env, AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` },
      });
      let err = '';
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString();
      });
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(code, err).toBe(1);
      expect(err).toMatch(
        /^colo: LocalStack is not reachable at http:\/\/127\.0\.0\.1:\d+ \(no answer within 3000 ms\)/,
      );
    } finally {
      for (const s of held) s.destroy();
      server.close();
    }
  }, 60_000);
});
