/**
 * The scenario file format as JSON Schema (draft 2020-12), built from the parameter registry: one property
 * per parameter with a scenario key, described with its meaning, unit and default. Published as
 * schema/scenario.schema.json by `npm run docs:parameters`; a unit test fails when the file is stale. The
 * zod schema (src/cli/scenario.ts) stays the judge: the unit grammar and cross-key rules are stated in
 * words here.
 */
import { WORKLOAD_KINDS } from '../engine/workload/spec.ts';
import { type Parameter, SCENARIO_PARAMETERS } from '../parameters/registry.ts';
import { DEFAULT_WORKLOADS, WORKLOAD_DOCS } from '../parameters/workload.ts';
import { FAULT_KEYS } from './fault-spec.ts';

/** `$id` of the published schema. */
export const SCENARIO_SCHEMA_ID =
  'https://github.com/colo-serverless/colo-serverless/schema/scenario.schema.json';

type Json = Record<string, unknown>;

const STRING_WITH_UNIT: Record<string, Json> = {
  duration: {
    type: 'string',
    description: 'a duration with a unit: us, ms, s, m (or min), h; e.g. "20s", "1m30s"',
  },
  size: {
    type: 'string',
    description: 'a size with a unit: B, KiB, MiB, GiB, TiB, kB, MB, GB, TB; e.g. "64MiB"',
  },
  rate: {
    type: 'string',
    description: 'a rate with a unit: Mbit, Gbit (bits/s) or MB/s, MiB/s (bytes/s); e.g. "1Gbit"',
  },
};

function numberIn(p: Parameter, integer: boolean): Json {
  const b = p.bounds;
  return {
    type: integer ? 'integer' : 'number',
    ...(b ? { [b.exclusiveMin ? 'exclusiveMinimum' : 'minimum']: b.min, maximum: b.max } : {}),
    ...(p.multipleOf !== undefined ? { multipleOf: p.multipleOf } : {}),
  };
}

/** A workload: the `kind[:key=value,…]` text, or an object of a kind and its keys. */
function workloadSchema(): Json {
  return {
    oneOf: [
      { type: 'string', description: 'kind[:key=value,...], e.g. "zipf:rate=4000,exponent=1.1"' },
      ...WORKLOAD_KINDS.map((kind) => ({
        type: 'object',
        title: kind,
        description: `${WORKLOAD_DOCS[kind].what}; defaults ${JSON.stringify(DEFAULT_WORKLOADS[kind])}`,
        required: ['kind'],
        additionalProperties: false,
        properties: {
          kind: { const: kind },
          ...Object.fromEntries(
            Object.entries(WORKLOAD_DOCS[kind].keys).map(([k, d]) => [
              k,
              { description: `${d.what} (${d.unit})`, type: ['number', 'string'] },
            ]),
          ),
        },
      })),
    ],
  };
}

function valueSchema(p: Parameter): Json {
  switch (p.kind) {
    case 'duration':
    case 'size':
    case 'rate':
      return { oneOf: [numberIn(p, p.kind === 'size'), STRING_WITH_UNIT[p.kind]] };
    case 'integer':
      return numberIn(p, true);
    case 'number':
      return numberIn(p, false);
    case 'fraction':
      return {
        oneOf: [
          numberIn(p, false),
          { type: 'string', pattern: '^\\s*[0-9.]+\\s*%\\s*$', description: 'a percentage, e.g. "10%"' },
        ],
      };
    case 'enum':
      return { enum: p.values ?? [] };
    case 'policies':
      return {
        oneOf: [
          { type: 'array', items: { enum: p.values ?? [] }, minItems: 1, uniqueItems: true },
          { type: 'string', description: 'comma-separated, as --policy takes them, e.g. "none,fixed"' },
        ],
      };
    case 'workload':
      return { $ref: '#/$defs/workload' };
    case 'secondary':
      return {
        oneOf: [
          {
            type: 'object',
            additionalProperties: false,
            required: ['mode'],
            properties: { mode: { enum: ['passive', 'running'] }, workload: { $ref: '#/$defs/workload' } },
          },
          { type: 'string', description: 'as --secondary takes it: "passive", "running" or "running/zipf"' },
        ],
      };
    case 'faults':
      return {
        oneOf: [
          { type: 'string', description: 'the --faults syntax, e.g. "lose=1%,outage=primary@30s+5s"' },
          {
            type: 'object',
            additionalProperties: false,
            properties: Object.fromEntries(
              Object.entries(FAULT_KEYS).map(([k, what]) => [k, { description: what }]),
            ),
          },
        ],
      };
    case 'text':
      // Control characters refused as the scenario reader refuses them (JSON Schema patterns are Unicode-aware).
      return p.pattern
        ? { type: 'string', pattern: p.pattern.source }
        : { type: 'string', maxLength: 100, pattern: '^\\P{Cc}*$' };
    case 'boolean':
      return { type: 'boolean' };
  }
}

/** The scenario JSON Schema, as a plain object. */
export function scenarioJsonSchema(): Json {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: SCENARIO_SCHEMA_ID,
    title: 'colo-serverless scenario',
    description:
      'A scenario for `colo run --scenario FILE` and `npm run deploy:local -- --scenario FILE` (docs/parameters.md). ' +
      'Every key is optional and takes the registry default. A JSON number is in the base unit (ms, bytes, bytes/s); ' +
      'a string takes a unit. Also enforced but not stated here: the unit grammar, heartbeatTimeout 0 or above ' +
      'heartbeatInterval, zeroPages + compressiblePages at most 1, workload key ranges.',
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(
      SCENARIO_PARAMETERS.map((p) => [
        p.scenario as string,
        {
          description: `${p.meaning}${p.unit ? ` (${p.unit})` : ''}; default ${JSON.stringify(p.default)}`,
          ...valueSchema(p),
        },
      ]),
    ),
    $defs: { workload: workloadSchema() },
  };
}
