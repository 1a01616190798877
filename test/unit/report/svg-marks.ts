/** Counts the items vega drew for a named mark in an SVG (`<g class="… NAME_marks">` and its children). */
export function countMarks(svg: string, name: string): number {
  const open = new RegExp(`<g class="mark-[a-z]+ role-mark ${name}_marks"[^>]*>`).exec(svg);
  // An empty mark is a self-closing group.
  if (!open || open[0].endsWith('/>')) return 0;
  const rest = svg.slice(open.index + open[0].length);
  const body = rest.slice(0, rest.indexOf('</g>'));
  return (body.match(/<(path|line|text|rect)\b/g) ?? []).length;
}

/** Whether the SVG has a mark group of that name at all. */
export function hasMark(svg: string, name: string): boolean {
  return svg.includes(` ${name}_marks"`);
}
