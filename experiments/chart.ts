/** The docs charts' renderer: src/report/chart.ts (kept here for the scripts that import it). */
export { renderChart } from '../src/report/chart.ts';
