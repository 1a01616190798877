import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onAbort } from './abort.ts';
import { freePort, type LinkChunk, LinkMeter, wallMs } from './link-meter.ts';
import { Qmp, type QmpEvent } from './qmp.ts';
import type { RelayAck } from './relay-ack.ts';

/** One reference run of a QEMU COLO pair. */
export interface PairScenario {
  /** Pages the guest dirties per epoch, pages. */
  pages: number;
  /** `x-checkpoint-delay`, ms. */
  delayMs: number;
  /** How long COLO runs before the run ends, ms. */
  windowMs: number;
  /** End with a failover (kill the primary, `x-colo-lost-heartbeat` on the secondary) instead of a stop. */
  failover: boolean;
}

/** What a reference run left behind. */
export interface PairRun {
  scenario: PairScenario;
  /** Raw trace logs (`-D`), one per side. */
  primaryLog: string;
  secondaryLog: string;
  /** Bytes on the link, per read. */
  link: LinkChunk[];
  /** When the primary's trace showed checkpoint-ready and when the window ended, ms since the Unix epoch. */
  coloAt: number;
  endAt: number;
  /** Secondary QMP events (COLO_EXIT on failover). */
  secondaryEvents: QmpEvent[];
  /** `query-colo-status` on the secondary after failover. */
  coloStatus: unknown;
  /** The link meter acknowledged the primary's bytes at once (relay-ack.ts); absent in runs kept before. */
  relayQuickAck?: boolean;
}

function vmArgs(kernel: string, dir: string, side: string): string[] {
  return [
    // The relocated copy does not see Debian's built-in firmware path (SeaBIOS lives apart).
    '-L',
    '/usr/share/qemu',
    '-L',
    '/usr/share/seabios',
    '-machine',
    'pc,accel=tcg',
    '-m',
    '512M',
    '-nodefaults',
    '-display',
    'none',
    '-kernel',
    kernel,
    '-serial',
    `file:${join(dir, `${side}.serial`)}`,
    '-qmp',
    `unix:${join(dir, `${side}.qmp`)},server=on,wait=off`,
    '-msg',
    'timestamp=on',
    '-D',
    join(dir, `${side}.trace`),
    '-trace',
    'enable=colo_*',
    // Just before vm_start resumes the vCPUs: how long the primary's guest runs before COLO traces its resume.
    '-trace',
    'enable=vm_state_notify',
  ];
}

function start(qemu: string, args: string[], dir: string, side: string): ChildProcess {
  const err = openSync(join(dir, `${side}.stderr`), 'w');
  return spawn(qemu, args, { stdio: ['ignore', err, err] });
}

