/** The cost report as a text table (what `colo run --backend localstack` and `colo cost` print). */
import type { LeverEffect } from './levers.ts';
import { type CostReport, HOURS_PER_MONTH } from './model.ts';
import type { CostSection } from './section.ts';

function qty(n: number): string {
  if (n === 0) return '0';
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toPrecision(3);
}

function pad(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** The breakdown table, one line per item that costs at least a tenth of a cent, then the total. */
export function formatCostReport(report: CostReport): string[] {
  const rows = [['line item', 'per VM-month', 'unit', 'USD']];
  for (const l of report.lines) {
    if (l.usd < 0.001 && l.quantity === 0) continue;
    rows.push([`${l.label}${l.fixed ? ' *' : ''}`, qty(l.quantity), l.unit, `$${l.usd.toFixed(2)}`]);
  }
  rows.push(['total', '', '', `$${report.perVmMonthUsd.toFixed(2)}`]);
  return [
    `cost per protected VM-month (${HOURS_PER_MONTH} h) at ${report.region} list prices of ${report.priceDate}, ` +
      `from ${(report.windowMs / 1000).toFixed(0)} s measured on ${report.vms} VM${report.vms === 1 ? '' : 's'}:`,
    ...pad(rows).map((r) => `  ${r}`),
    '  * fixed per deployment, shared by its VMs',
  ];
}

/** The levers table. */
export function formatLevers(effects: readonly LeverEffect[]): string[] {
  const rows = [['lever', 'change', 'USD/VM-month', 'Δ', 'lines moved']];
  for (const e of effects) {
    rows.push([
      e.parameter,
      e.change,
      `$${e.perVmMonthUsd.toFixed(2)}`,
      `${e.deltaUsd < 0 ? '−' : '+'}$${Math.abs(e.deltaUsd).toFixed(2)}`,
      e.lines.slice(0, 3).join(', '),
    ]);
  }
  return ['levers (each alone, from the measured usage):', ...pad(rows).map((r) => `  ${r}`)];
}

/** A run report's cost section: the breakdown at nominal tick rates, how far the measurement was from them, the levers. */
export function formatCostSection(section: CostSection): string[] {
  const factors = Object.entries(section.nominalFactors)
    .map(([fn, f]) => `${fn} ×${f.toFixed(2)}`)
    .join(', ');
  const duration =
    section.durationModelMs === undefined
      ? "  Lambda duration as the functions' records billed it (on LocalStack an invocation bills the emulator's waits; `colo cost FILE --ms-per-invocation 50` models AWS)"
      : `  Lambda duration modelled at ${section.durationModelMs} ms per invocation (--ms-per-invocation)`;
  const y = section.yardstick;
  const yardstick =
    y === undefined
      ? []
      : [
          `  the same usage on a stack shared by ${y.vmsPerDeployment} VMs, ${y.msPerInvocation} ms per invocation ` +
            `(the shape the ≤ $20 target is set for): $${y.perVmMonthUsd.toFixed(2)} per VM-month ` +
            `(colo cost REPORT --vms-per-deployment ${y.vmsPerDeployment} --ms-per-invocation ${y.msPerInvocation})`,
        ];
  return [
    ...formatCostReport(section.breakdown),
    ...(section.caution === undefined ? [] : [`  caution: ${section.caution}`]),
    ...yardstick,
    duration,
    `  tick chains at their nominal rates (measured cost per tick × ticks per period${factors ? `: ${factors}` : ''}); ` +
      `as measured: $${section.measuredPerVmMonthUsd.toFixed(2)}`,
    ...formatLevers(section.levers),
  ];
}
