/**
 * `npm run fidelity` — compares the engine with real QEMU 7.2 COLO on this machine and rewrites
 * docs/fidelity.md and its input fidelity/report.json (src/fidelity/). Opt-in: never part of `npm test` (a run
 * takes a few minutes and both cores). Installs QEMU with apt when missing; exits 1 when a check fails, 2 when
 * it cannot run (nothing written then).
 *
 *   npm run fidelity                        # run QEMU and the engine in a fresh work directory (deleted on exit)
 *   npm run fidelity -- --keep-work         # the same, and keep the work directory (traces; printed) for --reuse-runs
 *   npm run fidelity -- --keep-run          # the same, and add the run's per-size points to fidelity/runs.json (the
 *                                           # pooled fit behind `--link-profile qemu-tcg-loopback`; then copy the new
 *                                           # fit it prints into src/parameters/link-profiles.ts, which a unit test checks)
 *   npm run fidelity -- --report-only       # re-render docs/fidelity.md from the committed fidelity/report.json
 *   npm run fidelity -- --reuse-runs DIR    # no QEMU: analyse the runs kept in DIR again (engine, fit, report)
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exitOnSignals } from '../src/fidelity/abort.ts';
import { FIDELITY_HELP, parseFidelityArgs } from '../src/fidelity/args.ts';
import { keepRun, keptRunOf, parseKeptRuns, poolRuns } from '../src/fidelity/pooled.ts';
import { renderReport } from '../src/fidelity/report.ts';
import { parseReport, serializeReport } from '../src/fidelity/report-file.ts';
import { runFidelity } from '../src/fidelity/run-fidelity.ts';

const root = resolve(import.meta.dirname, '..');
const log = (line: string) => process.stdout.write(`fidelity: ${line}\n`);
let work: string | undefined;
let keepWork = false;
/** The work directory goes unless kept (on every exit: done, failed or interrupted). */
const cleanUp = () => {
  if (work && !keepWork) rmSync(work, { recursive: true, force: true });
  else if (work) log(`work directory kept: ${work} (npm run fidelity -- --reuse-runs ${work})`);
  work = undefined;
};
// The QEMU pair and the quickack route first: no `finally` runs after process.exit.
exitOnSignals(cleanUp);
try {
  const reportFile = join(root, 'fidelity', 'report.json');
  const keptFile = join(root, 'fidelity', 'runs.json');
  const args = parseFidelityArgs(process.argv.slice(2));
  keepWork = args.keepWork;
  if (args.help) {
    process.stdout.write(`${FIDELITY_HELP}\n`);
  } else if (args.reportOnly) {
    // The committed input as it is: what it renders to is what the unit test compares with the doc.
    const text = readFileSync(reportFile, 'utf8');
    writeFileSync(join(root, 'docs', 'fidelity.md'), renderReport(parseReport(text, 'fidelity/report.json')));
    log('docs/fidelity.md re-rendered from fidelity/report.json');
  } else {
    if (args.reuseRuns !== undefined && !statSync(args.reuseRuns, { throwIfNoEntry: false })?.isDirectory()) {
      throw new Error(`--reuse-runs ${args.reuseRuns}: no such directory`);
    }
    // Read only where a run uses it: --report-only never does.
    const kept = existsSync(keptFile) ? parseKeptRuns(readFileSync(keptFile, 'utf8')) : [];
    work = args.reuseRuns === undefined ? mkdtempSync(join(tmpdir(), 'colo-fidelity-')) : undefined;
    const result = await runFidelity(log, {
      kept,
      ...(args.reuseRuns !== undefined ? { reuseRuns: resolve(args.reuseRuns) } : { work: work as string }),
    });
    // Only a fresh QEMU run asked to (--keep-run) joins the kept runs: by default a run leaves the shipped
    // calibration (and link-profiles.ts, which must match it) as it is.
    // Only a run whose meter acknowledged at once: the profile is fitted on runs without delayed-ACK holds.
    const toKeep = args.keepRun ? keptRunOf(result) : undefined;
    const keepRefused = toKeep && 'refused' in toKeep ? toKeep.refused : undefined;
    if (keepRefused) log(keepRefused);
    else if (toKeep && !('refused' in toKeep)) {
      const now = keepRun(kept, toKeep);
      writeFileSync(keptFile, `${JSON.stringify(now, null, 2)}\n`);
      const pooled = poolRuns(now);
      log(
        `fidelity/runs.json now holds ${now.length} run(s); put this fit into src/parameters/link-profiles.ts ` +
          `(qemu-tcg-loopback; test/unit/fidelity/profile.test.ts checks it): ${JSON.stringify({ link: pooled.calibration.link, costs: pooled.calibration.costs, deviceStateBytes: pooled.deviceStateBytes })}`,
      );
    }
    writeFileSync(reportFile, serializeReport(result));
    writeFileSync(join(root, 'docs', 'fidelity.md'), renderReport(result));
    const failed = result.scenarios.filter((s) => !(s.sequencesOk && s.countOk && s.bytesOk && s.pauseOk));
    log(`docs/fidelity.md and fidelity/report.json written (${(result.wallMs / 1000).toFixed(0)} s)`);
    for (const s of result.scenarios) {
      log(
        `${s.pages} pages / ${s.delayMs} ms: sequences ${s.sequencesOk}, count ${s.qemuCheckpoints}/${s.engineCheckpoints}, ` +
          `bytes ${s.qemuBytes}/${s.engineBytes}, pause ${s.qemuPauseMs.toFixed(1)}/${s.enginePauseMs.toFixed(1)} ms`,
      );
    }
    log(`failover states ${result.failover.ok ? 'match' : 'differ'}`);
    if (failed.length || !result.failover.ok) {
      log(`${failed.length} scenario(s) outside the tolerances: see docs/fidelity.md`);
      process.exitCode = 1;
    }
    if (keepRefused) process.exitCode = 1;
  }
} catch (e) {
  process.stderr.write(`fidelity: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
} finally {
  cleanUp();
}