async function waitFor(what: string, timeoutMs: number, done: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > until) throw new Error(`${what}: not reached in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Runs one COLO pair on loopback: both VMs with `colo_*` tracing, `x-colo` on both, the delay on the
 * primary, migrate through the link meter (listening on `relay`'s host), COLO for `windowMs` from checkpoint-ready,
 * then a failover or a stop. Both QEMUs are killed at the end whatever happens.
 */
export async function runPair(
  qemu: string,
  kernel: string,
  dir: string,
  scenario: PairScenario,
  log: (line: string) => void,
  relay: Pick<RelayAck, 'host' | 'quickAck'>,
): Promise<PairRun> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const meter = new LinkMeter();
  const procs: ChildProcess[] = [];
  const qmps: Qmp[] = [];
  // On a signal the `finally` below does not run: the pair would spin on without its parent.
  const unregister = onAbort(() => {
    for (const c of procs) c.kill('SIGKILL');
    meter.stop();
  });
  try {
    const incoming = await freePort();
    const sec = start(
      qemu,
      [...vmArgs(kernel, dir, 'secondary'), '-incoming', `tcp:127.0.0.1:${incoming}`],
      dir,
      'secondary',
    );
    procs.push(sec);
    const pri = start(qemu, vmArgs(kernel, dir, 'primary'), dir, 'primary');
    procs.push(pri);
    const s = await Qmp.open(join(dir, 'secondary.qmp'), 20_000);
    qmps.push(s);
    const p = await Qmp.open(join(dir, 'primary.qmp'), 20_000);
    qmps.push(p);
    const colo = { capabilities: [{ capability: 'x-colo', state: true }] };
    await s.execute('migrate-set-capabilities', colo);
    await p.execute('migrate-set-capabilities', colo);
    // Precopy of a guest that writes constantly converges only with room; neither affects checkpoints.
    await p.execute('migrate-set-parameters', {
      'x-checkpoint-delay': scenario.delayMs,
      'max-bandwidth': 4 * 1024 * 1024 * 1024,
      'downtime-limit': 2000,
    });
    const metered = await meter.start(incoming, relay.host);
    await p.execute('migrate', { uri: `tcp:${relay.host}:${metered}` });
    await waitFor('primary in COLO', 90_000, async () => {
      const r = (await p.execute('query-migrate')) as { status?: string };
      if (r.status === 'failed' || r.status === 'completed') {
        throw new Error(`migration ended ${r.status} instead of entering COLO`);
      }
      return r.status === 'colo';
    });
    // The window is COLO's from checkpoint-ready (the secondary has loaded the first state): on a loaded
    // host that can come seconds after the primary reports COLO, which a window timed from then would lose.
    const primaryTrace = join(dir, 'primary.trace');
    await waitFor('checkpoint-ready in the primary trace', 60_000, async () =>
      readFileSync(primaryTrace, 'utf8').includes("'checkpoint-ready'"),
    );
    const coloAt = wallMs();
    log(
      `  COLO running (${scenario.pages} pages, delay ${scenario.delayMs} ms); ${scenario.windowMs} ms window`,
    );
    await new Promise((r) => setTimeout(r, scenario.windowMs));
    const endAt = wallMs();
    let coloStatus: unknown = null;
    if (scenario.failover) {
      pri.kill('SIGKILL');
      await s.execute('x-colo-lost-heartbeat');
      await s.waitEvent('COLO_EXIT', 30_000);
      await waitFor('secondary failover completed', 30_000, async () => {
        coloStatus = await s.execute('query-colo-status');
        return (coloStatus as { mode?: string }).mode === 'none';
      });
    }
    return {
      scenario,
      primaryLog: '',
      secondaryLog: '',
      link: meter.chunks,
      coloAt,
      endAt,
      secondaryEvents: s.events,
      coloStatus,
      relayQuickAck: relay.quickAck,
    };
  } finally {
    for (const q of qmps) q.close();
    const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
    const exited = procs.map((c) => (alive(c) ? new Promise((r) => c.once('exit', r)) : Promise.resolve()));
    for (const c of procs) if (alive(c)) c.kill('SIGKILL');
    await Promise.all(exited);
    meter.stop();
    unregister();
  }
}

/** Reads the trace logs of a finished run into it. */
export function readLogs(run: PairRun, dir: string): PairRun {
  return {
    ...run,
    primaryLog: readFileSync(join(dir, 'primary.trace'), 'utf8'),
    secondaryLog: readFileSync(join(dir, 'secondary.trace'), 'utf8'),
  };
}

/** The file in a run's directory that keeps what the traces do not (link bytes, window, QMP replies). */
const RUN_FILE = 'run.json';

/** Keeps a finished run's link bytes, window and QMP replies next to its traces (to re-analyse later). */
export function saveRun(run: PairRun, dir: string): void {
  const { primaryLog: _p, secondaryLog: _s, ...rest } = run;
  writeFileSync(join(dir, RUN_FILE), JSON.stringify(rest));
}

/**
 * Loads a run kept by {@link saveRun} (traces included) for the same scenario; a missing or different run is
 * a one-line error.
 */
export function loadRun(dir: string, scenario: PairScenario): PairRun {
  let kept: Omit<PairRun, 'primaryLog' | 'secondaryLog'>;
  try {
    kept = JSON.parse(readFileSync(join(dir, RUN_FILE), 'utf8')) as typeof kept;
  } catch (e) {
    throw new Error(`${dir}: no kept run to re-analyse (${e instanceof Error ? e.message : String(e)})`);
  }
  if (JSON.stringify(kept.scenario) !== JSON.stringify(scenario)) {
    throw new Error(`${dir}: the kept run is of another scenario (${JSON.stringify(kept.scenario)})`);
  }
  return readLogs({ ...kept, primaryLog: '', secondaryLog: '' }, dir);
}
