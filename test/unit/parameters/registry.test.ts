/**
 * The registry is the one vocabulary: the CLI's flags, the scenario schema, the stack's CDK context and the
 * functions' environment accept exactly its names, units and bounds, with the same defaults; and the
 * generated docs/parameters.md and schema/scenario.schema.json are current.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { ENV } from '../../../lambda/adapters/contract.ts';
import { paramsFromEnv } from '../../../lambda/handlers/common/params.ts';
import { ContextValidationError, PARAMETER_NAMES, validateParameters } from '../../../lib/parameters.ts';
import { generatedFiles, isCurrent } from '../../../scripts/docs-parameters.ts';
import { flagsToScenario, type RunFlags } from '../../../src/cli/flags.ts';
import { attributeOf, RUN_OPTIONS } from '../../../src/cli/options.ts';
import { resolveScenario, ScenarioError, scenarioSchema } from '../../../src/cli/scenario.ts';
import { DEFAULT_PARAMS } from '../../../src/engine/params.ts';
import {
  contextOfScenario,
  DEPLOY_PROFILE,
  deployedBounds,
  deployedDefault,
  environmentOf,
  ParameterError,
  readDeployed,
} from '../../../src/parameters/deployed.ts';
import {
  DEPLOYED_PARAMETERS,
  FLAG_PARAMETERS,
  PARAMETERS,
  type Parameter,
  SCENARIO_PARAMETERS,
} from '../../../src/parameters/registry.ts';
import { bytesFlag, durationFlag, rateFlag } from '../../../src/parameters/units.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** A base-unit value as the flag types it. */
function typed(p: Parameter, n: number): string {
  if (p.kind === 'duration') return durationFlag(n);
  if (p.kind === 'size') return bytesFlag(n);
  if (p.kind === 'rate') return rateFlag(n);
  return String(n);
}

/** Values just outside a numeric parameter's bounds, in base units. */
function outside(p: Parameter): number[] {
  const b = p.bounds;
  if (!b) return [];
  const below = b.exclusiveMin ? b.min : b.min - (p.kind === 'fraction' ? 0.01 : 1);
  return [...(below >= 0 ? [below] : []), b.max * 2];
}

const NUMERIC = new Set(['duration', 'size', 'rate', 'integer', 'number', 'fraction']);

describe('the registry', () => {
  it('names each parameter and each spelling once', () => {
    for (const spelling of [
      PARAMETERS.map((p) => p.name),
      FLAG_PARAMETERS.map((p) => p.flag),
      SCENARIO_PARAMETERS.map((p) => p.scenario),
      DEPLOYED_PARAMETERS.map((p) => p.deployed.context),
      DEPLOYED_PARAMETERS.flatMap((p) => (p.deployed.env ? [p.deployed.env] : [])),
    ]) {
      expect(new Set(spelling).size).toBe(spelling.length);
    }
  });

  it('gives every parameter either a deployed spelling or the reason it has none', () => {
    for (const p of PARAMETERS)
      expect(p.deployed !== undefined || p.simulationOnly !== undefined, p.name).toBe(true);
  });

  it('follows its spelling rules: flag = kebab(name), env = SNAKE(context key)', () => {
    for (const p of FLAG_PARAMETERS.filter((x) => x.name !== 'policies')) {
      expect(attributeOf(p.flag as string), p.name).toBe(p.name);
    }
    for (const p of DEPLOYED_PARAMETERS.filter((x) => x.deployed.env && x.name !== 's3ForcePathStyle')) {
      const snake = p.deployed.context.replace(/([A-Z])/g, '_$1').toUpperCase();
      expect(p.deployed.env?.replace(/^COLO_/, ''), p.name).toBe(snake);
    }
  });
});

describe('the CLI takes exactly the registry flags', () => {
  it('has one scenario option per flag parameter, with its default and meaning', () => {
    const options = RUN_OPTIONS.filter((o) => o.key !== undefined);
    expect(options.map((o) => o.flag)).toEqual(FLAG_PARAMETERS.map((p) => p.flag));
    for (const p of FLAG_PARAMETERS) {
      const o = options.find((x) => x.flag === p.flag);
      expect(o?.key, p.name).toBe(p.scenario);
      expect(o?.help, p.name).toBe(p.meaning);
      expect(o?.default?.startsWith(String(p.default)), p.name).toBe(true);
    }
  });

  it.each(FLAG_PARAMETERS.map((p) => [p.flag, p] as const))(
    '--%s parses its default to the default scenario',
    (_f, p) => {
      const layer = flagsToScenario({ [attributeOf(p.flag as string)]: String(p.default) } as RunFlags);
      expect(resolveScenario(layer).params).toEqual(resolveScenario().params);
    },
  );

  it.each(
    FLAG_PARAMETERS.filter((p) => NUMERIC.has(p.kind)).flatMap((p) =>
      outside(p).map((n) => [p.flag, n, p] as const),
    ),
  )('--%s refuses %s (out of bounds), naming the flag', (flag, n, p) => {
    const layer = flagsToScenario({ [attributeOf(flag as string)]: typed(p, n) } as RunFlags);
    expect(() => resolveScenario(layer)).toThrow(ScenarioError);
    expect(() => resolveScenario(layer)).toThrow(new RegExp(`^--${flag}: must be`));
  });
});

