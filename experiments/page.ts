/**
 * docs/experiments.md from the shipped experiments' results: what each asks, its charts, and a reading of
 * them whose every figure comes from the results (so a rerun on changed code rewrites the numbers; the
 * comparisons are computed, not typed in).
 */
import { METRICS, type MetricName } from '../src/experiment/metrics.ts';
import { type EmbeddedFleetPoint, fleetLocalStackSection } from './fleet-localstack-page.ts';
import type { FleetLocalStackResult } from './fleet-localstack-results.ts';
import { fleetTable, guestTable, type ScaleRow } from './scale-results.ts';
import { axisValues, type Finished, groupOf, mean } from './shipped.ts';

const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v >= 100 ? 0 : 1)} ms`);
const mib = (v: number) =>
  v >= 1024 ? `${(v / 1024).toFixed(2)} GiB` : `${v.toFixed(v >= 100 ? 0 : 1)} MiB`;
const pct = (part: number, whole: number) => (whole > 0 ? `${((part / whole) * 100).toFixed(0)} %` : '—');
/** "cuts … by 80 %" or "raises … by 12 %": the change from `from` to `to`. */
const change = (from: number, to: number) =>
  to <= from ? `cuts it by ${pct(from - to, from)}` : `raises it by ${pct(to - from, from)}`;

/** The charts of an experiment, as copied next to the page (img/experiments/<name>-<metric>.png). */
function charts(f: Finished): string[] {
  return f.experiment.chart.metrics.map(
    (m: MetricName) =>
      `![${METRICS[m]}: ${f.experiment.file.name}](img/experiments/${f.experiment.file.name}-${m}.png)`,
  );
}

function header(f: Finished, title: string): string[] {
  const e = f.experiment;
  const wall =
    f.wallMs !== undefined ? `, ${(f.wallMs / 1000).toFixed(0)} s wall-clock on this 2-core machine` : '';
  return [
    `## ${title}`,
    '',
    `\`experiments/${e.file.name}.yaml\` — ${e.file.description?.trim() ?? ''} ${e.cells.length} cells (${e.cells.length / e.seeds.length} per seed × ${e.seeds.length} seeds)${wall}; ` +
      `every figure a mean over seeds (95 % intervals in [the summary](../experiments/results/${e.file.name}/summary.md)).`,
    '',
  ];
}

function thresholdSection(f: Finished): string[] {
  const out = header(f, 'Threshold: where background rounds pay and where they waste');
  const thresholds = axisValues(f, 'threshold');
  const first = thresholds[0] ?? '';
  for (const workload of axisValues(f, 'workload')) {
    const w = { workload };
    const none = mean(f, { ...w, policy: 'none', threshold: first }, 'downtimeP99Ms');
    const ad = { ...w, policy: 'adaptive', threshold: first };
    const rows = thresholds.map((t) => {
      const g = { ...w, policy: 'fixed', threshold: t };
      return {
        t,
        p99: mean(f, g, 'downtimeP99Ms'),
        bg: mean(f, g, 'backgroundMiB'),
        waste: mean(f, g, 'wastedMiB'),
      };
    });
    const silent = rows.find((r) => r.bg === 0);
    const best = rows.reduce((a, b) => (b.p99 < a.p99 ? b : a));
    const low = rows[0];
    if (!low) continue;
    const kind = workload.split(':')[0];
    out.push(
      `**${kind}.** Upstream COLO (\`none\`) stops the guest for ${ms(none)} (p99). \`fixed\` at ${low.t} ${change(none, low.p99)} ` +
        `to ${ms(low.p99)}, sending ${mib(low.bg)} in the background of which ${mib(low.waste)} (${pct(low.waste, low.bg)}) is dirtied ` +
        `again before its checkpoint and sent twice. Its best threshold here is ${best.t} (${ms(best.p99)}, ${pct(best.waste, best.bg)} ` +
        `of the background bytes wasted)` +
        (silent
          ? `; from ${silent.t} up the pending RAM never reaches the threshold within an epoch, no round starts and \`fixed\` is \`none\`.`
          : '.') +
        ` \`adaptive\`, which ignores the threshold, reaches ${ms(mean(f, ad, 'downtimeP99Ms'))} and wastes ${mib(mean(f, ad, 'wastedMiB'))} ` +
        `of ${mib(mean(f, ad, 'backgroundMiB'))}.`,
      '',
    );
  }
  out.push(
    `The run timelines of the first seed at 64 MiB on the ${(axisValues(f, 'workload')[0] ?? '').split(':')[0]} guest ` +
      '(what `colo run --timeline` draws, and what report.html shows): pending RAM climbs to the threshold, a round ' +
      "sends it (green), and the checkpoint (red) carries what was dirtied since; the bars below split each stop's " +
      'downtime into phases and count the pages the rounds sent in vain.',
    '',
    `![run timelines: ${f.experiment.file.name}](img/experiments/${f.experiment.file.name}-timeline.png)`,
    '',
    'Reading: a low threshold turns the seed into a continuous pre-copy — downtime falls, but every rewrite of a hot page ' +
      'between two rounds costs a resend, and the waste grows as the threshold shrinks. A high threshold wastes nothing ' +
      'because it sends nothing. The seed needs the threshold tuned per guest; the adaptive policy gets the low-threshold ' +
      'downtime at a fraction of the waste by not sending pages that are likely to be written again.',
    '',
    ...charts(f),
    '',
  );
  return out;
}

