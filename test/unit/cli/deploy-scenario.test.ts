/**
 * A scenario file deploys what `colo run --scenario FILE` runs: its context, validated by the stack and
 * read back by the functions, gives the engine parameters the embedded run uses.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { paramsFromEnv } from '../../../lambda/handlers/common/params.ts';
import { DEFAULT_PARAMETERS, validateParameters } from '../../../lib/parameters.ts';
import { scenarioContext } from '../../../src/cli/deploy-scenario.ts';
import { fileLayer, resolveScenario, ScenarioError } from '../../../src/cli/scenario.ts';
import { environmentOf } from '../../../src/parameters/deployed.ts';
import { sameWorkload } from '../../../src/parameters/workload.ts';

const dir = mkdtempSync(join(tmpdir(), 'colo-deploy-scenario-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

const SCENARIO = {
  name: 'deployable',
  vmId: 'vm-7',
  seed: 9,
  guest: '16MiB',
  workload: 'zipf:rate=300,exponent=1.2',
  checkpointDelay: '5s',
  threshold: '2MiB',
  heartbeatTimeout: '20s',
  downtimeBudget: '250ms',
  policies: ['adaptive'],
};

describe('deploying a scenario file', () => {
  it('gives the functions the engine parameters colo run uses', () => {
    const path = file('ok.json', SCENARIO);
    const { context, warnings } = scenarioContext(path);
    expect(warnings).toEqual([]);
    expect(context).toMatchObject({
      vmId: 'vm-7',
      policy: 'adaptive',
      guestBytes: 16 * 2 ** 20,
      checkpointDelayMs: 5000,
    });
    const deployed = validateParameters({ ...DEFAULT_PARAMETERS, ...context });
    const cloud = paramsFromEnv({ ...environmentOf(deployed), BUCKET_NAME: 'b' });
    // The embedded run sets `policy` per run; the deployed VM runs the scenario's one policy.
    expect(cloud).toEqual({ ...resolveScenario(fileLayer(path, SCENARIO)).params, policy: 'adaptive' });
  });

  it('keys the file leaves out take the registry defaults (as in colo run), not the deploy profile', () => {
    const { context } = scenarioContext(file('bare.json', {}));
    expect(context.guestBytes).toBe(2 ** 30);
    expect(context.workload).toBe('hotcold:hotPages=4096,hotRate=4000,coldRate=2500');
    expect(context.policy).toBe('fixed');
  });

  it('warns for each simulation-only key it sets', () => {
    const { warnings } = scenarioContext(
      file('sim.json', { ...SCENARIO, bandwidth: '10Gbit', latency: '1ms' }),
    );
    expect(warnings).toEqual([
      expect.stringMatching(/"bandwidth" is not deployed: the deployed link is the cloud's own/),
      expect.stringMatching(/"latency" is not deployed/),
    ]);
  });

  it('names the context keys the file itself sets (what colo vm set --scenario changes)', () => {
    expect(scenarioContext(file('named.json', { policies: ['adaptive'], seed: 42 })).named.sort()).toEqual([
      'policy',
      'seed',
    ]);
    expect(scenarioContext(file('none.json', {})).named).toEqual([]);
    // A policy given with --set policy=… is named too; simulation-only keys are not.
    expect(scenarioContext(file('sim2.json', { bandwidth: '10Gbit' }), 'none').named).toEqual(['policy']);
  });

  it('sameWorkload: a kind and its defaults spelled out are one workload; others differ', () => {
    const { context } = scenarioContext(file('wl.json', { workload: 'hotcold' }));
    expect(sameWorkload('hotcold', String(context.workload))).toBe(true);
    expect(sameWorkload('hotcold', 'hotcold:hotPages=128')).toBe(false);
    expect(sameWorkload('hotcold', 'not a workload')).toBe(false);
  });

  it('refuses several policies unless -c policy names one', () => {
    const path = file('two.json', { policies: ['none', 'fixed'] });
    expect(() => scenarioContext(path)).toThrow(ScenarioError);
    expect(() => scenarioContext(path)).toThrow(/a deployed VM runs one policy, the scenario names 2/);
    expect(scenarioContext(path, 'none').context.policy).toBe('none');
  });

  it('refuses, before any deploy, what the stack would refuse', () => {
    expect(() => scenarioContext(file('fast.json', { checkpointDelay: '500ms' }))).toThrow(
      /^scenario file .*fast\.json: context "checkpointDelayMs" must be an integer in \[1000, 3600000\] ms, got 500$/,
    );
  });

  it('deploy-local.sh: a single stack gets LocalStack poller counts unless given; -c wins', () => {
    const env = { ...process.env, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' };
    const context = (...args: string[]): string =>
      execFileSync('bash', ['scripts/deploy-local.sh', ...args, '--print-context'], {
        env,
        encoding: 'utf8',
      });
    const plain = context();
    expect(plain).toContain('-c tickPollers=2\n');
    expect(plain).toContain('-c channelPollers=4\n');
    const given = context('-c', 'channelPollers=1', '-c', 'tickPollers=3');
    expect(given.match(/channelPollers=/g)).toHaveLength(1);
    expect(given).toContain('-c channelPollers=1\n');
    expect(given.match(/tickPollers=/g)).toHaveLength(1);
    expect(given).toContain('-c tickPollers=3\n');
  });

  it('deploy-local.sh --scenario: -c wins over the file; a bad file is one line and exit 1', () => {
    const env = { ...process.env, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' };
    const out = execFileSync(
      'bash',
      ['scripts/deploy-local.sh', '--scenario', file('sh.json', SCENARIO), '-c', 'seed=3', '--print-context'],
      { env, encoding: 'utf8' },
    );
    expect(out).toContain('-c seed=3\n');
    expect(out).not.toContain('seed=9');
    expect(out).toContain('-c checkpointDelayMs=5000\n');
    const bad = spawnSync(
      'bash',
      ['scripts/deploy-local.sh', '--scenario', file('bad.json', { guest: '1G' })],
      {
        env,
        encoding: 'utf8',
      },
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^deploy-local: error: scenario file .*bad\.json: guest: "1G" is ambiguous/),
    ]);
  });
});
