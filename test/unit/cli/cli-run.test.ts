/**
 * `colo run` end to end in-process: units, verdicts and exit codes, warnings, --dry-run figures, --json -,
 * workloads, the run header, help and version, progress, Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { workloadFromEnv } from '../../../lambda/handlers/common/params.ts';
import { DEFAULT_PARAMETERS, validateParameters } from '../../../lib/parameters.ts';
import { flagsToScenario } from '../../../src/cli/flags.ts';
import { type PolicyRunner, progressLine, runHelpText, version } from '../../../src/cli/main.ts';
import { EXIT, exitCodeOf, verdictOf } from '../../../src/cli/outcome.ts';
import { figuresOf } from '../../../src/cli/plan.ts';
import type { PolicyReport, RunReport } from '../../../src/cli/report.ts';
import { runPolicy, runScenario } from '../../../src/cli/run-command.ts';
import { fileLayer, resolveScenario } from '../../../src/cli/scenario.ts';
import { parseBandwidth, parseBytes, parseDuration, parseQuantity } from '../../../src/parameters/units.ts';
import { cli } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'colo-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A small, fast scenario: 16 MiB guest, 30 s, checkpoints every 5 s, modelled payloads. */
const SMALL = ['--guest', '16MiB', '--duration', '30s', '--checkpoint-delay', '5s', '--payload', 'modelled'];

describe('units mean what people type', () => {
  const GBIT = 1e9 / 8;
  it.each([
    ['10Gbit', 10 * GBIT],
    ['10Gbit/s', 10 * GBIT],
    ['10Gb/s', 10 * GBIT],
    ['10Gbps', 10 * GBIT],
    ['10Gb', 10 * GBIT],
    ['10gbps', 10 * GBIT],
    ['150Mbit', 150e6 / 8],
    ['1.25GB/s', 1.25e9],
    ['1GBps', 1e9],
    ['100MiB/s', 100 * 2 ** 20],
    ['1Gibit/s', 2 ** 30 / 8],
  ])('rate %s', (text, bytesPerSec) => {
    expect(parseBandwidth(text)).toBe(bytesPerSec);
  });
  it.each([
    ['4096B', 4096],
    ['1MB', 1e6],
    ['1MiB', 2 ** 20],
    ['1kB', 1000],
    ['1KiB', 1024],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['0', 0],
  ])('size %s', (text, bytes) => {
    expect(parseBytes(text)).toBe(bytes);
  });
  it.each([
    ['250ms', 250],
    ['20s', 20_000],
    ['2m', 120_000],
    ['1min', 60_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1h30m15s', 5_415_000],
    ['1s500ms', 1500],
    ['500us', 0.5],
    ['0', 0],
  ])('duration %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each([
    ['rate', '10G', /ambiguous: say 10Gbit\/s \(bits\) or 10GB\/s \(bytes\)/],
    ['rate', '100MB', /a size, not a rate: did you mean 100MB\/s/],
    ['rate', '100', /has no unit/],
    ['size', '1Mb', /in bits .*1MB or 1MiB/],
    ['size', '1Gb', /in bits .*1GB or 1GiB/],
    ['size', '64M', /ambiguous: say 64MiB .* or 64MB/],
    ['size', '1Gi', /did you mean 1GiB\?/],
    ['duration', '100', /did you mean 100s or 100ms\?/],
    ['duration', '5M', /lower-case: did you mean 5m\?/],
    ['duration', '1e400s', /too large/],
    ['duration', '5s5s', /each unit once, larger first .* "s" follows "s"/],
    ['duration', '30s1m', /"m" follows "s"/],
  ] as const)('refuses the %s %s', (kind, text, message) => {
    expect(() => parseQuantity(kind, text)).toThrow(message);
  });
});

