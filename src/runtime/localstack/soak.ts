/**
 * The LocalStack soak: a live COLO session on a deployed stack (built with `testFaults: allow` and the
 * default timing parameters) is hit by one fault after another, drawn at random from the faults the
 * failure budget says must be ridden out (docs/reliability.md), for a given wall time; each fault is armed
 * through the fault hook, awaited until it fires, and followed until the next checkpoint commits. At the
 * end every commit is checked against its checkpoint, and (by default) the primary is silenced past the
 * heartbeat timeout so the run ends with exactly one fenced side.
 *
 * Guarantees checked, during and after the run:
 * - every commit's memory digest equals the primary's checkpoint digest of that epoch; no epoch commits
 *   twice; nothing is refused or dead-lettered;
 * - each fault is survived: replication goes on (the next checkpoint commits) with nobody claiming the VM;
 * - the run ends replicating, or with the VM owned by exactly one side and the other side fenced, the
 *   winner continuing from exactly its last committed checkpoint.
 *
 * `npm run soak:localstack` (experiments/soak-localstack.ts) runs it for ten minutes and writes the figures
 * into docs/reliability.md; the integration test test/integration/colo-faults.test.ts runs a short one.
 */

import { GetQueueAttributesCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { memoryDigest } from '../../engine/memory/digest.ts';
import { percentile } from '../../engine/metrics/summary.ts';
import type { ColoParams } from '../../engine/params.ts';
import type { StateStore } from '../../engine/ports.ts';
import { unit } from '../../engine/rng.ts';
import { unverifiedBody } from '../../wire/sealed-message.ts';
import {
  type ControlDocument,
  type LogRecord,
  type PrimaryDocument,
  readControl,
  readLog,
  readPrimaryDocument,
  readSecondaryDocument,
  type SecondaryDocument,
} from '../cloud/index.ts';
import { ArmedFaultsClient } from './armed-faults.ts';

/** The faults the soak injects, each one the failure budget says is ridden out with the defaults. */
export const SOAK_FAULTS = [
  'background-put',
  'checkpoint-put',
  'fetch-fail',
  'crash-before-commit-save',
  'crash-before-commit-reply',
  'duplicate',
  'secondary-down',
  'primary-pause',
] as const;

/**
 * CDK context of a soak stack (the stack set entry; add `vmId`): the **default** timing parameters, a 4 MiB
 * guest, checkpoints every 4 s, fixed policy with a 64 KiB threshold (a background round at most pending
 * checks), and the fault hook on. The integration stack `ColoItFaults` (test/integration/colo-it-stacks.json)
 * is the same.
 */
export const SOAK_STACK_CONTEXT: Readonly<Record<string, string | number>> = {
  seed: 14,
  guestBytes: 4_194_304,
  workload: 'hotcold:hotPages=128,hotRate=100,coldRate=100',
  policy: 'fixed',
  thresholdBytes: 65_536,
  checkpointDelayMs: 4000,
  pendingCheckIntervalMs: 1000,
  // A second mapping on each tick queue, as AWS would run a second invocation: a tick whose call hangs
  // (colo-faults' hung put) must not hold the VM's next ticks — and its heartbeats — behind it.
  tickPollers: 2,
  testFaults: 'allow',
};

/** A fault the soak injects. */
export type SoakFault = (typeof SOAK_FAULTS)[number];

/** What each fault is, in words (the report's table). */
export const SOAK_FAULT_TEXT: Readonly<Record<SoakFault, string>> = {
  'background-put': 'a background delta object cannot be stored (4 failed puts → its round is retired)',
  'checkpoint-put': 'the next two uploads of a checkpoint chunk fail',
  'fetch-fail': 'the next two delta fetches of the secondary fail',
  'crash-before-commit-save':
    'secondary-apply fails (throws) after the device state arrived, before saving the commit',
  'crash-before-commit-reply': 'secondary-apply fails (throws) after saving the commit, before replying',
  duplicate: 'an exact copy of a delivered P → S message is sent again',
  'secondary-down': 'secondary-apply down for 1.5 s (every batch fails), then back',
  'primary-pause': 'every primary function frozen for 1.5 s (< the 10 s checkpoint waits)',
};

/** Where the soak runs: a deployed stack's VM and what the soak reads and writes there. */
export interface SoakTarget {
  /** Engine parameters the stack's functions run with (`deployedParams`). */
  params: ColoParams;
  /** The stack's state store (node documents, logs, control and armed-faults documents). */
  state: StateStore;
  sqs: SQSClient;
  /** P → S channel (the duplicate fault sends a copy there) and both dead-letter queues. */
  p2sQueueUrl: string;
  p2sDlqUrl: string;
  s2pDlqUrl: string;
}

/** How to soak. */
export interface SoakOptions {
  /** Wall time of the fault phase, ms (the final failover comes after it). */
  durationMs: number;
  /**
   * Faults the phase injects at least: it goes on past `durationMs` until that many were injected (a loaded
   * machine checkpoints more slowly, and a fault waits for the object or message it needs), but never past
   * `maxDurationMs`. Default 0.
   */
  minFaults?: number;
  /** Hard end of the fault phase when `minFaults` holds it open, ms. Default 4 × `durationMs`. */
  maxDurationMs?: number;
  /** Mean pause between one fault's recovery and the next fault, ms (drawn uniformly in [0.5, 1.5]×). */
  meanGapMs: number;
  /** Seed of the fault order and pauses. */
  seed: number;
  /** Faults to draw from (each appears once per shuffled cycle). */
  faults: readonly SoakFault[];
  /** End with the primary silent past the heartbeat timeout: the secondary must win the fence. */
  finalFailover: boolean;
  /** Progress lines (stderr in the CLI). */
  progress?: (line: string) => void;
  /** Waits; default a real timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** One injected fault as it went. */
export interface SoakFaultRun {
  fault: SoakFault;
  /** When it was armed, ms since the Unix epoch. */
  armedAt: number;
  /** When it first fired (undefined: it never did within the wait). */
  firedAt?: number;
  /** When its effect ended (last fire, end of an outage window), ms since the Unix epoch. */
  clearedAt?: number;
  /** When the next checkpoint after that committed. */
  recoveredAt?: number;
  /** `survived`: fired, and replication went on; `not-fired`: never triggered; `lost`: replication stopped. */
  outcome: 'survived' | 'not-fired' | 'lost';
  /** What it hit, or why it is not `survived`. */
  detail: string;
}

/** The final, deliberate failover (primary silent past the heartbeat timeout). */
export interface SoakFailover {
  /** How long the primary was silent, ms. */
  silentMs: number;
  /** Who owns the VM at the end. */
  owner: 'primary' | 'secondary' | null;
  /** From the start of the silence to the secondary's failover, ms. */
  silenceToFailoverMs?: number;
  /** From the end of the silence to the primary recording itself fenced, ms. */
  silenceEndToFencedMs?: number;
  /** The side that lost the fence recorded itself `fenced`. */
  loserFenced: boolean;
  /** The failed-over secondary's memory equals its last commit. */
  continuesFromLastCommit: boolean;
}

/** How a soak ended. */
export type SoakVerdict = 'consistent' | 'one-fenced-side' | 'broken';

/** Everything a soak measured. */
export interface SoakResult {
  vmId: string;
  params: ColoParams;
  options: Omit<SoakOptions, 'progress' | 'sleep'>;
  startedAt: number;
  endedAt: number;
  faults: SoakFaultRun[];
  /** Checkpoints committed by the secondary during the soak, and how many matched their checkpoint. */
  commits: number;
  commitsVerified: number;
  /** Background rounds the primary sent, and rounds retired by a `skip`. */
  rounds: number;
  retired: number;
  /** Messages in the dead-letter queues at the end (P → S, S → P). */
  deadLettered: { p2s: number; s2p: number };
  /** A failover that no fault of the soak should have caused, if one happened. */
  unexpectedFailover?: string;
  finalFailover?: SoakFailover;
  verdict: SoakVerdict;
  /** Guarantees that broke (empty unless the verdict is `broken`). */
  problems: string[];
}

/** How long one fault may take to fire, and the next commit to follow, ms (generous: a loaded machine). */
const FIRE_WAIT_MS = 120_000;
const RECOVERY_WAIT_MS = 120_000;
/** Outage windows opened before an outage fault counts as not fired. */
const OUTAGE_WINDOWS = 5;
/** Poll interval, ms. */
const POLL_MS = 500;

/** A node's log, read incrementally: the ring keeps ~68 minutes, the soak keeps everything it saw. */
class LogTail {
  readonly records: LogRecord[] = [];
  #next = 0;

  constructor(
    private readonly state: StateStore,
    private readonly vmId: string,
    private readonly node: 'primary' | 'secondary',
  ) {}

  async poll(): Promise<LogRecord[]> {
    const v = await readLog(this.state, this.vmId, this.node, this.#next);
    const fresh = v.records.filter((r) => r.n >= this.#next);
    this.records.push(...fresh);
    if (v.next > this.#next) this.#next = v.next;
    return this.records;
  }
}

interface Commit {
  epoch: number;
  digest: string;
  at: number;
}

/** Runs a soak on a stack whose session is replicating. @returns the figures; never throws on a broken guarantee. */
export async function runLocalStackSoak(target: SoakTarget, options: SoakOptions): Promise<SoakResult> {
  const { params, state } = target;
  const vmId = params.vmId;
  const say = options.progress ?? (() => undefined);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const faults = new ArmedFaultsClient(state, vmId);
  const primaryLog = new LogTail(state, vmId, 'primary');
  const secondaryLog = new LogTail(state, vmId, 'secondary');
  const problems: string[] = [];
  const runs: SoakFaultRun[] = [];
  const startedAt = Date.now();

  const commits = async (): Promise<Commit[]> =>
    (await secondaryLog.poll()).flatMap((r) => (r.type === 'commit' ? [{ ...r.data, at: r.at }] : []));
  const checkpointDigests = async (): Promise<Map<number, string>> =>
    new Map(
      (await primaryLog.poll()).flatMap((r) =>
        r.type === 'checkpoint' ? [[r.data.epoch, r.data.digest] as const] : [],
      ),
    );
  const docs = async (): Promise<{ c: ControlDocument; p?: PrimaryDocument; s?: SecondaryDocument }> => ({
    c: await readControl(state, vmId),
    p: await readPrimaryDocument(state, params),
    s: await readSecondaryDocument(state, params),
  });
  /** Why replication is not going on, or undefined when it is. */
  const notReplicating = async (): Promise<string | undefined> => {
    const { c, p, s } = await docs();
    if (c.owner !== null || c.failedOver) return `the VM is owned by ${c.owner ?? 'nobody'} (${c.reason})`;
    if (p?.exit) return `the primary stopped: ${p.exit.reason} ${p.exit.detail}`;
    if (s?.exit) return `the secondary stopped: ${s.exit.reason} ${s.exit.detail}`;
    if (p && ['claiming', 'exited', 'fenced'].includes(p.state.phase)) return `primary ${p.state.phase}`;
    if (s && ['claiming', 'failed-over', 'fenced'].includes(s.state.phase))
      return `secondary ${s.state.phase}`;
    return undefined;
  };
  /** Polls until `probe` answers or `ms` pass (undefined then). */
  const until = async <T>(ms: number, probe: () => Promise<T | undefined>): Promise<T | undefined> => {
    const end = Date.now() + ms;
    for (;;) {
      try {
        const v = await probe();
        if (v !== undefined) return v;
      } catch {
        // A read racing a write of the same document: try again.
      }
      if (Date.now() >= end) return undefined;
      await sleep(POLL_MS);
    }
  };
  /** The first commit after `after` whose checkpoint record agrees, or the reason replication stopped. */
  const recovery = async (after: number): Promise<{ at: number } | { lost: string }> => {
    const r = await until(RECOVERY_WAIT_MS, async () => {
      const stopped = await notReplicating();
      if (stopped) return { lost: stopped };
      const k = (await commits()).find((x) => x.at > after);
      if (!k) return undefined;
      const digest = (await checkpointDigests()).get(k.epoch);
      return digest === undefined ? undefined : { at: k.at };
    });
    return r ?? { lost: `no checkpoint committed within ${RECOVERY_WAIT_MS} ms` };
  };

  /** Arms one fault, waits for it to fire, then for the next commit. */
  const inject = async (fault: SoakFault): Promise<SoakFaultRun> => {
    const firedAll = async (name: string, n: number) => {
      const x = await faults.fired(name);
      return x.length >= n ? x : undefined;
    };
    let armedAt = Date.now();
    let fired: { firedAt: number; clearedAt: number; detail: string } | undefined;
    switch (fault) {
      case 'background-put': {
        armedAt = await faults.arm({ failObjects: { 'background-ram': 1 } });
        const x = await until(FIRE_WAIT_MS, () => firedAll('put-object:background-ram', 4));
        if (!x) break;
        // Stay armed until the primary has retired the object's sequence number: the four failed puts may
        // be spread over concurrent performers of the same outbox, one of which is still retrying.
        const key = x[0]?.detail ?? '';
        const [, epoch, seq] = /\/(\d+)\/(\d+)-background-ram$/.exec(key) ?? [];
        const retired = await until(FIRE_WAIT_MS, async () =>
          (await primaryLog.poll()).find(
            (r) => r.type === 'send-retired' && r.data.epoch === Number(epoch) && r.data.seq === Number(seq),
          ),
        );
        const all = await faults.fired('put-object:background-ram');
        fired = spanOf(all, `${key} ${retired ? 'retired' : 'NOT retired'} after ${all.length} failed puts`);
        if (!retired) problems.push(`background-put: ${key} failed ${all.length} puts but was never retired`);
        break;
      }
      case 'checkpoint-put': {
        armedAt = await faults.arm({ failPuts: { 'checkpoint-ram': 2 } });
        const x = await until(FIRE_WAIT_MS, () => firedAll('put:checkpoint-ram', 2));
        if (x) fired = spanOf(x, `${x[0]?.detail}`);
        break;
      }
      case 'fetch-fail': {
        armedAt = await faults.arm({ failGets: { any: 2 } });
        const x = await until(FIRE_WAIT_MS, async () => {
          const all = (await faults.armed()).fired.filter((f) => f.fault.startsWith('get:'));
          return all.length >= 2 ? all : undefined;
        });
        if (x) fired = spanOf(x, `${x[0]?.detail}`);
        break;
      }
      case 'crash-before-commit-save':
      case 'crash-before-commit-reply': {
        const point =
          fault === 'crash-before-commit-save'
            ? 'secondary-save-after-device-state'
            : 'secondary-send-after-device-state';
        armedAt = await faults.arm({ crash: { point, mode: 'throw', count: 1 } });
        const x = await until(FIRE_WAIT_MS, () => firedAll(`crash:${point}`, 1));
        if (x) fired = spanOf(x, `${x[0]?.detail}`);
        break;
      }
      case 'duplicate': {
        armedAt = await faults.arm({ captureUntil: Date.now() + FIRE_WAIT_MS });
        const original = await until(FIRE_WAIT_MS, async () => {
          const c = (await faults.captured()).filter((r) => r.at >= armedAt && r.status === 'applied');
          return c[c.length - 1];
        });
        if (!original) break;
        const sent = await target.sqs.send(
          new SendMessageCommand({
            QueueUrl: target.p2sQueueUrl,
            MessageBody: original.body,
            MessageGroupId: vmId,
            MessageDeduplicationId: `soak-copy-${Date.now()}`,
          }),
        );
        const sentAt = Date.now();
        const copy = await until(FIRE_WAIT_MS, async () =>
          (await faults.captured()).find((r) => r.messageId === sent.MessageId),
        );
        if (!copy) {
          fired = { firedAt: sentAt, clearedAt: sentAt, detail: 'the copy was never consumed' };
          problems.push(`duplicate: the copy of ${original.body.slice(0, 80)} was never consumed`);
        } else {
          const m = JSON.parse(unverifiedBody(original.body)) as { type?: string; seq?: number };
          fired = { firedAt: sentAt, clearedAt: copy.at, detail: `${m.type}#${m.seq} copy: ${copy.status}` };
          if (copy.status !== 'duplicate')
            problems.push(`duplicate: the copy of ${m.type}#${m.seq} was ${copy.status}, not a duplicate`);
        }
        break;
      }
      case 'secondary-down':
      case 'primary-pause': {
        // An outage only hits invocations that start inside its window: on a loaded machine a window can
        // pass with none, so it is opened again (a few times) until one was hit.
        // 1.5 s either way: a freeze that lands inside a checkpoint spends part of the secondary's 10 s wait,
        // of which LocalStack's own hops take 2–3 s under load (with the 5 s wait of before, a 2.5 s freeze
        // was survived at load 3 and lost at 5).
        const ms = 1500;
        const name = fault === 'secondary-down' ? 'secondary-down' : 'primary-silent';
        for (let window = 1; window <= OUTAGE_WINDOWS && !fired; window++) {
          const end = Date.now() + ms;
          const at = await faults.arm(
            fault === 'secondary-down' ? { secondaryApplyDownUntil: end } : { primarySilentUntil: end },
          );
          if (window === 1) armedAt = at;
          while (Date.now() <= end + POLL_MS) await sleep(POLL_MS);
          const x = await until(2 * POLL_MS, () => firedAll(name, 1));
          if (x) fired = { ...spanOf(x, `${x.length} invocations hit (window ${window})`), clearedAt: end };
        }
        break;
      }
    }
    await faults.disarm().catch(() => undefined);
    if (!fired) return { fault, armedAt, outcome: 'not-fired', detail: `did not fire in ${FIRE_WAIT_MS} ms` };
    const r = await recovery(fired.clearedAt);
    if ('lost' in r)
      return { fault, armedAt, ...fired, outcome: 'lost', detail: `${fired.detail}; ${r.lost}` };
    return { fault, armedAt, ...fired, recoveredAt: r.at, outcome: 'survived' };
  };

  // The fault phase: shuffled cycles over the faults, a random pause between two.
  const minFaults = options.minFaults ?? 0;
  say(
    `soak: ${vmId}: faults for ${Math.round(options.durationMs / 1000)} s${minFaults > 0 ? ` (at least ${minFaults})` : ''}`,
  );
  let draw = 0;
  let cycle: SoakFault[] = [];
  let unexpectedFailover: string | undefined;
  const hardEnd = startedAt + (options.maxDurationMs ?? 4 * options.durationMs);
  // The phase ends at `durationMs`, or later while fewer than `minFaults` were injected (never past hardEnd).
  const phaseEnd = (): number =>
    runs.length < minFaults ? hardEnd : Math.min(hardEnd, startedAt + options.durationMs);
  for (let deadline = phaseEnd(); Date.now() < deadline; deadline = phaseEnd()) {
    const stopped = await notReplicating();
    if (stopped) {
      unexpectedFailover = stopped;
      break;
    }
    const gap = options.meanGapMs * (0.5 + unit(options.seed, 0x50a4, draw++));
    await sleep(Math.min(gap, Math.max(0, deadline - Date.now())));
    if (Date.now() >= deadline) break;
    if (cycle.length === 0) cycle = shuffled(options.faults, options.seed, draw++);
    const fault = cycle.shift() as SoakFault;
    const run = await inject(fault);
    runs.push(run);
    const took = run.recoveredAt !== undefined && run.clearedAt !== undefined;
    say(
      `soak: ${runs.length} ${fault}: ${run.outcome}${took ? ` (next commit ${(run.recoveredAt ?? 0) - (run.clearedAt ?? 0)} ms after it cleared)` : ''} — ${run.detail}`,
    );
    if (run.outcome === 'lost') {
      unexpectedFailover = run.detail;
      break;
    }
  }

  // Consistency of everything committed so far: the primary logs a checkpoint when vmstate-loaded arrives,
  // so the last commit's record may lag a little.
  const all = await commits();
  const last = all[all.length - 1];
  if (last) await until(60_000, async () => ((await checkpointDigests()).has(last.epoch) ? true : undefined));
  const digests = await checkpointDigests();
  let commitsVerified = 0;
  for (const k of all) {
    const d = digests.get(k.epoch);
    if (d === k.digest) commitsVerified++;
    else if (d !== undefined) problems.push(`epoch ${k.epoch} committed ${k.digest}, checkpoint was ${d}`);
    else problems.push(`epoch ${k.epoch} committed, but the primary never logged its checkpoint`);
  }
  const epochs = all.map((k) => k.epoch);
  if (new Set(epochs).size !== epochs.length) problems.push(`an epoch committed twice: ${epochs.join(',')}`);
  if (epochs.some((e, i) => i > 0 && e <= (epochs[i - 1] ?? 0)))
    problems.push(`commits out of order: ${epochs.join(',')}`);

  let finalFailover: SoakFailover | undefined;
  if (unexpectedFailover) {
    finalFailover = await awaitOneSide(state, params, commits, until);
  } else if (options.finalFailover) {
    say('soak: final failover: the primary silent for 20 s (> the heartbeat timeout)');
    finalFailover = await silencePrimary(faults, state, params, commits, until);
  }
  if (finalFailover && finalFailover.owner === null) problems.push('the failover was never decided');
  if (finalFailover && !finalFailover.continuesFromLastCommit)
    problems.push('the side that took over does not run its last committed checkpoint');
  if (finalFailover?.owner && !finalFailover.loserFenced)
    problems.push(`the side that lost the fence (owner ${finalFailover.owner}) never recorded itself fenced`);

  const p = await primaryLog.poll();
  await secondaryLog.poll();
  const deadLettered = {
    p2s: await queueDepth(target.sqs, target.p2sDlqUrl),
    s2p: await queueDepth(target.sqs, target.s2pDlqUrl),
  };
  if (deadLettered.p2s + deadLettered.s2p > 0)
    problems.push(`dead-lettered: ${deadLettered.p2s} P → S, ${deadLettered.s2p} S → P`);
  for (const r of runs) if (r.outcome === 'lost') problems.push(`${r.fault} was not survived: ${r.detail}`);
  // A fault that never fired tested nothing: a broken hook must not pass as a clean soak.
  for (const r of runs) if (r.outcome === 'not-fired') problems.push(`${r.fault} never fired: ${r.detail}`);
  if (runs.length === 0) problems.push('no fault was injected');
  if (unexpectedFailover) problems.push(`replication ended during the fault phase: ${unexpectedFailover}`);
  const { progress: _p, sleep: _s, ...kept } = options;
  return {
    vmId,
    params,
    options: kept,
    startedAt,
    endedAt: Date.now(),
    faults: runs,
    commits: all.length,
    commitsVerified,
    rounds: p.filter((r) => r.type === 'round').length,
    retired: p.filter((r) => r.type === 'send-retired').length,
    deadLettered,
    ...(unexpectedFailover ? { unexpectedFailover } : {}),
    ...(finalFailover ? { finalFailover } : {}),
    verdict: problems.length > 0 ? 'broken' : finalFailover ? 'one-fenced-side' : 'consistent',
    problems,
  };
}

/** First and last fire of a fault. */
function spanOf(
  fired: readonly { at: number }[],
  detail: string,
): { firedAt: number; clearedAt: number; detail: string } {
  const at = fired.map((x) => x.at);
  return { firedAt: Math.min(...at), clearedAt: Math.max(...at), detail };
}

/** A seeded shuffle of `items`. */
function shuffled<T>(items: readonly T[], seed: number, salt: number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(unit(seed, 0x5f1e, salt, i) * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Messages waiting in a queue (visible or in flight). */
async function queueDepth(sqs: SQSClient, url: string): Promise<number> {
  const r = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(r.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(r.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

type Until = <T>(ms: number, probe: () => Promise<T | undefined>) => Promise<T | undefined>;

/** Silences the primary for 20 s and follows the fence: the secondary must win, the primary be fenced. */
async function silencePrimary(
  faults: ArmedFaultsClient,
  state: StateStore,
  params: ColoParams,
  commits: () => Promise<Commit[]>,
  until: Until,
): Promise<SoakFailover> {
  const silentMs = 20_000;
  const end = Date.now() + silentMs;
  const start = await faults.arm({ primarySilentUntil: end });
  const s = await until(90_000, async () => {
    const d = await readSecondaryDocument(state, params);
    return d?.state.phase === 'failed-over' ? d : undefined;
  });
  const p = await until(90_000, async () => {
    const d = await readPrimaryDocument(state, params);
    return d?.state.phase === 'fenced' ? d : undefined;
  });
  return {
    silentMs,
    owner: (await readControl(state, params.vmId)).owner,
    ...(s?.exit ? { silenceToFailoverMs: s.exit.at - start } : {}),
    ...(p?.exit ? { silenceEndToFencedMs: p.exit.at - end } : {}),
    loserFenced: p !== undefined,
    // A checkpoint whose data had all left before the silence can still commit during it: read again.
    continuesFromLastCommit: s !== undefined && continuesFromLastCommit(s, params, await commits()),
  };
}

/** The failed-over secondary runs exactly its last committed checkpoint. */
function continuesFromLastCommit(
  s: SecondaryDocument,
  params: ColoParams,
  commits: readonly Commit[],
): boolean {
  const last = commits.find((k) => k.epoch === s.state.committedEpoch);
  // Epoch 0 is the initial image, never logged as a commit.
  return last === undefined
    ? s.state.committedEpoch === 0
    : last.digest === memoryDigest(params.seed, s.state.running);
}

/** After an unplanned end of replication: waits for the fence to be decided and the loser to stop. */
async function awaitOneSide(
  state: StateStore,
  params: ColoParams,
  commits: () => Promise<Commit[]>,
  until: Until,
): Promise<SoakFailover> {
  const owner = await until(90_000, async () => (await readControl(state, params.vmId)).owner ?? undefined);
  const loser = await until(90_000, async () => {
    const d =
      owner === 'secondary'
        ? await readPrimaryDocument(state, params)
        : await readSecondaryDocument(state, params);
    return d?.state.phase === 'fenced' ? d : undefined;
  });
  const s = await readSecondaryDocument(state, params);
  const all = await commits();
  return {
    silentMs: 0,
    owner: owner ?? null,
    loserFenced: loser !== undefined,
    // A primary that won runs on alone from its own memory; a secondary must start from its last commit.
    continuesFromLastCommit:
      owner === 'primary' || (s !== undefined && continuesFromLastCommit(s, params, all)),
  };
}

/** Median and maximum of a list, or undefined when empty. */
function spread(values: readonly number[]): { p50: number; max: number } | undefined {
  return values.length === 0 ? undefined : { p50: percentile(values, 50), max: Math.max(...values) };
}

/** The soak's figures as a markdown section (docs/reliability.md). */
export function renderSoakMarkdown(r: SoakResult, command: string): string {
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const p = r.params;
  const lines = [
    `Generated by \`${command}\` on ${new Date(r.endedAt).toISOString().slice(0, 10)}: ${secs(r.endedAt - r.startedAt)} of wall time on LocalStack, VM \`${r.vmId}\` (${(p.guestBytes / 2 ** 20).toFixed(0)} MiB guest, ${p.policy} policy, checkpoint every ${secs(p.checkpointDelayMs)}, heartbeat every ${secs(p.heartbeatIntervalMs)} with a ${secs(p.heartbeatTimeoutMs)} timeout, apply timeout ${secs(p.applyTimeoutMs)}, checkpoint timeout ${secs(p.checkpointTimeoutMs)} — the defaults), one fault at a time, ${secs(r.options.meanGapMs)} apart on average, seed ${r.options.seed}.`,
    '',
    `**Verdict: ${r.verdict}.** ${r.commits} checkpoints committed, ${r.commitsVerified} checked equal to the primary's checkpoint; ${r.rounds} background rounds, ${r.retired} retired by a skip; refused and dead-lettered: ${r.deadLettered.p2s} P → S, ${r.deadLettered.s2p} S → P.`,
    '',
    '| Fault | Injected | Fired | Survived | Next commit after it cleared (p50 / max) |',
    '|---|---:|---:|---:|---|',
  ];
  for (const f of SOAK_FAULTS) {
    const runs = r.faults.filter((x) => x.fault === f);
    if (runs.length === 0) continue;
    const rec = spread(
      runs.flatMap((x) => (x.recoveredAt && x.clearedAt ? [x.recoveredAt - x.clearedAt] : [])),
    );
    lines.push(
      `| ${SOAK_FAULT_TEXT[f]} | ${runs.length} | ${runs.filter((x) => x.outcome !== 'not-fired').length} | ${runs.filter((x) => x.outcome === 'survived').length} | ${rec ? `${secs(rec.p50)} / ${secs(rec.max)}` : '—'} |`,
    );
  }
  const fired = r.faults.filter((x) => x.outcome !== 'not-fired').length;
  const survived = r.faults.filter((x) => x.outcome === 'survived').length;
  lines.push(`| **all** | ${r.faults.length} | ${fired} | ${survived} | |`, '');
  const ff = r.finalFailover;
  if (r.unexpectedFailover)
    lines.push(`Replication ended during the fault phase: ${r.unexpectedFailover}.`, '');
  if (ff) {
    lines.push(
      `Failovers: ${r.unexpectedFailover ? 1 : 0} caused by the faults above; then the deliberate one: the primary silent for ${secs(ff.silentMs)} → the VM owned by the **${ff.owner ?? 'nobody'}**` +
        (ff.silenceToFailoverMs !== undefined
          ? `, ${secs(ff.silenceToFailoverMs)} after the silence began`
          : '') +
        (ff.silenceEndToFencedMs !== undefined
          ? `; the primary, running again, recorded itself fenced ${secs(Math.max(0, ff.silenceEndToFencedMs))} after the silence ended`
          : ff.loserFenced
            ? '; the other side recorded itself fenced'
            : '; the other side never recorded itself fenced') +
        `; the secondary ${ff.continuesFromLastCommit ? 'continued from exactly its last commit' : 'did NOT continue from its last commit'}.`,
      '',
    );
  }
  if (r.problems.length > 0) lines.push('Problems:', '', ...r.problems.map((x) => `- ${x}`), '');
  return lines.join('\n');
}
