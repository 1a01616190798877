/** Writes what `colo run --timeline FILE` and `--trace FILE` asked the runs to record. */
import { renderSvg, svgToPng } from '../report/chart.ts';
import { timelineSpec } from '../report/timeline-chart.ts';
import { toJsonLines } from '../report/trace-lines.ts';
import { writeOutput } from './output.ts';
import type { Recording } from './run-command.ts';

/**
 * Writes the timeline (one SVG or PNG, a group of panels per policy, in run order) and the trace (one
 * JSON Lines file, every policy's events, each line naming its policy). Paths were checked before the run.
 *
 * @throws OutputError when a write fails.
 */
export async function writeRecordings(
  recordings: readonly Recording[],
  paths: { timeline?: string; trace?: string },
  scenarioName: string,
  say?: (line: string) => void,
): Promise<void> {
  if (paths.timeline !== undefined) {
    const timelines = recordings.flatMap((r) => (r.timeline ? [r.timeline] : []));
    const svg = await renderSvg(timelineSpec(timelines, `timeline of ${scenarioName}`));
    if (/\.png$/i.test(paths.timeline)) writeOutput('--timeline', paths.timeline, await svgToPng(svg));
    else writeOutput('--timeline', paths.timeline, svg);
    say?.(`timeline written to ${paths.timeline}`);
  }
  if (paths.trace !== undefined) {
    const lines = recordings.flatMap((r) => r.trace ?? []);
    writeOutput('--trace', paths.trace, toJsonLines(lines));
    say?.(`trace written to ${paths.trace} (${lines.length} events)`);
  }
}
