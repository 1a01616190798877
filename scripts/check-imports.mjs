#!/usr/bin/env node
/**
 * The import rule: layers read top-down — engine (pure) → wire → parameters → cost model (pure) → runtimes (and the AWS adapters,
 * the report renderer) → CLI / experiments / Lambda shells (and the LocalStack tooling) → CDK — and nothing
 * imports a layer below its own; every file of src/, lambda/, lib/ and bin/ is in a layer.
 * The engine also imports no AWS SDK and reads no wall clock (`Date.now`, `performance.now`, `new Date()`,
 * `Date()`, `process.hrtime`).
 * Run by scripts/test.sh before the unit tests (`npm run check:imports`); exits 1 listing each violation.
 *
 *   node scripts/check-imports.mjs [ROOT]
 *
 * Known violations still to be undone are listed in KNOWN with the reason; a known one that disappears
 * must be removed from the list (the check fails on a stale entry too), and a new one fails the check.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Layers, first = most fundamental; a file may import its own layer and those before it. */
export const LAYERS = [
  { name: 'engine', dirs: ['src/engine'] },
  { name: 'wire', dirs: ['src/wire'] },
  { name: 'parameters', dirs: ['src/parameters'] },
  // The cost model: pure, below the runtimes (the usage meter in lambda/adapters and the CLI both use it).
  { name: 'cost', dirs: ['src/cost'] },
  {
    name: 'runtime',
    dirs: [
      'src/runtime/embedded',
      'src/runtime/cloud',
      'src/runtime/verify.ts',
      'src/runtime/report.ts',
      'src/report',
      'lambda/adapters',
    ],
  },
  {
    name: 'shell',
    dirs: [
      'src/cli',
      'src/experiment',
      'src/fidelity',
      'lambda/handlers',
      'src/runtime/localstack',
      'bin/colo.ts',
    ],
  },
  { name: 'cdk', dirs: ['lib', 'bin/app.ts', 'bin/experiment-app.ts'] },
];

/**
 * Upward imports that are known and not yet undone: `from → to` with the reason. Each must still exist.
 */
export const KNOWN = {};

/**
 * Function bundles (one per production handler entry, `lambda/handlers/*.ts`) may not reach these: test and
 * replay tooling. The test-only entries in `lambda/handlers/test/` (deployed only with context
 * `virtualClock=allow`) are exempt.
 */
export const NOT_IN_BUNDLES = ['src/runtime/localstack/', 'test/', 'bench/', 'experiments/'];

const SKIP_DIRS = new Set(['node_modules', 'cdk.out', '.git', '.venv']);

function walk(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    if (SKIP_DIRS.has(e)) continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function layerOf(rel) {
  for (let i = 0; i < LAYERS.length; i++) {
    for (const d of LAYERS[i].dirs) if (rel === d || rel.startsWith(`${d}/`)) return i;
  }
  return -1;
}

// `import … from`, `export … from`, a side-effect `import 'x'` and a dynamic `import('x')`.
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;
// `Date.now()`, `performance.now()`, `new Date()`, `Date()` (a string of now) and `process.hrtime`.
const WALL_CLOCK =
  /\bDate\.now\s*\(|\bperformance\.now\s*\(|\bnew Date\s*\(\s*\)|(?<![\w.$]|\bnew\s+)Date\s*\(\s*\)|\bprocess\.hrtime\b/;

/**
 * Every violation under `root`: upward imports, AWS SDK imports and wall-clock reads in the engine.
 *
 * @returns One line per violation, and the known ones that no longer occur.
 */
export function check(root, known = KNOWN) {
  const problems = [];
  const seen = new Set();
  const files = ['src', 'lambda', 'lib', 'bin'].flatMap((d) => walk(join(root, d)));
  /** Relative value imports of each file (type-only imports are erased from bundles), for the bundle rule. */
  const graph = new Map();
  for (const file of files) {
    const rel = relative(root, file).split(sep).join('/');
    const from = layerOf(rel);
    const text = readFileSync(file, 'utf8');
    const edges = [];
    graph.set(rel, edges);
    // A file outside every layer would escape the rule both ways.
    if (from < 0)
      problems.push(`${rel}: in no layer (add its folder to LAYERS in scripts/check-imports.mjs)`);
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec.startsWith('.') && !/^\s*(import|export)\s+type\s/.test(m[0].trimStart())) {
        edges.push(
          relative(root, resolve(dirname(file), spec))
            .split(sep)
            .join('/'),
        );
      }
      if (from < 0) continue;
      if (from === 0 && /^@aws-sdk\/|^aws-sdk$|^@aws-lambda-powertools\/|^aws-cdk-lib/.test(spec)) {
        problems.push(`${rel}: the engine imports ${spec} (no AWS in the engine)`);
        continue;
      }
      if (!spec.startsWith('.')) continue;
      const target = relative(root, resolve(dirname(file), spec))
        .split(sep)
        .join('/');
      const to = layerOf(target);
      if (to <= from) continue;
      const key = `${rel} → ${target}`;
      if (key in known) {
        seen.add(key);
        continue;
      }
      problems.push(`${rel} (${LAYERS[from].name}) imports ${target} (${LAYERS[to].name}): an upward import`);
    }
    if (from < 0) continue;
    if (from === 0 && WALL_CLOCK.test(text)) problems.push(`${rel}: the engine reads the wall clock`);
  }
  // Function bundles: everything a handler entry reaches, transitively.
  for (const entry of files.map((f) => relative(root, f).split(sep).join('/'))) {
    if (!/^lambda\/handlers\/[^/]+\.ts$/.test(entry)) continue;
    const reached = new Set([entry]);
    const stack = [entry];
    while (stack.length) {
      const at = stack.pop();
      if (!graph.has(at)) continue;
      for (const next of graph.get(at)) {
        if (reached.has(next)) continue;
        reached.add(next);
        stack.push(next);
        if (!NOT_IN_BUNDLES.some((d) => next.startsWith(d))) continue;
        const key = `${entry} ⇒ ${next}`;
        if (key in known) seen.add(key);
        else problems.push(`${entry}: its function bundle includes ${next} (test or replay tooling)`);
      }
    }
  }
  for (const key of Object.keys(known)) {
    if (!seen.has(key)) problems.push(`known violation no longer occurs, remove it from KNOWN: ${key}`);
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const problems = check(root, process.argv[2] ? {} : KNOWN);
  for (const p of problems) process.stderr.write(`check-imports: ${p}\n`);
  if (problems.length) process.exit(1);
  process.stdout.write(`check-imports: layers ${LAYERS.map((l) => l.name).join(' → ')} hold\n`);
}
