import { DirtyBitmap } from '../memory/dirty-bitmap.ts';
import { PageVersionMap } from '../memory/page-version-map.ts';
import { type ColoParams, pageCount } from '../params.ts';

/** Where the secondary is (`colo_incoming_process_checkpoint` and the seed's background load). */
export type SecondaryPhase =
  | 'starting'
  | 'idle'
  | 'bg-loading'
  | 'ckpt-wait-vmstate-send'
  | 'ckpt-wait-ram'
  | 'ckpt-wait-vmstate-size'
  | 'ckpt-wait-device'
  | 'committing'
  /** Replication must end (silence, a deadline, an operator): claiming the fence to take over. */
  | 'claiming'
  /** Won the fence: the SVM took over from the last committed checkpoint. */
  | 'failed-over'
  /** Lost the fence: the primary runs alone; this secondary stopped for good. */
  | 'fenced';

/** Everything the secondary keeps. Updated in place by `secondaryStep`; serialisable for the cloud runtime. */
export interface SecondaryState {
  /** Phase. */
  phase: SecondaryPhase;
  /** True while the SVM executes (running mode, between checkpoints). */
  vmRunning: boolean;
  /** Epoch being received (the next commit makes it the committed image). */
  epoch: number;
  /** Next expected inbound and next outbound sequence numbers. */
  inSeq: number;
  outSeq: number;
  /** Committed image: PVM page versions as of the last completed checkpoint. */
  committed: Uint32Array;
  /**
   * Running memory: committed image plus the SVM's own writes since the commit (bit 31 set on those). A
   * passive secondary's SVM never writes, so its running memory is its committed image: the same array
   * (4 bytes per guest page instead of 8), and every write to `committed` is one to `running`.
   */
  running: Uint32Array;
  /** Pages the SVM wrote since the commit. */
  svmDirty: DirtyBitmap;
  /** The colo cache: page → PVM version received this epoch. Never visible to the SVM before the commit. */
  cache: PageVersionMap;
  /** Background rounds of this epoch that reached the cache, ascending. */
  appliedRounds: number[];
  /** Round being loaded (bg-loading) and the sequence number its data message must have. */
  loadingRound: number;
  loadingSeq: number;
  /** Device-state size announced by `vmstate-size`, bytes. */
  deviceSize: number;
  /** Deadline of the current wait, ms (∞ when not waiting). */
  deadline: number;
  /**
   * When the secondary's staging (verification and copy into the colo cache, at `costs.applyBytesPerMs`) of
   * everything received so far ends, ms. Staging is one pipeline: a delta is staged after the ones before it,
   * and the commit cannot start before it ends.
   */
  stagedAt: number;
  /** When the commit in progress finishes, ms. */
  commitDoneAt: number;
  /** Modelled apply phases of the commit in progress, ms. */
  applyMemMs: number;
  applyDevMs: number;
  /**
   * When the primary was last heard, ms: the arrival of its last COLO message, or the freshness of its
   * latest heartbeat if later (the earliest of its sealed send time, the queue's and the step time). Saved coarsely (a heartbeat alone moves it in the stored document only
   * once it is a slack behind, `heartbeatSlackMs`), so a loaded value may be up to that slack low.
   */
  lastHeardAt: number;
  /**
   * True once any message from the primary was admitted, a heartbeat included: the heartbeat watchdog runs
   * only then (a heartbeat consumes no sequence number, so `inSeq` alone cannot tell).
   */
  heard: boolean;
  /**
   * The highest heartbeat `beat` admitted (0: none). A heartbeat whose beat is not above it is refused as
   * stale, so a replayed copy never counts again. Saved coarsely with `lastHeardAt`: after a reload it may
   * lag, and then a replay's sealed send time still bounds what it can move.
   */
  lastBeat: number;
  /** A failover was requested during a commit; it runs when the commit ends. */
  failoverDeferred: boolean;
  /** SVM guest running time and the runtime time it was last advanced to, ms. */
  guestTime: number;
  lastNow: number;
  /** Last committed epoch (0 = the initial image). */
  committedEpoch: number;
  /** Why the secondary is claiming the fence (phase `claiming`), else ''. */
  claimReason: string;
}

/** A fresh secondary holding the initial image (all pages at version 0, as after the initial migration). */
export function createSecondary(params: ColoParams, now = 0): SecondaryState {
  const n = pageCount(params);
  const committed = new Uint32Array(n);
  return {
    phase: 'starting',
    vmRunning: false,
    epoch: 1,
    inSeq: 0,
    outSeq: 0,
    committed,
    running: params.secondaryMode === 'running' ? new Uint32Array(n) : committed,
    svmDirty: new DirtyBitmap(n),
    cache: new PageVersionMap(n),
    appliedRounds: [],
    loadingRound: 0,
    loadingSeq: 0,
    deviceSize: 0,
    deadline: Number.POSITIVE_INFINITY,
    stagedAt: now,
    commitDoneAt: Number.POSITIVE_INFINITY,
    applyMemMs: 0,
    applyDevMs: 0,
    lastHeardAt: now,
    heard: false,
    lastBeat: 0,
    failoverDeferred: false,
    guestTime: 0,
    lastNow: now,
    committedEpoch: 0,
    claimReason: '',
  };
}
