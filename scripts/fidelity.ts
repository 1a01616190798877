/**
 * `npm run fidelity` — compares the engine with real QEMU 7.2 COLO on this machine and rewrites
 * docs/fidelity.md (src/fidelity/). Opt-in: never part of `npm test` (a run takes a few minutes and both
 * cores). Installs QEMU with apt when missing; exits 1 when a check fails, 2 when it cannot run.
 *
 *   npm run fidelity                   # run QEMU and the engine, write docs/fidelity.md and reports/fidelity.json
 *   npm run fidelity -- --keep-run     # the same, and add the run's per-size points to fidelity/runs.json (the
 *                                      # pooled fit behind `--link-profile qemu-tcg-loopback`; then copy the new
 *                                      # fit it prints into src/parameters/link-profiles.ts, which a unit test checks)
 *   npm run fidelity -- --report-only  # re-render docs/fidelity.md from the last reports/fidelity.json
 *   npm run fidelity -- --reuse-runs   # no QEMU: analyse the last kept QEMU runs again (engine, fit, report)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { keepRun, parseKeptRuns, poolRuns } from '../src/fidelity/pooled.ts';
import { type FidelityResult, renderReport } from '../src/fidelity/report.ts';
import { runFidelity } from '../src/fidelity/run-fidelity.ts';

const root = resolve(import.meta.dirname, '..');
const log = (line: string) => process.stdout.write(`fidelity: ${line}\n`);
try {
  const json = join(root, 'reports', 'fidelity.json');
  const keptFile = join(root, 'fidelity', 'runs.json');
  // Every argument is checked before anything runs: an unknown or mistyped flag would otherwise start a
  // full QEMU run and rewrite docs/fidelity.md and fidelity/runs.json.
  const args = process.argv.slice(2);
  const known = ['--report-only', '--reuse-runs', '--keep-run'];
  const unknown = args.filter((a) => !known.includes(a));
  if (unknown.length > 0) {
    throw new Error(
      `unknown argument ${unknown[0]} (expected none, --keep-run, --report-only or --reuse-runs)`,
    );
  }
  const reportOnly = args.includes('--report-only');
  const reuseRuns = args.includes('--reuse-runs');
  const keepThisRun = args.includes('--keep-run');
  if (reportOnly && reuseRuns) throw new Error('--report-only and --reuse-runs exclude each other');
  if (keepThisRun && (reportOnly || reuseRuns)) {
    throw new Error('--keep-run keeps a fresh QEMU run: it excludes --report-only and --reuse-runs');
  }
  if (reportOnly && !existsSync(json)) {
    throw new Error(
      `--report-only needs ${json}, written by a full run or --reuse-runs (it is not committed)`,
    );
  }
  const result = reportOnly
    ? (JSON.parse(readFileSync(json, 'utf8')) as FidelityResult)
    : await runFidelity(log, { reuseRuns });
  // Only a fresh QEMU run asked to (--keep-run) joins the kept runs: by default a run leaves the shipped
  // calibration (and link-profiles.ts, which must match it) as it is.
  let kept = existsSync(keptFile) ? parseKeptRuns(readFileSync(keptFile, 'utf8')) : [];
  if (keepThisRun) {
    kept = keepRun(kept, {
      ranAt: result.ranAt,
      points: result.points,
      deviceStateBytes: result.deviceStateBytes,
      timerLateMs: result.timerLateMs,
    });
    writeFileSync(keptFile, `${JSON.stringify(kept, null, 2)}\n`);
  }
  if (kept.length > 0) result.pooled = poolRuns(kept);
  if (keepThisRun && result.pooled) {
    const { link, costs } = result.pooled.calibration;
    log(
      `fidelity/runs.json now holds ${kept.length} run(s); put this fit into src/parameters/link-profiles.ts ` +
        `(qemu-tcg-loopback; test/unit/fidelity/profile.test.ts checks it): ${JSON.stringify({ link, costs, deviceStateBytes: result.pooled.deviceStateBytes })}`,
    );
  }
  writeFileSync(join(root, 'docs', 'fidelity.md'), renderReport(result));
  mkdirSync(join(root, 'reports'), { recursive: true });
  if (!reportOnly) writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
  const failed = result.scenarios.filter((s) => !(s.sequencesOk && s.countOk && s.bytesOk && s.pauseOk));
  log(`docs/fidelity.md written (${(result.wallMs / 1000).toFixed(0)} s)`);
  for (const s of result.scenarios) {
    log(
      `${s.pages} pages / ${s.delayMs} ms: sequences ${s.sequencesOk}, count ${s.qemuCheckpoints}/${s.engineCheckpoints}, ` +
        `bytes ${s.qemuBytes}/${s.engineBytes}, pause ${s.qemuPauseMs.toFixed(1)}/${s.enginePauseMs.toFixed(1)} ms`,
    );
  }
  if (failed.length) {
    log(`${failed.length} scenario(s) outside the tolerances: see docs/fidelity.md`);
    process.exitCode = 1;
  }
} catch (e) {
  process.stderr.write(`fidelity: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
}