describe('verdicts and exit codes', () => {
  it('a consistent run exits 0 and says so', async () => {
    const r = await cli(['run', ...SMALL, '--policy', 'fixed', '--quiet']);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^verdict\s+consistent$/m);
    expect(r.code).toBe(EXIT.ok);
  });

  it('--apply-timeout 1ms with no heartbeat watchdog: warned before, a failover with its cause after, exit 3 — not "diverged"', async () => {
    // Inside a checkpoint the secondary waits the longer of the apply and the heartbeat timeout; with the
    // watchdog off (--heartbeat-timeout 0) the apply timeout alone bounds that wait.
    const r = await cli([
      'run',
      ...SMALL,
      '--policy',
      'none',
      '--apply-timeout',
      '1ms',
      '--heartbeat-timeout',
      '0',
      '--quiet',
    ]);
    expect(r.err).toMatch(
      /^colo: warning: --apply-timeout 1ms is shorter than one step of a checkpoint needs here/m,
    );
    expect(r.out).toMatch(/^verdict\s+failed over$/m);
    // Nothing verified is not a pass (review E: "ok (0)" read as one).
    expect(r.out).toMatch(/^verification\s+nothing to check \(0\)$/m);
    expect(r.out).toMatch(/none: replication ended at 5\.0 s: secondary took over \(primary fenced\)/);
    expect(r.out).toMatch(
      /why: the secondary waited longer than --apply-timeout \(1ms\) for the primary to stop its VM/,
    );
    expect(r.err).toMatch(
      /^colo: warning: none: replication ended at 5(\.\d+)? s, before the first checkpoint completed/m,
    );
    expect(r.code).toBe(EXIT.failedOver);
  });

  it('--apply-timeout 1ms with the default heartbeat timeout: checkpoints wait 10 s, so no warning and no failover', async () => {
    const r = await cli(['run', ...SMALL, '--policy', 'none', '--apply-timeout', '1ms', '--quiet']);
    expect(r.err).not.toMatch(/shorter than one step of a checkpoint/);
    expect(r.out).toMatch(/^verdict\s+consistent$/m);
    expect(r.code).toBe(EXIT.ok);
  });

  it('a slow link: heartbeats queued behind a round are named as the cause', () => {
    const s = resolveScenario(
      flagsToScenario({
        guest: '256MiB',
        bandwidth: '1Mbit',
        duration: '30s',
        policy: 'fixed',
        payload: 'modelled',
      }),
    );
    const run = runPolicy(s, 'fixed');
    expect(run.verdict).toBe('failed-over');
    expect(run.verification.consistent).toBe(true);
    expect(run.outcome?.state).toBe('secondary-took-over');
    expect(run.outcome?.cause).toMatch(
      /heard nothing from the primary for 12\.5 s .*though it was running: its heartbeats were queued behind page data — one 64 MiB delta object takes 8\.95 min at 1 Mbit\/s/,
    );
  });

  it('a run shorter than the first checkpoint warns before and after and exits 4', async () => {
    const r = await cli(['run', ...SMALL, '--duration', '3s', '--policy', 'fixed', '--quiet']);
    expect(r.err).toMatch(
      /^colo: warning: no checkpoint falls within the run: --duration 3s ends before the first at 5s/m,
    );
    expect(r.err).toMatch(
      /^colo: warning: fixed: the run \(3s\) ended before the first checkpoint \(5s\): downtime and MiB at checkpoints are zeros, not measurements$/m,
    );
    expect(r.code).toBe(EXIT.nothingMeasured);
  });

  it('diverged replicas exit 2 and show DIVERGED, whatever else happened', async () => {
    const s = resolveScenario(
      flagsToScenario({ guest: '16MiB', duration: '30s', checkpointDelay: '5s', payload: 'modelled' }),
    );
    const good = runPolicy(s, 'fixed');
    const bad: PolicyReport = {
      ...runPolicy(s, 'none'),
      verdict: 'diverged',
      verification: {
        consistent: false,
        checkpointsVerified: 2,
        problems: ['epoch 3: committed image ≠ PVM at stop'],
      },
    };
    const runner: PolicyRunner = (_s, policy) => ({
      result: Promise.resolve(policy === 'none' ? bad : good),
      cancel: () => {},
    });
    const r = await cli(['run', ...SMALL, '--quiet'], { runner });
    expect(r.out).toMatch(/^verdict\s+DIVERGED\s+consistent$/m);
    expect(r.out).toMatch(/none: epoch 3: committed image ≠ PVM at stop/);
    expect(r.code).toBe(EXIT.diverged);
  });

  it('the worst verdict decides the code', () => {
    const run = (consistent: boolean, state: 'replicating' | 'primary-alone', checkpoints: number) => ({
      verification: { consistent },
      outcome: { state, text: '', at: null, reason: null, primaryPhase: '', secondaryPhase: '' },
      summary: { checkpoints },
    });
    expect(verdictOf(run(true, 'replicating', 1))).toBe('consistent');
    expect(verdictOf(run(true, 'primary-alone', 1))).toBe('failed-over');
    expect(verdictOf(run(false, 'primary-alone', 1))).toBe('diverged');
    expect(exitCodeOf([run(true, 'replicating', 1)])).toBe(0);
    expect(exitCodeOf([run(true, 'replicating', 0)])).toBe(4);
    expect(exitCodeOf([run(true, 'replicating', 0), run(true, 'primary-alone', 3)])).toBe(3);
    expect(exitCodeOf([run(false, 'replicating', 3), run(true, 'primary-alone', 3)])).toBe(2);
  });
});