function dirtyRateSection(f: Finished): string[] {
  const out = header(f, 'Dirty rate: how much the guest writes');
  const rates = axisValues(f, 'workload.coldRate');
  const at = (rate: string, policy: string, m: MetricName) =>
    mean(f, { 'workload.coldRate': rate, policy }, m);
  const lines = rates.map((r) => {
    const none = at(r, 'none', 'downtimeP99Ms');
    const fixed = at(r, 'fixed', 'downtimeP99Ms');
    const adaptive = at(r, 'adaptive', 'downtimeP99Ms');
    const bg = at(r, 'fixed', 'backgroundMiB');
    return (
      `| ${r} | ${ms(none)} | ${ms(fixed)} | ${ms(adaptive)} | ${bg === 0 ? 'no round' : `${mib(at(r, 'fixed', 'wastedMiB'))} of ${mib(bg)}`} ` +
      `| ${mib(at(r, 'adaptive', 'wastedMiB'))} of ${mib(at(r, 'adaptive', 'backgroundMiB'))} |`
    );
  });
  out.push(
    '| cold pages/s | none p99 | fixed p99 | adaptive p99 | fixed wasted | adaptive wasted |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...lines,
    '',
  );
  const top = rates[rates.length - 1] ?? '';
  const lowest = rates[0] ?? '';
  const topAdaptive = groupOf(f, { 'workload.coldRate': top, policy: 'adaptive' }).metrics.downtimeP99Ms;
  const topFixed = at(top, 'fixed', 'downtimeP99Ms');
  out.push(
    `Downtime without background rounds grows with the dirty rate (\`none\`: ${ms(at(lowest, 'none', 'downtimeP99Ms'))} at ${lowest} ` +
      `pages/s, ${ms(at(top, 'none', 'downtimeP99Ms'))} at ${top}). ${at(lowest, 'fixed', 'backgroundMiB') === 0 ? `At ${lowest} pages/s the seed's 100 MiB threshold is never reached within an epoch, so \`fixed\` is \`none\` while \`adaptive\` already cuts the downtime to ${ms(at(lowest, 'adaptive', 'downtimeP99Ms'))}. ` : ''}` +
      `As the rate grows, \`fixed\` pays more and more for its cut: at ${top} pages/s it wastes ${pct(at(top, 'fixed', 'wastedMiB'), at(top, 'fixed', 'backgroundMiB'))} of what it sends. ` +
      (topAdaptive.mean > topFixed
        ? `At ${top} pages/s (${((Number(top) * 4096) / 2 ** 20).toFixed(0)} MiB/s of new dirty pages on a 1 Gbit/s link) \`adaptive\` is *worse* than \`fixed\` ` +
          `(${ms(topAdaptive.mean)} ± ${ms(topAdaptive.ci95)} against ${ms(topFixed)}) and varies widely between seeds: ` +
          'with the link near saturation its late phase falls behind and the stop carries what it could not send — an open problem.'
        : `At ${top} pages/s \`adaptive\` stays below \`fixed\` (${ms(topAdaptive.mean)} against ${ms(topFixed)}).`),
    '',
    ...charts(f),
    '',
  );
  return out;
}

