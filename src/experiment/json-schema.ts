/**
 * Publishes the experiment file format as JSON Schema (draft 2020-12) to docs/experiment-schema.json,
 * generated from the validator itself (src/experiment/file.ts) with `base` spelled out as the scenario's
 * keys. Run: `npx tsx src/experiment/json-schema.ts`. A unit test checks that the published file is current.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { RUN_OPTIONS } from '../cli/options.ts';
import { scenarioSchema } from '../cli/scenario.ts';
import { POLICY_NAMES } from '../engine/params.ts';
import { POLICY_AXIS, SCENARIO_AXES } from './axes.ts';
import { experimentFileSchema } from './file.ts';

/** Path of the published schema. */
export const EXPERIMENT_JSON_SCHEMA_PATH = fileURLToPath(
  new URL('../../docs/experiment-schema.json', import.meta.url),
);

const UNIT_TEXT: Record<string, string> = {
  size: 'bytes, or a size with a unit such as "64MiB"',
  rate: 'bytes/s, or a rate with a unit such as "10Gbit" or "100MiB/s"',
  duration: 'ms, or a duration with a unit such as "20s"',
};

/** Values a file also gives in the flag's text form (src/parameters/text-values.ts). */
const TEXT_FORMS: Record<string, { type: string[]; description: string; items?: unknown }> = {
  fraction: {
    type: ['number', 'string'],
    description: 'a number from 0 to 1, or a percentage such as "10%"',
  },
  policies: {
    type: ['array', 'string'],
    items: { enum: [...POLICY_NAMES] },
    description: 'a list, or comma-separated text such as "none,fixed"',
  },
  secondary: {
    type: ['object', 'string'],
    description: '{ "mode": "running", "workload": … }, or text such as "running/zipf"',
  },
};

/** The scenario keys as JSON Schema (values with units: a number in the base unit or a string). */
function scenarioKeysSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, Record<string, unknown>>;
  } & Record<string, unknown>;
  for (const o of RUN_OPTIONS) {
    if (!o.key) continue;
    const prop = schema.properties[o.key];
    if (!prop) continue;
    const unit = UNIT_TEXT[o.kind];
    const text = TEXT_FORMS[o.kind];
    if (unit) schema.properties[o.key] = { type: ['number', 'string'], description: `${o.help}: ${unit}` };
    else if (text) schema.properties[o.key] = { ...text, description: `${o.help}: ${text.description}` };
    else if (!prop.description) prop.description = o.help;
  }
  if (schema.properties.workload)
    schema.properties.workload = {
      type: ['string', 'object'],
      description: 'kind[:key=value,...] text, or an object with kind and its keys (README: workloads)',
    };
  if (schema.properties.faults)
    schema.properties.faults = {
      type: ['string', 'object'],
      description: 'a --faults spec, or an object of its keys',
    };
  // The experiment names itself and sets the seeds; `policies` applies when the grid has no `policy` axis.
  delete schema.properties.name;
  delete schema.properties.seed;
  const { $schema: _, ...rest } = schema;
  return rest;
}

/** The JSON Schema of an experiment file, as a plain object. */
export function experimentJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(experimentFileSchema, { target: 'draft-2020-12' }) as {
    properties: Record<string, Record<string, unknown>>;
  } & Record<string, unknown>;
  const base = schema.properties.base ?? {};
  schema.properties.base = { ...scenarioKeysSchema(), description: base.description };
  const grid = schema.properties.grid ?? {};
  schema.properties.grid = {
    ...grid,
    propertyNames: {
      anyOf: [
        { enum: [POLICY_AXIS, ...SCENARIO_AXES] },
        { type: 'string', pattern: '^workload\\.[A-Za-z]+$' },
      ],
    },
  };
  return {
    ...schema,
    title: 'colo experiment file',
    $comment:
      'Generated from src/experiment/file.ts. Also checked there but not expressible here: each base key and ' +
      'grid value resolves as a scenario (units, ranges, workload keys), and the grid has at most 100000 cells.',
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(EXPERIMENT_JSON_SCHEMA_PATH, `${JSON.stringify(experimentJsonSchema(), null, 2)}\n`);
  execFileSync('npx', ['biome', 'format', '--write', EXPERIMENT_JSON_SCHEMA_PATH], { stdio: 'inherit' });
  console.log(`wrote ${EXPERIMENT_JSON_SCHEMA_PATH}`);
}