describe('--dry-run and the derived figures', () => {
  it('prints the figures and warnings, runs nothing, exits 0', async () => {
    const r = await cli(['run', '--dry-run', '--bandwidth', '1Mbit', '--duration', '10s']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/dry run: nothing was run/);
    expect(r.out).toMatch(/threshold\s+100 MiB = 25600 pages, 14 min of link time at 1 Mbit\/s/);
    expect(r.out).toMatch(/checkpoints\s+every 20 s: 0 expected/);
    expect(r.out).toMatch(/downtime floor\s+2\.11 s/);
    expect(r.out).toMatch(/^warning: no checkpoint falls within the run/m);
    expect(r.out).toMatch(/^warning: the link is too slow for this guest/m);
    expect(r.out).not.toMatch(/verdict/);
  });

  it('the header lists what a flag changed, not a flag that gives the default', async () => {
    const same = await cli(['run', '--dry-run', '--guest', '1024MiB', '--bandwidth', '1000Mbit']);
    expect(same.out).toMatch(/^scenario cold-dominated \(dry run: nothing was run\)$/m);
    const changed = await cli(['run', '--dry-run', '--guest', '2GiB', '--bandwidth', '1Gbit']);
    expect(changed.out).toMatch(
      /^scenario cold-dominated \(changed: --guest\) \(dry run: nothing was run\)$/m,
    );
  });

  it('warns of a workload page count beyond the guest (the engine caps it at the guest)', async () => {
    const r = await cli(['run', '--dry-run', '--guest', '64MiB', '--workload', 'hotcold:hotPages=999999']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^warning: --workload hotPages=999999 is more than the guest's 16384 pages \(--guest 64 MiB\): the workload uses all of RAM instead$/m,
    );
    const seq = await cli(['run', '--dry-run', '--guest', '4MiB', '--workload', 'sequential:spanPages=2048']);
    expect(seq.out).toMatch(/^warning: --workload spanPages=2048 is more than the guest's 1024 pages/m);
    const fits = await cli(['run', '--dry-run', '--guest', '64MiB', '--workload', 'hotcold']);
    expect(fits.out).not.toMatch(/more than the guest/);
  });

  it('the floor is what an idle guest stops for; the none estimate is within 15 % of a run', () => {
    for (const link of [
      { bandwidth: '1Gbit', latency: '0.1ms', deviceState: '256KiB' },
      { bandwidth: '10Mbit', latency: '5ms', deviceState: '1MiB' },
    ]) {
      const s = resolveScenario({
        ...link,
        workload: { kind: 'idle' },
        guest: '16MiB',
        duration: '65s',
        policies: ['none'],
        payload: 'modelled',
      });
      const run = runScenario(s).runs[0];
      expect(run?.summary.checkpoints).toBe(figuresOf(s).expectedCheckpoints);
      expect(Math.abs((run?.summary.downtimeMs.p50 ?? 0) / figuresOf(s).floorMs - 1)).toBeLessThan(0.01);
    }
    for (const workload of [
      { kind: 'hotcold', hotPages: 4096, hotRate: 4000, coldRate: 2500 },
      { kind: 'uniform', rate: 5000 },
      { kind: 'buffered-io' },
    ]) {
      const s = resolveScenario({
        workload,
        guest: '256MiB',
        duration: '45s',
        policies: ['none'],
        payload: 'modelled',
      });
      const run = runScenario(s).runs[0];
      const f = figuresOf(s);
      expect(run?.summary.checkpoints).toBe(f.expectedCheckpoints);
      expect(Math.abs((run?.summary.downtimeMs.p50 ?? 0) / f.noneDowntimeMs - 1)).toBeLessThan(0.15);
    }
  });
});

describe('outputs', () => {
  it('--json - writes the report to stdout and the table to stderr', async () => {
    const r = await cli(['run', ...SMALL, '--policy', 'fixed', '--json', '-', '--quiet']);
    const report = JSON.parse(r.out) as RunReport;
    expect(report.runs[0]?.verdict).toBe('consistent');
    expect(report.warnings).toEqual([]);
    expect(r.err).toMatch(/^verdict\s+consistent$/m);
    expect(r.code).toBe(0);
  });

  it('--json FILE: the report has verdicts and warnings; no file named "-" appears', async () => {
    const path = join(dir, 'r.json');
    const r = await cli(['run', ...SMALL, '--duration', '3s', '--policy', 'none', '--json', path, '--quiet']);
    expect(r.code).toBe(EXIT.nothingMeasured);
    const report = JSON.parse(readFileSync(path, 'utf8')) as RunReport;
    expect(report.warnings?.[0]).toMatch(/no checkpoint falls within the run/);
    expect(report.runs[0]?.warnings?.[0]).toMatch(/^none: the run \(3s\) ended before the first checkpoint/);
    expect(() => statSync('-')).toThrow();
  });
});

describe('workloads', () => {
  it('a kind alone takes the same defaults on the command line, in a file and in the stack', () => {
    const flag = resolveScenario(flagsToScenario({ workload: 'uniform' })).params.workload;
    const file = resolveScenario(fileLayer('f.json', { workload: { kind: 'uniform' } })).params.workload;
    const stack = workloadFromEnv(
      validateParameters({ ...DEFAULT_PARAMETERS, workload: 'uniform' }).workload,
    );
    expect(flag).toEqual({ kind: 'uniform', rate: 2000 });
    expect(file).toEqual(flag);
    expect(stack).toEqual(flag);
  });

  it('page keys take sizes and rate keys byte rates', () => {
    const w = resolveScenario(
      flagsToScenario({ workload: 'hotcold:hotPages=16MiB,hotRate=40MiB/s,coldRate=100/s' }),
    ).params.workload;
    expect(w).toEqual({ kind: 'hotcold', hotPages: 4096, hotRate: 10_240, coldRate: 100 });
  });

  it('the header names what changed and shows the workload in full', async () => {
    expect(resolveScenario().name).toBe('cold-dominated');
    expect(resolveScenario(flagsToScenario({ workload: 'zipf', seed: '42' })).name).toBe(
      'cold-dominated (changed: --workload)',
    );
    const named = resolveScenario(
      fileLayer('b.json', { name: 'mine', guest: '64MiB' }),
      flagsToScenario({ guest: '32MiB' }),
    );
    expect(named.name).toBe('mine (changed: --guest)');
    const r = await cli(['run', ...SMALL, '--policy', 'fixed', '--workload', 'uniform:rate=100', '--quiet']);
    expect(r.out).toMatch(
      /^scenario cold-dominated \(changed: [^)]*--workload[^)]*\): guest 16 MiB, workload uniform \(rate=100\/s\),/,
    );
  });
});