function delaySection(f: Finished): string[] {
  const out = header(f, 'Checkpoint delay: long epochs');
  const delays = axisValues(f, 'checkpointDelay');
  const at = (d: string, policy: string, m: MetricName) => mean(f, { checkpointDelay: d, policy }, m);
  const first = delays[0] ?? '';
  const last = delays[delays.length - 1] ?? '';
  const silent = delays.filter((d) => at(d, 'fixed', 'backgroundMiB') === 0);
  out.push(
    `\`none\`'s downtime grows with the epoch, since everything dirtied in it crosses at the stop: ${ms(at(first, 'none', 'downtimeP99Ms'))} ` +
      `(p99) every ${first}, ${ms(at(last, 'none', 'downtimeP99Ms'))} every ${last}. ` +
      (silent.length
        ? `With epochs of ${silent.join(' and ')} the pending RAM stays under the 100 MiB threshold, so \`fixed\` never sends in the background and equals \`none\`; `
        : '') +
      `from the first epoch long enough to reach it, \`fixed\` cuts downtime by ${pct(
        at(last, 'none', 'downtimeP99Ms') - at(last, 'fixed', 'downtimeP99Ms'),
        at(last, 'none', 'downtimeP99Ms'),
      )} at ${last}, wasting ${mib(at(last, 'fixed', 'wastedMiB'))} over the run. ` +
      `\`adaptive\` keeps the stop short at every delay (${ms(at(first, 'adaptive', 'downtimeP99Ms'))} at ${first}, ${ms(at(last, 'adaptive', 'downtimeP99Ms'))} at ${last}); ` +
      `its waste is highest with short epochs (${mib(at(first, 'adaptive', 'wastedMiB'))} at ${first} against ${mib(at(last, 'adaptive', 'wastedMiB'))} at ${last}), ` +
      'where the next checkpoint is always near and more pages qualify late.',
    '',
    ...charts(f),
    '',
  );
  return out;
}

function linkSection(f: Finished): string[] {
  const out = header(f, 'Link: 1, 10 and 25 Gbit/s');
  const links = axisValues(f, 'bandwidth');
  for (const workload of axisValues(f, 'workload')) {
    const at = (b: string, policy: string, m: MetricName) => mean(f, { workload, bandwidth: b, policy }, m);
    const [slow, mid, fast] = [links[0] ?? '', links[1] ?? '', links[links.length - 1] ?? ''];
    const kind = workload.split(':')[0];
    out.push(
      `**${kind}.** \`none\`: ${ms(at(slow, 'none', 'downtimeP99Ms'))} at ${slow}, ${ms(at(mid, 'none', 'downtimeP99Ms'))} at ${mid}, ` +
        `${ms(at(fast, 'none', 'downtimeP99Ms'))} at ${fast}; \`fixed\`: ${ms(at(slow, 'fixed', 'downtimeP99Ms'))}, ${ms(at(mid, 'fixed', 'downtimeP99Ms'))}, ` +
        `${ms(at(fast, 'fixed', 'downtimeP99Ms'))}, wasting ${mib(at(fast, 'fixed', 'wastedMiB'))} at ${fast}; \`adaptive\`: ${ms(at(slow, 'adaptive', 'downtimeP99Ms'))}, ` +
        `${ms(at(mid, 'adaptive', 'downtimeP99Ms'))}, ${ms(at(fast, 'adaptive', 'downtimeP99Ms'))}, wasting ${mib(at(fast, 'adaptive', 'wastedMiB'))} at ${fast}.`,
      '',
    );
  }
  const workloads = axisValues(f, 'workload');
  const uniform = workloads[workloads.length - 1] ?? '';
  const fast = links[links.length - 1] ?? '';
  const u = (policy: string, m: MetricName) => mean(f, { workload: uniform, bandwidth: fast, policy }, m);
  out.push(
    'Reading: a faster link shortens the RAM phase of the stop, which dominates at 1 Gbit/s. Past 10 Gbit/s the ' +
      "link stops being the bottleneck: the secondary's staging of what arrives at the stop (the wait for " +
      '`vmstate-received`) and the flush of every page staged in the epoch into the SVM (which no policy avoids) take ' +
      'over, so 25 Gbit/s buys little, and background rounds pay by staging pages before the stop; `adaptive` sits ' +
      "on the flush floor at every link speed (the timeline's downtime phases show the split: " +
      '`colo run --timeline`). The waste does not depend on the link — it is set by how the guest rewrites what was ' +
      `sent: on the ${uniform.split(':')[0]} guest at ${fast} \`fixed\` wastes ${mib(u('fixed', 'wastedMiB'))} to take ` +
      `${mib(u('none', 'checkpointMiB') - u('fixed', 'checkpointMiB'))} off its stops, \`adaptive\` ${mib(u('adaptive', 'wastedMiB'))} ` +
      `to take ${mib(u('none', 'checkpointMiB') - u('adaptive', 'checkpointMiB'))} off.`,
    '',
    ...charts(f),
    '',
  );
  return out;
}

