/** The report's overrun section: the engine's profile for the count, and the cycle gap by gap (pure). */
import type { CostModel } from '../engine/params.ts';
import type { LinkParams } from '../runtime/embedded/link.ts';
import type { Anatomy } from './anatomy.ts';
import type { StallFit } from './stalls.ts';
import type { BackToBackPages } from './vm-start.ts';

/** What the section shows. */
export interface OverrunSection {
  /** The overrunning scenario's delay, ms. */
  delayMs: number;
  /** Its cycle on QEMU's primary and on the engine's (seed 1): with drawn stalls, and meeting the run's
   * stall timeline (the checked count's; absent in older reports). */
  qemu: Anatomy;
  engine: Anatomy;
  engineHost?: Anatomy;
  /** What the engine ran: the round trip (reply floor), the reply stall, the loop's wake-up. */
  link: LinkParams;
  costs: CostModel;
  replyStall: StallFit;
  /** Pages the epochs after back-to-back starts carried: QEMU's (from the link's bytes) and the engine's
   * meeting the stall timeline (absent in older reports). */
  backToBackPages?: { qemu: BackToBackPages; engineHost: BackToBackPages };
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');

/** The section as Markdown lines. */
export function overrunLines(o: OverrunSection): string[] {
  const q = o.replyStall.quantilesMs;
  const out = [
    `## The shortest delay, gap by gap (${o.delayMs} ms delay, this run)`,
    '',
    o.qemu.backToBack === 0
      ? `In this run no QEMU checkpoint at this delay started back-to-back (of ${o.qemu.cycles} cycles): none ` +
        "outlasted the delay, so the overrun below is the engine's alone where it shows one; on an idle machine " +
        "with the meter's quick ACKs QEMU's pause stays under 100 ms (src/fidelity/relay-ack.ts). Overruns are " +
        "pinned on hand-built schedules (test/unit/engine/checkpoint-timer.test.ts) and were compared with QEMU's " +
        'in the loaded runs of the passes below.'
      : `In this run ${o.qemu.backToBack} of QEMU's ${o.qemu.cycles} cycles at this delay started back-to-back ` +
        '(a checkpoint outlasted the delay).',
    '',
    "Each cycle on the primary's trace, QEMU's and the engine's (seed 1) — meeting the run's stall timeline " +
      '(the checked count) and with the request → reply stall drawn independently — mean / median in ms. ' +
      '"resume → next request" is 0 for a back-to-back start and otherwise the wait for the next tick plus the ' +
      "COLO loop's wake-up.",
    '',
    '| gap | QEMU mean / median | engine, stall timeline | engine, drawn stalls |',
    '|---|---:|---:|---:|',
  ];
  const cell = (a: Anatomy | undefined, i: number) => {
    const g = a?.gaps[i];
    return `${f1(g?.meanMs ?? Number.NaN)} / ${f1(g?.medianMs ?? Number.NaN)}`;
  };
  const starts = (a: Anatomy | undefined) => (a ? `${a.backToBack} of ${a.cycles}` : '–');
  o.qemu.gaps.forEach((g, i) => {
    out.push(`| ${g.gap} | ${cell(o.qemu, i)} | ${cell(o.engineHost, i)} | ${cell(o.engine, i)} |`);
  });
  out.push(`| back-to-back starts | ${starts(o.qemu)} | ${starts(o.engineHost)} | ${starts(o.engine)} |`);
  const b = o.backToBackPages;
  const carried = (x: BackToBackPages) => `${f1(x.meanPages)} (${x.full} of ${x.n} full)`;
  if (b)
    out.push(
      `| pages after a back-to-back start, mean | ${carried(b.qemu)} | ${carried(b.engineHost)} | – |`,
    );
  out.push('');
  out.push(
    'What the engine runs with drawn stalls (src/fidelity/stalls.ts, run-fidelity.ts): the link round trip is the ' +
      `floor of QEMU's request → reply (**${f1(2 * o.link.latencyMs)} ms**: loopback), the rest of that gap is a ` +
      `stall drawn per checkpoint from its ${q.length} quantiles (median ${f1(q[Math.floor(q.length / 2)] ?? Number.NaN)} ms, ` +
      `mean ${f1(o.replyStall.meanMs)} ms, top ${f1(q.at(-1) ?? Number.NaN)} ms, from ${o.replyStall.n} checkpoints), the ` +
      `prep takes back the round trip's difference (prep ${f1(o.costs.prepMs)} ms), and a request that finds the ` +
      `COLO loop waiting leaves **${f1(o.costs.wakeMs ?? 0)} ms** after its tick (\`costs.wakeMs\`: the timer ` +
      "callback's lateness, the same host contention delaying the thread it wakes); its count is the mean over " +
      "seeds (the draws differ by seed), rounded. The checked count keeps the profile's bandwidth and flush rate, " +
      "but its timer's ticks are as late as QEMU's callback was at each moment and a waiting request leaves its " +
      "wake-up as read off QEMU's tick chain (src/fidelity/tick-lateness.ts), each resume runs the vCPU as long " +
      "inside `vm_start` as QEMU's nearest in time, and each checkpoint meets, instead of a draw, the stalls " +
      'of QEMU\'s checkpoint nearest in time (src/fidelity/host-timeline.ts, "The count under load" above). ' +
      'The engine traces a request at its tick, before the wake-up: its "resume → next request" under the ' +
      'stall timeline leaves the wake-up out, and a wait under 2 ms there counts as back-to-back.',
  );
  out.push('');
  return out;
}