describe('help and version', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(version()).toBe(pkg.version);
    const r = await cli(['--version']);
    expect(r.out).toBe(`${pkg.version}\n`);
    expect(r.code).toBe(0);
  });

  it('colo run --help shows every default, the units, the workload kinds, the exit codes and examples', async () => {
    const help = (await runHelpText()).replace(/\s+/g, ' ');
    for (const text of [
      '(default: 20s)',
      '(default: 100MiB)',
      '(default: 1Gbit)',
      '(default: 64MiB)',
      'b is a bit',
      'buffered-io',
      'uniform:rate=2000/s',
      '(default: hotcold:hotPages=4096,hotRate=4000,coldRate=2500)',
      '130 interrupted',
      'Examples:',
      '--json - |',
    ]) {
      expect(help).toContain(text);
    }
  });

  it('the README shows colo run --help exactly as it prints', async () => {
    const readme = readFileSync('README.md', 'utf8');
    const m = /<!-- colo-run-help -->\n```text\n([\s\S]*?)```\n<!-- \/colo-run-help -->/.exec(readme);
    expect(m, 'README has a colo-run-help block').not.toBeNull();
    expect(m?.[1]).toBe(await runHelpText());
  });

  it('bin/colo.ts is executable as committed, so npx does not change its mode', () => {
    expect(statSync('bin/colo.ts').mode & 0o111).toBe(0o111);
  });
});