/** A group's mean and its 95 % interval over seeds, e.g. "39.8 ms ± 0.2 ms". */
function withCi(
  f: Finished,
  where: Record<string, string | number>,
  metric: MetricName,
  format: (v: number) => string,
): string {
  const m = groupOf(f, where).metrics[metric];
  if (!m) return '—';
  return f.experiment.seeds.length > 1 ? `${format(m.mean)} ± ${format(m.ci95)}` : format(m.mean);
}

/** Simulated time per wall second, in words. */
const speed = (simPerWall: number) =>
  simPerWall >= 10
    ? `${simPerWall.toFixed(0)}×`
    : simPerWall >= 1
      ? `${simPerWall.toFixed(1)}×`
      : `${simPerWall.toFixed(2)}×`;

function fleetSection(f: Finished, scale: readonly ScaleRow[]): string[] {
  const out = header(f, 'Fleets: many VMs on one link');
  const sizes = axisValues(f, 'vms');
  const at = (vms: string, policy: string, m: MetricName) => mean(f, { vms, policy }, m);
  const one = sizes[0] ?? '1';
  const most = sizes[sizes.length - 1] ?? one;
  const quiet = sizes.filter((n) => n !== one && at(n, 'none', 'linkBusyPct') < 10);
  const lastQuiet = quiet[quiet.length - 1] ?? one;
  out.push(
    `Each VM alone stops its guest for ${ms(at(one, 'none', 'downtimeP99Ms'))} (p99, \`none\`) or ${ms(at(one, 'fixed', 'downtimeP99Ms'))} ` +
      `(\`fixed\`, whose rounds move ${mib(at(one, 'fixed', 'backgroundMiB'))} ahead of the stops). Up to ${lastQuiet} VMs the shared ` +
      `link is busy ${at(lastQuiet, 'none', 'linkBusyPct').toFixed(1)} % of the time under \`none\` and ` +
      `${at(lastQuiet, 'fixed', 'linkBusyPct').toFixed(1)} % under \`fixed\`, and the fleet's p99 is the single VM's ` +
      `(${ms(at(lastQuiet, 'none', 'downtimeP99Ms'))}, ${ms(at(lastQuiet, 'fixed', 'downtimeP99Ms'))}). At ${most} VMs the link is busy ` +
      `${at(most, 'none', 'linkBusyPct').toFixed(0)} % (\`none\`) and ${at(most, 'fixed', 'linkBusyPct').toFixed(0)} % (\`fixed\`): stops queue ` +
      `behind other VMs' stops and rounds, the fleet-wide p99 becomes ${withCi(f, { vms: most, policy: 'none' }, 'downtimeP99Ms', ms)} for \`none\` and ` +
      `${withCi(f, { vms: most, policy: 'fixed' }, 'downtimeP99Ms', ms)} for \`fixed\` (95 % intervals over ${f.experiment.seeds.length} seeds), and the worst VM's p99 ${ms(at(most, 'none', 'vmDowntimeP99WorstMs'))} and ` +
      `${ms(at(most, 'fixed', 'vmDowntimeP99WorstMs'))}.`,
    '',
    'Reading: on a shared link a policy is judged by what it costs the others, not only by its own stop. `fixed` ' +
      `sends ${pct(at(most, 'fixed', 'backgroundMiB') + at(most, 'fixed', 'checkpointMiB') - at(most, 'none', 'checkpointMiB'), at(most, 'none', 'checkpointMiB'))} ` +
      `more bytes than \`none\` (${mib(at(most, 'fixed', 'wastedMiB'))} of its rounds are dirtied again and sent twice); alone that ` +
      "only buys a shorter stop, but near saturation those rounds sit on the link in front of other VMs' checkpoints, so " +
      "the background traffic that shortens one VM's stop lengthens its neighbours'. Where the link has room, the fleet " +
      'behaves like its VMs one by one.',
    '',
    `The emulator: ${sizes.map((n) => `${n} VM${n === '1' ? '' : 's'} at ${withCi(f, { vms: n, policy: 'none' }, 'simPerWall', speed)}`).join(', ')} ` +
      'real time (simulated s per wall s, `none`; two cells ran at once on this shared 2-core machine, so these are ' +
      'lower bounds).',
    '',
    ...charts(f),
    '',
  );
  const table = fleetTable(scale);
  if (table.length) {
    out.push(
      'Scaling measured in processes of their own (`experiments/scale.ts`, the same fleet under `fixed`, 30 s simulated; ' +
        'each figure next to the fleet of one measured in the same run):',
      '',
      ...table,
      '',
    );
  }
  return out;
}

