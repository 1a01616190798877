/**
 * Any value for any flag: `colo run --dry-run` answers with exit 0 (valid: nothing runs) or exit 1 and
 * `colo: …` lines — never a stack trace or an internal error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RUN_OPTIONS } from '../../../src/cli/options.ts';
import { cli } from './run-cli.ts';

/** Flags that take a value and shape the scenario (not files, outputs or the backend). */
const FLAGS = RUN_OPTIONS.filter((o) => o.arg !== undefined && o.key !== undefined).map((o) => `--${o.flag}`);

/** Values near the grammar: numbers with and without units, signs, junk, and arbitrary text. */
const value = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc
    .tuple(
      fc.oneof(
        fc.integer({ min: -5, max: 1e6 }).map(String),
        fc.double({ noNaN: false }).map(String),
        fc.constantFrom('', '.5', '1e400', '0x10', '1_000'),
      ),
      fc.constantFrom(
        '',
        'B',
        'b',
        'KiB',
        'MB',
        'Mb',
        'Gbit',
        'Gbps',
        'GB/s',
        'G',
        'ms',
        's',
        'S',
        'm',
        'h',
        'd',
        '%',
        '/s',
        ' ',
        'µs',
      ),
    )
    .map(([n, u]) => `${n}${u}`),
  fc.constantFrom(
    'uniform',
    'hotcold:hotPages=16MiB',
    'zipf:exponent=',
    'running/idle',
    'none,fixed',
    'lose=1%',
    'outage=primary@1s+1s',
  ),
);

describe('any flag value', () => {
  it('is either accepted or refused in colo: lines, never with a stack trace', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(...FLAGS), value), { minLength: 1, maxLength: 3 }),
        async (pairs) => {
          const r = await cli(['run', '--dry-run', ...pairs.flat()]);
          expect([0, 1]).toContain(r.code);
          expect(r.err).not.toMatch(/\n\s+at |internal error/);
          if (r.code === 1) {
            expect(r.out).toBe('');
            for (const line of r.err.trim().split('\n')) expect(line.startsWith('colo: ')).toBe(true);
          } else {
            expect(r.out).toMatch(/dry run: nothing was run/);
          }
        },
      ),
      // Found by this property (CI rehearsal, 2026-12-01): `--policy -V` printed the version and exit 0,
      // because Commander read the program's `-V` after the command; always checked now.
      {
        numRuns: 400,
        examples: [
          [
            [
              ['--policy', '-V'],
              ['--policy', '0'],
            ],
          ],
          [[['--seed', '-V']]],
        ],
      },
    );
  });
});