describe('progress and Ctrl-C', () => {
  it('the progress line guesses the time left only once it can', () => {
    const base = { policy: 'fixed', index: 0, count: 2, simulatedMs: 100_000 };
    expect(progressLine({ ...base, fraction: 0.1, elapsedMs: 300 })).toBe(
      '[fixed 1/2] 10% of 100 s simulated',
    );
    expect(progressLine({ ...base, fraction: 0.5, elapsedMs: 5000 })).toBe(
      '[fixed 1/2] 50% of 100 s simulated, about 15 s left',
    );
    expect(progressLine({ ...base, index: 1, fraction: 1, elapsedMs: 9000 })).toBe(
      '[fixed 2/2] 100% of 100 s simulated, done in 9.0 s',
    );
    expect(progressLine({ ...base, count: 1, fraction: 0.25, elapsedMs: 60_000 })).toBe(
      '[fixed] 25% of 100 s simulated, about 3 min left',
    );
  });

  it('Ctrl-C stops the running policy and prints the finished ones (in-process runner)', async () => {
    const s = resolveScenario(
      flagsToScenario({ guest: '16MiB', duration: '30s', checkpointDelay: '5s', payload: 'modelled' }),
    );
    const first = runPolicy(s, 'none');
    let interrupt: () => void = () => {};
    let cancelled = false;
    const runner: PolicyRunner = (_s, policy) =>
      policy === 'none'
        ? { result: Promise.resolve(first), cancel: () => {} }
        : {
            result: new Promise((_resolve, reject) => {
              setImmediate(() => interrupt());
              const timer = setInterval(() => {
                if (cancelled) {
                  clearInterval(timer);
                  reject(new Error('cancelled'));
                }
              }, 1);
            }),
            cancel: () => {
              cancelled = true;
            },
          };
    const path = join(dir, 'interrupted.json');
    const r = await cli(['run', ...SMALL, '--policy', 'none,fixed,adaptive', '--json', path, '--quiet'], {
      runner,
      onInterrupt: (h) => {
        interrupt = h;
        return () => {};
      },
    });
    expect(r.code).toBe(EXIT.interrupted);
    expect(r.err).toMatch(/^colo: interrupted: finished none; not run: fixed, adaptive$/m);
    expect(r.out).toMatch(/^\s+none$/m);
    expect(r.out).not.toMatch(/fixed/);
    const report = JSON.parse(readFileSync(path, 'utf8')) as RunReport;
    expect(report.interrupted).toEqual({ notRun: ['fixed', 'adaptive'] });
    expect(report.runs.map((x) => x.policy)).toEqual(['none']);
  });

  it('Ctrl-C on the real command (worker thread) exits 130 with the finished policy printed', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bin/colo.ts',
        'run',
        '--policy',
        'none,fixed',
        '--guest',
        '256MiB',
        '--duration',
        '30m',
        '--payload',
        'modelled',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      // The first policy is done once the second has started: interrupt it (once: a second Ctrl-C quits).
      if (!sent && /\[fixed 2\/2\]/.test(err)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(err).toMatch(/colo: interrupted: finished none; not run: fixed/);
    expect(out).toMatch(/^verdict\s+consistent$/m);
    expect(out).not.toMatch(/fixed/);
    expect(err).not.toMatch(/\n\s+at /);
    expect(code).toBe(130);
  }, 120_000);
});
