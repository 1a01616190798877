/**
 * Prints a scenario file's CDK context for scripts/deploy-local.sh, one `key=value` per line on stdout;
 * warnings for keys that are not deployed on stderr. Bad input: one `deploy-local: error: …` line per
 * problem on stderr, exit 1.
 *
 *   npx tsx scripts/scenario-context.ts FILE [POLICY]
 */
import { scenarioContext } from '../src/cli/deploy-scenario.ts';
import { ScenarioError } from '../src/cli/scenario.ts';

const [path, policy] = process.argv.slice(2);
if (path === undefined) {
  process.stderr.write('deploy-local: error: --scenario needs a file\n');
  process.exit(1);
}
try {
  const { context, warnings } = scenarioContext(path, policy === '' ? undefined : policy);
  for (const w of warnings) process.stderr.write(`deploy-local: warning: ${w}\n`);
  for (const [key, value] of Object.entries(context)) process.stdout.write(`${key}=${value}\n`);
} catch (e) {
  if (!(e instanceof ScenarioError)) throw e;
  for (const line of e.message.split('\n')) process.stderr.write(`deploy-local: error: ${line}\n`);
  process.exit(1);
}
