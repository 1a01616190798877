/**
 * docs/experiments.md is what `npm run experiments -- --page-only` writes from the committed results
 * (experiments/results/*, scale.json and fleet-localstack/fleet.json included): the page's figures are the results', and every
 * shipped experiment is complete.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readFleetLocalStack } from '../../../experiments/fleet-localstack-results.ts';
import { experimentsPage } from '../../../experiments/page.ts';
import { readScale } from '../../../experiments/scale-results.ts';
import { type Finished, readFinishedWithTime, SHIPPED } from '../../../experiments/shipped.ts';

describe('docs/experiments.md', () => {
  it('is current with experiments/results (npm run experiments -- --page-only)', () => {
    const results: Record<string, Finished> = {};
    let total = 0;
    for (const name of SHIPPED) {
      const f = readFinishedWithTime(name);
      expect(f.finished, name).toBe(f.experiment.cells.length);
      total += f.wallMs ?? 0;
      results[name] = f;
    }
    const fleetLocalStack = readFleetLocalStack();
    expect(fleetLocalStack, 'experiments/results/fleet-localstack/fleet.json').toBeDefined();
    expect(readFileSync('docs/experiments.md', 'utf8')).toBe(
      experimentsPage(results, total, readScale(), fleetLocalStack),
    );
  });
});
