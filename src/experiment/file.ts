/**
 * The experiment file of `colo experiment FILE` (YAML or JSON): its schema (published as JSON Schema in
 * docs/experiment-schema.json), reading and validation with one-line errors naming the file and the key.
 */

import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { duplicateJsonKey } from '../parameters/json-text.ts';
import { escapeControls } from '../runtime/cloud/text.ts';
import { METRIC_NAMES, type MetricName } from './metrics.ts';

/** An experiment file that cannot be read or is not valid; one line per problem. */
export class ExperimentError extends Error {
  override readonly name = 'ExperimentError';
}

/** Cells in one experiment at most (a guard against a typo that multiplies a grid). */
export const MAX_CELLS = 100_000;

/** Characters of a description at most. */
export const MAX_DESCRIPTION = 4000;

/** Size of an experiment file at most, bytes. */
export const MAX_FILE_BYTES = 1024 * 1024;

const axisValue = z.union([z.number(), z.string(), z.record(z.string(), z.unknown())], {
  error: 'expected a number, a string (a value with a unit) or an object',
});

const seed = z
  .number('expected a whole number')
  .int('must be a whole number')
  .min(0, 'must be 0 or more')
  .max(0xffff_ffff, 'must be at most 4294967295');

/** The experiment file format (the JSON Schema is generated from it). */
export const experimentFileSchema = z
  .object({
    name: z
      .string('expected a name')
      .regex(
        /^[a-z0-9][a-z0-9._-]{0,63}$/,
        'must be 1-64 lower-case letters, digits, ".", "_" or "-" (it names the output folder)',
      )
      .describe('Names the experiment and its output folder.'),
    description: z
      .string('expected text')
      .max(MAX_DESCRIPTION, `must be at most ${MAX_DESCRIPTION} characters`)
      // Written into summary.md and report.html: tabs and line breaks only.
      .regex(
        // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it refuses
        /^[^\u0000-\u0008\u000b-\u001f\u007f]*$/,
        'must not hold control characters (tabs and line breaks are fine)',
      )
      .optional()
      .describe('What the experiment asks.'),
    base: z
      .record(z.string(), z.unknown(), 'expected an object of scenario keys')
      .optional()
      .describe('Scenario keys every cell starts from, as in a scenario file (docs/report-format.md).'),
    grid: z
      .record(z.string(), z.array(axisValue, 'expected a list of values').min(1, 'give at least one value'), {
        error: 'expected an object of axis: [values]',
      })
      .optional()
      .describe(
        'Axes and their values; the cells are every combination × seeds. An axis is a scenario key, ' +
          '`policy`, or `workload.KEY` (src/experiment/axes.ts).',
      ),
    seeds: z
      .union(
        [
          z
            .number()
            .int('a count of seeds must be a whole number')
            .min(1, 'a count of seeds must be 1 or more')
            .max(10_000, 'a count of seeds must be at most 10000'),
          z.array(seed).min(1, 'give at least one seed'),
        ],
        {
          error: 'expected a count (seeds 1..N) or a list of seeds',
        },
      )
      .optional()
      .describe('A count N (seeds 1..N) or a list of seeds; default one seed, 42.'),
    chart: z
      .object({
        x: z
          .string('expected an axis name')
          .optional()
          .describe('The axis on the x axis; default the first axis other than policy.'),
        log: z.boolean('expected true or false').optional().describe('Log scale on x.'),
        metrics: z
          .array(
            z.enum(
              METRIC_NAMES as [MetricName, ...MetricName[]],
              `must be one of ${METRIC_NAMES.join(', ')}`,
            ),
          )
          .min(1, `give at least one metric: ${METRIC_NAMES.join(', ')}`)
          .optional()
          .describe('Metrics charted, one chart each.'),
        timeline: z
          .union([z.literal(false), z.record(z.string(), z.union([z.string(), z.number()]))], {
            error: 'expected false or an object of axis: value',
          })
          .optional()
          .describe(
            'The cells whose run timeline the report shows, one per policy, first seed: axis values (as written) ' +
              'that pick them (default: the first value of every axis); false for none.',
          ),
      })
      .strict()
      .optional(),
  })
  .strict();

