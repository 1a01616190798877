import { describe, expect, it } from 'vitest';
import { parseFidelityArgs } from '../../../src/fidelity/args.ts';

describe('npm run fidelity: flags', () => {
  it('reads each flag, --reuse-runs with its directory in either form', () => {
    expect(parseFidelityArgs([])).toEqual({
      reportOnly: false,
      keepRun: false,
      keepWork: false,
      help: false,
    });
    expect(parseFidelityArgs(['--keep-run', '--keep-work'])).toEqual({
      reportOnly: false,
      keepRun: true,
      keepWork: true,
      help: false,
    });
    expect(parseFidelityArgs(['--help']).help).toBe(true);
    expect(parseFidelityArgs(['-h']).help).toBe(true);
    expect(parseFidelityArgs(['--report-only']).reportOnly).toBe(true);
    expect(parseFidelityArgs(['--reuse-runs', '/tmp/x']).reuseRuns).toBe('/tmp/x');
    expect(parseFidelityArgs(['--reuse-runs=/tmp/y']).reuseRuns).toBe('/tmp/y');
  });

  it('refuses an unknown flag, a --reuse-runs without its directory and flags that exclude each other', () => {
    const one = (argv: string[]) => {
      try {
        parseFidelityArgs(argv);
      } catch (e) {
        const m = (e as Error).message;
        expect(m).not.toContain('\n');
        return m;
      }
      throw new Error(`${argv.join(' ')} was accepted`);
    };
    expect(one(['--keep-runs'])).toContain('unknown argument --keep-runs');
    // --help alone: with another flag it is a misuse, not a silent help.
    expect(one(['--help', '--keep-run'])).toContain('unknown argument --help');
    expect(one(['--reuse-runs'])).toContain('needs the directory');
    expect(one(['--reuse-runs', '--keep-run'])).toContain('needs the directory');
    expect(one(['--reuse-runs='])).toContain('needs the directory');
    expect(one(['--report-only', '--reuse-runs', 'd'])).toContain('exclude each other');
    expect(one(['--keep-run', '--report-only'])).toContain('--keep-run keeps a fresh QEMU run');
    expect(one(['--keep-work', '--reuse-runs', 'd'])).toContain('--keep-work keeps a fresh QEMU run');
  });
});