describe('scenario files take exactly the registry keys', () => {
  it('has one key per scenario parameter', () => {
    expect(Object.keys(scenarioSchema.shape)).toEqual(SCENARIO_PARAMETERS.map((p) => p.scenario));
  });

  it.each(SCENARIO_PARAMETERS.map((p) => [p.scenario, p] as const))('"%s" takes its default', (key, p) => {
    // As a file writes it: numbers as JSON numbers, quantities and texts as typed, lists and objects.
    const value =
      p.kind === 'integer' || p.kind === 'number' || p.kind === 'fraction'
        ? Number(p.default)
        : p.kind === 'policies'
          ? String(p.default).split(',')
          : p.kind === 'secondary'
            ? { mode: p.default }
            : p.default;
    const resolved = resolveScenario({ [key as string]: value });
    expect(resolved.params).toEqual(resolveScenario().params);
    expect(resolved.link).toEqual(resolveScenario().link);
    expect(resolved.durationMs).toBe(resolveScenario().durationMs);
  });

  it.each(
    SCENARIO_PARAMETERS.filter((p) => NUMERIC.has(p.kind)).flatMap((p) =>
      outside(p).map((n) => [p.scenario, n] as const),
    ),
  )('"%s": %s (base unit, out of bounds) is refused naming the key', (key, n) => {
    expect(() => resolveScenario({ [key as string]: n })).toThrow(new RegExp(`^scenario: ${key}: must be`));
  });
});

describe('a scenario file takes the text a flag takes', () => {
  // Numbers (seed, miscompare rate) are JSON numbers in a file; every other flag's text reads the same in a file.
  const texts: [string, string][] = [
    ['zeroPages', '25%'],
    ['compressiblePages', '0.5'],
    ['policies', 'none,fixed,adaptive'],
    ['secondary', 'running/zipf:rate=100'],
    ['secondary', 'passive'],
    ['workload', 'uniform'],
    ['duration', '1m30s'],
    ['guest', '64MiB'],
    ['bandwidth', '10Gbps'],
  ];
  it.each(texts)('"%s": "%s" resolves as the flag does', (key, text) => {
    const p = SCENARIO_PARAMETERS.find((x) => x.scenario === key) as Parameter;
    const fromFlag = resolveScenario(flagsToScenario({ [attributeOf(p.flag as string)]: text } as RunFlags));
    const fromFile = resolveScenario({ [key]: text });
    expect(fromFile.params).toEqual(fromFlag.params);
    expect(fromFile.policies).toEqual(fromFlag.policies);
    expect(fromFile.link).toEqual(fromFlag.link);
    expect(fromFile.durationMs).toBe(fromFlag.durationMs);
  });

  it('covers every flag parameter that is not a plain number', () => {
    const covered = new Set(texts.map(([k]) => k));
    const missing = FLAG_PARAMETERS.filter(
      (p) => !['integer', 'number', 'enum', 'faults'].includes(p.kind) && !covered.has(p.scenario as string),
    ).map((p) => p.scenario);
    // The rest of the durations, sizes and rates share the unit parser the three above exercise.
    expect(
      missing.every((k) =>
        ['duration', 'size', 'rate'].includes(SCENARIO_PARAMETERS.find((p) => p.scenario === k)?.kind ?? ''),
      ),
    ).toBe(true);
  });
});