/** An experiment file as validated (scenario keys not yet resolved). */
export type ExperimentFile = z.infer<typeof experimentFileSchema>;

/** Reads and validates an experiment file; `.json` is JSON, anything else YAML (a superset of JSON). */
export function readExperimentFile(path: string): ExperimentFile {
  let text: string;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new ExperimentError(`${path} is a directory, not an experiment file`);
    // A device or a FIFO could stream without end or block: only regular files are read.
    if (!st.isFile())
      throw new ExperimentError(`experiment file ${path} is not a regular file (a device, FIFO or socket)`);
    if (st.size > MAX_FILE_BYTES)
      throw new ExperimentError(`experiment file ${path} is larger than 1 MiB (${st.size} bytes)`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ExperimentError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : (e as Error).message;
    throw new ExperimentError(`experiment file ${path} ${why}`);
  }
  return parseExperiment(path, text);
}

/** Parses and validates the text of an experiment file named `path` (errors name it). */
export function parseExperiment(path: string, text: string): ExperimentFile {
  let content: unknown;
  if (/\.json$/i.test(path)) {
    try {
      content = JSON.parse(text) as unknown;
    } catch (e) {
      // V8 quotes the text near the error, line breaks included: keep the message on one line.
      throw new ExperimentError(
        `experiment file ${path} is not valid JSON: ${(e as Error).message.replace(/\r?\n/g, '\\n')}`,
      );
    }
    const twice = duplicateJsonKey(text);
    if (twice) throw new ExperimentError(`experiment file ${path}: ${twice}`);
  } else {
    try {
      content = parseYaml(text, { prettyErrors: false, uniqueKeys: true }) as unknown;
    } catch (e) {
      if (e instanceof YAMLParseError) {
        const offset = e.pos[0];
        const before = text.slice(0, offset).split('\n');
        const where = ` (line ${before.length}, column ${(before[before.length - 1]?.length ?? 0) + 1})`;
        throw new ExperimentError(
          `experiment file ${path} is not valid YAML: ${e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}${where}`,
        );
      }
      throw e;
    }
  }
  if (typeof content !== 'object' || content === null || Array.isArray(content)) {
    throw new ExperimentError(`experiment file ${path}: must be an object with name, base, grid and seeds`);
  }
  const odd = oddValue(content, '');
  if (odd) throw new ExperimentError(`experiment file ${path}: ${odd}`);
  const parsed = experimentFileSchema.safeParse(content);
  if (!parsed.success) {
    const keys = Object.keys(experimentFileSchema.shape);
    throw new ExperimentError(
      parsed.error.issues
        .map((issue) => {
          const where = issue.path.map(String).join('.');
          if (issue.code === 'unrecognized_keys') {
            return issue.keys
              .map((k) =>
                escapeControls(
                  `experiment file ${path}: ${where ? `${where}: ` : ''}unknown key "${k}"${where ? '' : `: use ${keys.join(', ')}`}`,
                ),
              )
              .join('\n');
          }
          // One problem per line: what it quotes keeps its newlines and escapes as text.
          return escapeControls(`experiment file ${path}: ${where || 'file'}: ${issue.message}`);
        })
        .join('\n'),
    );
  }
  return parsed.data;
}

/**
 * A value the schema would drop or misname, as a one-line problem: a `__proto__` key (zod drops it where
 * other unknown keys are refused) or a number that is not finite (YAML's .nan, .inf).
 */
function oddValue(value: unknown, where: string): string | undefined {
  if (typeof value === 'number' && !Number.isFinite(value))
    return `${where || 'file'}: ${value} is not a finite number`;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const at = Array.isArray(value) ? `${where}[${k}]` : where ? `${where}.${k}` : k;
    if (k === '__proto__') return `${at}: "__proto__" is not a key`;
    const found = oddValue(v, at);
    if (found) return found;
  }
  return undefined;
}