function guestSection(f: Finished, scale: readonly ScaleRow[]): string[] {
  const out = header(f, 'Guest size: 1 GiB to 1 TiB');
  const sizes = axisValues(f, 'guest');
  const at = (guest: string, policy: string, m: MetricName) => mean(f, { guest, policy }, m);
  const small = sizes[0] ?? '';
  const big = sizes[sizes.length - 1] ?? small;
  const perHour = (g: string) => 3600 / at(g, 'none', 'simPerWall');
  out.push(
    `The same writer on every guest: \`none\` stops it for ${withCi(f, { guest: small, policy: 'none' }, 'downtimeP99Ms', ms)} (p99) at ${small} and ` +
      `${withCi(f, { guest: big, policy: 'none' }, 'downtimeP99Ms', ms)} at ${big}; \`fixed\` for ${withCi(f, { guest: small, policy: 'fixed' }, 'downtimeP99Ms', ms)} and ` +
      `${withCi(f, { guest: big, policy: 'fixed' }, 'downtimeP99Ms', ms)} (95 % intervals over ${f.experiment.seeds.length} seeds). What a checkpoint carries is set by what the guest dirties, not by its size; ` +
      "the size shows in the emulator's own cost: allocating and scanning per-page arrays and bitmaps. The memory digest " +
      'at every stop and commit costs the pages written since the previous one, not the guest ' +
      '([architecture](architecture.md#memory-digest)).',
    '',
    `The emulator: ${sizes.map((g) => `${g} at ${withCi(f, { guest: g, policy: 'none' }, 'simPerWall', speed)}`).join(', ')} real time ` +
      `(\`none\`; 95 % intervals over ${f.experiment.seeds.length} seeds; two cells ran at once on this shared 2-core machine): a simulated hour costs ${(perHour(small) / 60).toFixed(1)} min of wall time at ${small} and ` +
      `${(perHour(big) / 60).toFixed(1)} min at ${big}. ${big} is the registry's largest guest (\`--guest\` above it is refused with ` +
      'the reason; [parameters](parameters.md#limits-of-the-emulator)).',
    '',
    ...charts(f),
    '',
  );
  const table = guestTable(scale);
  if (table.length) {
    out.push(
      'Memory and time per guest size measured in processes of their own (`experiments/scale.ts`, `fixed`, 60 s ' +
        "simulated): resident bytes per page is the process's peak resident memory less its memory before the run, " +
        'per guest page; held bytes per page counts the typed arrays the run keeps at its end, after full collections ' +
        '(page versions of the PVM, the SVM images — one array, committed and running, for this passive secondary — ' +
        'dirty bitmaps, the digest trackers, the zero-page classes, the adaptive model, the colo cache, the message ' +
        'log) whether touched or not, per guest page. The target is at most 16 bytes a page.',
      '',
      ...table,
      '',
    );
  }
  return out;
}