describe('CDK context takes exactly the registry keys and deployed bounds', () => {
  it('reads one key per deployed parameter; cdk.json holds the deploy profile', () => {
    expect(PARAMETER_NAMES).toEqual(DEPLOYED_PARAMETERS.map((p) => p.deployed.context));
    const { 'cli-telemetry': _t, stackName: _s, ...rest } = cdkJson.context as Record<string, unknown>;
    // The rest of cdk.json's context is aws-cdk-lib's feature flags (`@aws-cdk…`).
    const context = Object.fromEntries(Object.entries(rest).filter(([key]) => !key.startsWith('@aws-cdk')));
    expect(context).toEqual(DEPLOY_PROFILE);
  });

  it.each(
    DEPLOYED_PARAMETERS.filter((p) => NUMERIC.has(p.kind)).map((p) => [p.deployed.context, p] as const),
  )('%s accepts its deployed bounds and refuses one past them', (key, p) => {
    const b = deployedBounds(p);
    if (!b) throw new Error(`${key} has no bounds`);
    const at = (n: number) => validateParameters({ ...DEPLOY_PROFILE, heartbeatTimeoutMs: 0, [key]: n });
    const ok = (n: number) => (p.multipleOf ? Math.ceil(n / p.multipleOf) * p.multipleOf : n);
    const first = p.values ? Number(p.values[0]) : ok(b.min);
    const last = p.values
      ? Number(p.values.at(-1))
      : Math.floor(b.max / (p.multipleOf ?? 1)) * (p.multipleOf ?? 1);
    expect((at(first) as unknown as Record<string, unknown>)[key]).toBe(first);
    expect((at(last) as unknown as Record<string, unknown>)[key]).toBe(last);
    expect(() => at(b.min - 1)).toThrow(ContextValidationError);
    expect(() => at(b.max + 1)).toThrow(
      new RegExp(`^context "${key}" must be an integer in \\[${b.min}, ${b.max}\\]`),
    );
  });
});

describe('the function environment takes exactly the registry variables', () => {
  const stackEnv: Record<string, string> = { ...environmentOf(DEPLOY_PROFILE), BUCKET_NAME: 'b' };

  it('is what the stack sets: every deployed variable (switches only when on)', () => {
    const expected = DEPLOYED_PARAMETERS.filter(
      (p) => p.deployed.env !== undefined && p.kind !== 'boolean' && p.kind !== 'enum',
    ).map((p) => p.deployed.env);
    expect(Object.keys(environmentOf(DEPLOY_PROFILE))).toEqual(expected);
    for (const name of Object.values(ENV).filter((n) => n.endsWith('_MS') || n.endsWith('_BYTES'))) {
      expect(expected, name).toContain(name);
    }
  });

  it('reads back what the stack wrote', () => {
    const read = readDeployed((p) => (p.deployed.env ? stackEnv[p.deployed.env] : undefined), 'env');
    expect(read).toEqual(DEPLOY_PROFILE);
  });

  it.each(
    DEPLOYED_PARAMETERS.filter((p) => NUMERIC.has(p.kind) && p.deployed.env).map(
      (p) => [p.deployed.env, p] as const,
    ),
  )('%s refuses one past its deployed bounds, like the context', (name, p) => {
    const b = deployedBounds(p);
    if (!b) throw new Error(`${name} has no bounds`);
    for (const n of [b.min - 1, b.max + 1]) {
      expect(() =>
        paramsFromEnv({ ...stackEnv, HEARTBEAT_TIMEOUT_MS: '0', [name as string]: String(n) }),
      ).toThrow(new RegExp(`^environment variable ${name} must be an integer in \\[${b.min}, ${b.max}\\]`));
    }
    expect(() => paramsFromEnv({ ...stackEnv, [name as string]: undefined })).toThrow(ParameterError);
  });
});

describe('one set of defaults', () => {
  it('the default scenario, deployed, gives the functions the engine parameters colo run uses', () => {
    const s = resolveScenario();
    const context = contextOfScenario(s.params, ['fixed']);
    const deployed = validateParameters({ ...DEPLOY_PROFILE, ...context });
    const cloud = paramsFromEnv({ ...environmentOf(deployed), BUCKET_NAME: 'b' });
    expect(cloud).toEqual({ ...s.params, policy: 'fixed' });
  });

  it('the simulation-only parameters default to what the functions run with', () => {
    const s = resolveScenario().params;
    for (const key of [
      'payload',
      'deviceStateBytes',
      'miscompareRatePerSec',
      'secondaryMode',
      'maxDeltaBytes',
      'contentMix',
    ] as const) {
      expect(s[key], key).toEqual(DEFAULT_PARAMS[key]);
    }
  });

  it('a deployed default differs only through the documented deploy profile', () => {
    for (const p of DEPLOYED_PARAMETERS) {
      const profile = (DEPLOY_PROFILE as unknown as Record<string, unknown>)[p.deployed.context];
      if (p.deployed.profileDefault === undefined) expect(profile, p.name).toEqual(deployedDefault(p));
      else expect(p.deployed.profileWhy, p.name).toBeTruthy();
    }
  });
});

describe('generated files', () => {
  it.each(generatedFiles())('%s is current (npm run docs:parameters)', (path, content) => {
    const checkedIn = readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
    expect(isCurrent(path, checkedIn, content)).toBe(true);
    expect(isCurrent(path, checkedIn.replace('a', 'b'), content)).toBe(false);
  });
});
