/**
 * Writes docs/parameters.md and schema/scenario.schema.json from the parameter registry
 * (src/parameters/registry.ts). `npm run docs:parameters`; with `--check`, writes nothing and exits 1 when
 * either file is stale (test/unit/parameters/registry.test.ts checks the same).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { scenarioJsonSchema } from '../src/cli/scenario-json-schema.ts';
import { renderParametersDoc } from '../src/parameters/docs.ts';

/** Generated files, relative to the repository root, and their content now. */
export function generatedFiles(): [string, string][] {
  return [
    ['docs/parameters.md', renderParametersDoc()],
    ['schema/scenario.schema.json', `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`],
  ];
}

/**
 * Whether a checked-in file says what the registry says now: Markdown byte for byte, JSON as parsed (the
 * formatter lays it out its own way).
 */
export function isCurrent(path: string, checkedIn: string, content: string): boolean {
  if (!path.endsWith('.json')) return checkedIn === content;
  try {
    return isDeepStrictEqual(JSON.parse(checkedIn), JSON.parse(content));
  } catch {
    return false;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = new URL('..', import.meta.url);
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [path, content] of generatedFiles()) {
    const url = new URL(path, root);
    let now = '';
    try {
      now = readFileSync(url, 'utf8');
    } catch {
      // missing: stale
    }
    if (isCurrent(path, now, content)) continue;
    if (check) {
      process.stderr.write(`docs:parameters: ${path} is stale (run npm run docs:parameters)\n`);
      stale++;
    } else {
      writeFileSync(url, content);
      if (path.endsWith('.json'))
        execFileSync('npx', ['biome', 'format', '--write', path], { stdio: 'ignore' });
      process.stdout.write(`docs:parameters: wrote ${path}\n`);
    }
  }
  process.exit(stale ? 1 : 0);
}