/** The embedded fleet under `fixed` by size: what the LocalStack fleet's reading compares itself with. */
export function embeddedFleetPoints(f: Finished): EmbeddedFleetPoint[] {
  return axisValues(f, 'vms').map((vms) => {
    const busy = mean(f, { vms, policy: 'fixed' }, 'linkBusyPct');
    return {
      vms: Number(vms),
      p99Ms: mean(f, { vms, policy: 'fixed' }, 'downtimeP99Ms'),
      ...(Number.isFinite(busy) ? { linkBusyPct: busy } : {}),
    };
  });
}

/**
 * The page, from the shipped experiments in order, and the LocalStack fleet (experiments/fleet-localstack.ts)
 * after the embedded fleet when its result is given.
 */
export function experimentsPage(
  results: Record<string, Finished>,
  totalWallMs?: number,
  scale: readonly ScaleRow[] = [],
  fleetLocalStack?: FleetLocalStackResult,
): string {
  const get = (n: string) => {
    const f = results[n];
    if (!f) throw new Error(`no results for ${n}`);
    return f;
  };
  const all = Object.values(results);
  const cells = all.reduce((a, f) => a + f.experiment.cells.length, 0);
  return [
    '# Experiments',
    '',
    '<!-- Written by `npm run experiments` (experiments/run.ts, experiments/page.ts) from experiments/results/; do not edit by hand. -->',
    '',
    `${all.length} experiments shipped in \`experiments/*.yaml\`, run by \`npm run experiments\` with [\`colo experiment\`](experiment.md) on the ` +
      `embedded runtime (modelled payloads; 1 GiB guests unless the experiment varies the guest or the fleet): ${cells} cells${totalWallMs !== undefined ? `, ${(totalWallMs / 60_000).toFixed(1)} min wall-clock on this 2-core machine` : ''}. ` +
      'Each folder in `experiments/results/` holds the cells, the CSV, a summary with 95 % confidence intervals and an ' +
      'interactive `report.html`; the charts below are copies of its PNGs. Downtime is modelled time from stop to resume ' +
      '(see [the cost model](architecture.md#cost-model)); MiB figures are totals over the run.',
    '',
    ...thresholdSection(get('threshold-sweep')),
    ...dirtyRateSection(get('dirty-rate-sweep')),
    ...delaySection(get('checkpoint-delay-sweep')),
    ...linkSection(get('link-sweep')),
    ...guestSection(get('guest-size'), scale),
    ...fleetSection(get('fleet'), scale),
    ...(fleetLocalStack ? fleetLocalStackSection(fleetLocalStack, embeddedFleetPoints(get('fleet'))) : []),
    '## Where background migration pays, where it wastes',
    '',
    'It pays when the guest dirties pages it then leaves alone — cold first touches, a stream that moves on — and the ' +
      'epoch is long enough for the pending RAM to build up: the stop then carries only what was written last. It ' +
      'wastes when the guest rewrites what was sent: a hot set or a page cache rewritten faster than the epoch, a uniform ' +
      'writer. The seed cannot tell the two apart — one threshold decides when, and every dirty page goes — so a low ' +
      'threshold buys its downtime with resends and a high one buys nothing. Sending by the predicted chance that a page ' +
      'stays clean until the checkpoint (`adaptive`) keeps the downtime of the low threshold with a fraction of the waste. ' +
      'Near link saturation — a hot set whose rewrites take most of the link — it drains the set from about its drain ' +
      'time before the stop, so that what is left at the stop is what was written last, and pays for that in resends ' +
      '(see "Is the floor a bound" in the architecture).',
    '',
  ].join('\n');
}
