import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReport } from '../../../src/fidelity/report.ts';
import { parseReport, REPORT_FORMAT, serializeReport } from '../../../src/fidelity/report-file.ts';

const root = join(import.meta.dirname, '../../..');

describe('fidelity/report.json: the committed input of docs/fidelity.md', () => {
  it('re-renders to the committed docs/fidelity.md byte for byte (run npm run fidelity -- --report-only)', () => {
    const text = readFileSync(join(root, 'fidelity/report.json'), 'utf8');
    const doc = readFileSync(join(root, 'docs/fidelity.md'), 'utf8');
    expect(renderReport(parseReport(text, 'fidelity/report.json'))).toBe(doc);
  });

  it('round-trips: what a run writes reads back to the same result', () => {
    const text = readFileSync(join(root, 'fidelity/report.json'), 'utf8');
    const result = parseReport(text, 'fidelity/report.json');
    expect(serializeReport(result)).toBe(text);
  });

  it('refuses anything else with one line naming the file', () => {
    const good = JSON.parse(readFileSync(join(root, 'fidelity/report.json'), 'utf8')) as {
      result: Record<string, unknown>;
    };
    const bad = (text: string) => {
      try {
        parseReport(text, 'fidelity/report.json');
      } catch (e) {
        const m = (e as Error).message;
        expect(m.startsWith('fidelity/report.json: ')).toBe(true);
        expect(m).not.toContain('\n');
        return m;
      }
      throw new Error('accepted');
    };
    expect(bad('{"format": 2, "result": {')).toContain('not JSON');
    expect(bad('[1, 2]')).toContain('not a fidelity report (a array)');
    expect(bad(JSON.stringify({ format: REPORT_FORMAT - 1, result: good.result }))).toContain(
      `expected ${REPORT_FORMAT}`,
    );
    expect(bad(JSON.stringify({ format: REPORT_FORMAT }))).toContain('no result object');
    const { scenarios: _, ...noScenarios } = good.result;
    expect(bad(JSON.stringify({ format: REPORT_FORMAT, result: noScenarios }))).toContain(
      'result.scenarios is undefined, expected array',
    );
    expect(
      bad(JSON.stringify({ format: REPORT_FORMAT, result: { ...good.result, wallMs: '12' } })),
    ).toContain('result.wallMs is string, expected number');
  });
});
