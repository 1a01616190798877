/**
 * The flags of `npm run fidelity` (scripts/fidelity.ts), checked before anything runs: a mistyped flag would
 * otherwise start a full QEMU run and rewrite docs/fidelity.md.
 */

/** What one invocation does. */
export interface FidelityArgs {
  /** Re-render docs/fidelity.md from the committed report input alone (no QEMU, no engine). */
  reportOnly: boolean;
  /** Re-analyse the QEMU runs kept in this directory (a work directory kept by `--keep-work`); no QEMU. */
  reuseRuns?: string;
  /** Add this fresh run's per-size points to fidelity/runs.json (the shipped profile's calibration). */
  keepRun: boolean;
  /** Keep the run's work directory (traces, patched QEMU, guest) instead of deleting it on exit. */
  keepWork: boolean;
  /** Print {@link FIDELITY_HELP} and do nothing else. */
  help: boolean;
}

/** What `npm run fidelity -- --help` prints. */
export const FIDELITY_HELP = `npm run fidelity [-- FLAG]: QEMU 7.2 COLO on loopback as the reference; rewrites docs/fidelity.md
  (no flag)           a fresh QEMU run (both cores, ~70 s idle), compared with the engine
  --keep-run          also add the run's per-size figures to fidelity/runs.json (the profile's calibration;
                      refused when the link meter could not acknowledge at once)
  --keep-work         keep the run's work directory (traces, patched QEMU, guest) and print its path
  --reuse-runs DIR    re-analyse the QEMU runs kept in DIR (from --keep-work); no QEMU
  --report-only       re-render docs/fidelity.md from fidelity/report.json; no QEMU, no engine
  --help, -h          this text`;

const USAGE = 'expected none, --keep-run, --keep-work, --report-only, --reuse-runs DIR or --help';

/** Parses the arguments after `npm run fidelity --`; any misuse is a one-line error. */
export function parseFidelityArgs(argv: readonly string[]): FidelityArgs {
  const out: FidelityArgs = { reportOnly: false, keepRun: false, keepWork: false, help: false };
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) return { ...out, help: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--report-only') out.reportOnly = true;
    else if (a === '--keep-run') out.keepRun = true;
    else if (a === '--keep-work') out.keepWork = true;
    else if (a === '--reuse-runs' || a.startsWith('--reuse-runs=')) {
      const dir = a === '--reuse-runs' ? argv[++i] : a.slice('--reuse-runs='.length);
      if (!dir || dir.startsWith('--')) {
        throw new Error(
          '--reuse-runs needs the directory of the kept runs (printed by a run with --keep-work)',
        );
      }
      out.reuseRuns = dir;
    } else throw new Error(`unknown argument ${a} (${USAGE})`);
  }
  if (out.reportOnly && out.reuseRuns !== undefined) {
    throw new Error('--report-only and --reuse-runs exclude each other');
  }
  if (out.keepRun && (out.reportOnly || out.reuseRuns !== undefined)) {
    throw new Error('--keep-run keeps a fresh QEMU run: it excludes --report-only and --reuse-runs');
  }
  if (out.keepWork && (out.reportOnly || out.reuseRuns !== undefined)) {
    throw new Error('--keep-work keeps a fresh QEMU run: it excludes --report-only and --reuse-runs');
  }
  return out;
}
