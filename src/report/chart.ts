/**
 * Renders Vega-Lite specs without a browser: vega's SVG renderer, then resvg for PNG. The one chart renderer
 * of the project (docs charts, `colo run --timeline`, `colo experiment`); vega is loaded on first use so
 * that commands which draw nothing never pay for it.
 */
import { writeFileSync } from 'node:fs';
import type { TopLevelSpec } from 'vega-lite';

/** Compiles a Vega-Lite spec to a Vega spec (what a browser page embeds next to the vega runtime). */
export async function compileSpec(spec: TopLevelSpec): Promise<object> {
  const { compile } = await import('vega-lite');
  const vega = await import('vega');
  // Warnings (a channel dropped, a scale adjusted) are the chart author's business, not the user's.
  return compile(spec, { logger: vega.logger(vega.Error) }).spec;
}

/** Renders a Vega-Lite spec to SVG text. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const vega = await import('vega');
  const view = new vega.View(vega.parse((await compileSpec(spec)) as never), {
    renderer: 'none',
    logLevel: vega.Error,
  });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Rasterises SVG text to PNG bytes at twice its size on white, with the system's DejaVu Sans. */
export async function svgToPng(svg: string): Promise<Uint8Array> {
  const { Resvg } = await import('@resvg/resvg-js');
  return new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
}

/** Renders a Vega-Lite spec to `<base>.svg` and `<base>.png`. */
export async function renderChart(spec: TopLevelSpec, base: string): Promise<void> {
  const svg = await renderSvg(spec);
  writeFileSync(`${base}.svg`, svg);
  writeFileSync(`${base}.png`, await svgToPng(svg));
}
