/**
 * docs/parameters.md, rendered from the parameter registry (`npm run docs:parameters` writes it; a unit
 * test fails when the checked-in file differs from this rendering).
 */
import { deployedBounds, deployedDefault, profileDefault } from './deployed.ts';
import { type Bounds, PARAMETERS, type Parameter } from './registry.ts';
import { bytesFlag, durationFlag, rateFlag } from './units.ts';

/** A value in base unit as a user would type it (`20s`, `1GiB`, `1Gbit`). */
function typed(p: Parameter, n: number): string {
  if (p.kind === 'duration') return durationFlag(n);
  if (p.kind === 'size') return n === 0 ? '0' : bytesFlag(n);
  if (p.kind === 'rate') return rateFlag(n);
  return String(n);
}

function range(p: Parameter, b: Bounds | undefined): string {
  if (!b) return p.values ? p.values.join(', ') : p.pattern ? `\`${p.pattern}\`` : '';
  const lo = `${b.exclusiveMin ? '>' : '≥'} ${typed(p, b.min)}`;
  const step = p.multipleOf !== undefined ? `, whole ${typed(p, p.multipleOf)} pages` : '';
  const set = p.values && p.kind === 'integer' ? ` (one of ${p.values.join(', ')})` : '';
  return `${lo}, ≤ ${typed(p, b.max)}${step}${set}`;
}

const code = (s: string | undefined) => (s === undefined ? '—' : `\`${s}\``);
const cell = (s: string) => s.replaceAll('|', '\\|');

/** The deployed spelling of one parameter, with its deployed bounds when they are narrower. */
function deployedCells(p: Parameter): [string, string] {
  if (!p.deployed) return ['—', '—'];
  const d = p.deployed;
  const b = d.bounds ? deployedBounds({ ...p, deployed: d }) : undefined;
  const narrower = b ? ` (${b.min}…${b.max} ${p.unit})` : '';
  return [`${code(d.context)}${narrower}`, code(d.env)];
}

/** The whole of docs/parameters.md. */
export function renderParametersDoc(): string {
  const out: string[] = [
    '# Parameters',
    '',
    '<!-- Generated from src/parameters/registry.ts by `npm run docs:parameters`; do not edit by hand. -->',
    '',
    'Every setting of a replicated VM, once: the same name, unit, default and bounds on the command line',
    '(`colo run --flag`), in a scenario file (JSON key), in the CDK context of the stack (`cdk.json`,',
    '`-c key=value`) and in the functions’ environment. The CLI’s options, the scenario schema',
    '([schema/scenario.schema.json](../schema/scenario.schema.json)), the stack’s context validation and the',
    'handlers’ environment parsing are all built from one table, `src/parameters/registry.ts`.',
    '',
    '**Spelling.** The scenario key is the name; the flag is its kebab-case form; a context key names its',
    'unit (`checkpointDelayMs`, `guestBytes`) and takes a bare number in it, or a size or time with a unit',
    '(`-c guestBytes=1GiB`, `colo vm set … --set checkpointDelayMs=5s`); the environment variable is the',
    'context key in upper snake case. Flags and scenario strings take units (`20s`, `1GiB`, `1Gbit`; see the',
    'README, "Units"); a JSON number in a scenario file is in the base unit (ms, bytes, bytes/s). A file also',
    'takes the text a flag takes for a share (`"10%"`), a policy list (`"none,fixed"`) and the secondary',
    '(`"running/zipf"`). The stack refuses a context key spelt as another surface spells a parameter',
    '(`-c checkpointDelay=5000`: "did you mean checkpointDelayMs (ms)?"), a simulation-only one or a near',
    'miss; a stack set takes only context keys.',
    '',
    '| name | meaning | unit | default | bounds | flag | scenario key | CDK context | Lambda env | QEMU |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const p of PARAMETERS) {
    const [context, env] = deployedCells(p);
    out.push(
      `| ${[
        `**${p.name}**`,
        cell(p.meaning),
        p.unit || '—',
        code(String(p.default)),
        cell(range(p, p.bounds)),
        p.flag ? code(`--${p.flag}`) : '—',
        code(p.scenario),
        context,
        env,
        p.qemu ? cell(p.qemu) : '—',
      ].join(' | ')} |`,
    );
  }
  out.push(
    '',
    '## Deployed bounds',
    '',
    'A deployed VM accepts narrower ranges for some parameters; the stack refuses a context value outside',
    'them at synthesis (one line naming the key, the range and the value; exit 1) and the functions refuse',
    'the same value in their environment at cold start.',
    '',
    '| parameter | context key | deployed bounds | why |',
    '|---|---|---|---|',
  );
  for (const p of PARAMETERS) {
    if (!p.deployed?.bounds) continue;
    const b = deployedBounds({ ...p, deployed: p.deployed });
    out.push(
      `| ${p.name} | \`${p.deployed.context}\` | ${b?.min}…${b?.max} ${p.unit} | ${cell(p.deployed.boundsWhy ?? '')} |`,
    );
  }
  out.push(
    '',
    '## Limits of the emulator',
    '',
    'Where a greatest value is a limit of this emulator rather than of COLO, a value above it is refused with',
    'this reason.',
    '',
    '| parameter | greatest value | why |',
    '|---|---|---|',
  );
  for (const p of PARAMETERS) {
    if (p.maxWhy && p.bounds) out.push(`| ${p.name} | ${typed(p, p.bounds.max)} | ${cell(p.maxWhy)} |`);
  }
  out.push(
    '',
    '## Deploy profile',
    '',
    'One set of defaults serves `colo run`, scenario files and a deployed scenario. A bare deploy',
    '(`cdk.json`, `npm run deploy:local` without `--scenario`) uses this profile instead where a Lambda-hosted',
    'guest would cost too much; `npm run deploy:local -- --scenario FILE` uses the registry defaults for every',
    'key the file leaves out, exactly as `colo run --scenario FILE` does.',
    '',
    '| parameter | context key | default | deploy profile | why |',
    '|---|---|---|---|---|',
  );
  for (const p of PARAMETERS) {
    if (p.deployed?.profileDefault === undefined) continue;
    const d = { ...p, deployed: p.deployed };
    out.push(
      `| ${p.name} | \`${p.deployed.context}\` | \`${deployedDefault(d)}\` | \`${profileDefault(d)}\` | ${cell(p.deployed.profileWhy ?? '')} |`,
    );
  }
  out.push(
    '',
    '## Simulation only',
    '',
    'These have no deployed spelling; a deployed scenario file that changes one of them is deployed with a',
    'warning naming it.',
    '',
    '| parameter | why |',
    '|---|---|',
  );
  for (const p of PARAMETERS) {
    if (p.simulationOnly) out.push(`| ${p.name} | ${cell(p.simulationOnly)} |`);
  }
  out.push(
    '',
    '## Cross-parameter rules',
    '',
    '- `heartbeatTimeout` is 0 (never fail over on silence) or longer than `heartbeatInterval` — everywhere.',
    '- `zeroPages + compressiblePages` is at most 1 (scenario, flags).',
    '- A deployed VM runs one policy: a deployed scenario names exactly one in `policies`.',
    '',
  );
  return out.join('\n');
}
