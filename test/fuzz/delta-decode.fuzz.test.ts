/**
 * Fuzz: ≥ 100 000 random and mutated inputs to decodeDelta. Every input must either decode to a well-formed
 * delta (which then re-encodes to the very same bytes when no page is deflated: the format is canonical) or
 * throw a WireError with a documented code. Behaviour only: the time per input, the slowest input and the
 * memory held while decoding are figures of `bench/fuzz.ts` (`npm run bench`), not assertions here.
 */
import { describe, expect, it } from 'vitest';
import type { PageDelta } from '../../src/engine/protocol/delta.ts';
import type { DecodeLimits } from '../../src/wire/delta-codec.ts';
import { decodeDelta, encodeDelta, WIRE_ERROR_CODES, WireError } from '../../src/wire/delta-codec.ts';
import { DELTA_FUZZ_SEED, deltaSeeds, hugeCountInputs, nextDeltaInput } from './delta-inputs.ts';
import { Rng } from './mutate.ts';

const INPUTS = 110_000;

/** Checks what a successful decode returned. */
function checkAccepted(input: Uint8Array, delta: PageDelta, limits: DecodeLimits): void {
  let previous = -1;
  for (const page of delta.pages) {
    expect(page.index).toBeGreaterThan(previous);
    expect(page.index).toBeLessThan(limits.pageCount ?? 2 ** 32);
    if (page.data !== null) expect(page.data.length).toBe(4096);
    previous = page.index;
  }
  if (delta.kind === 'device-state') expect(delta.pages).toHaveLength(0);
  else expect(delta.blob.length).toBe(0);
  const again = encodeDelta(delta);
  if (again.length === input.length) expect(Buffer.compare(again, input)).toBe(0);
  else expect(input.length).toBeLessThan(again.length); // only deflated pages make an object shorter
}

describe('decodeDelta fuzz', () => {
  it(`survives ${INPUTS} random and mutated inputs`, () => {
    const rng = new Rng(DELTA_FUZZ_SEED);
    const pool = deltaSeeds();
    const codes = new Map<string, number>();
    let accepted = 0;
    for (let i = 0; i < INPUTS; i++) {
      const { input, limits } = nextDeltaInput(rng, pool);
      try {
        const delta = decodeDelta(input, limits);
        accepted++;
        checkAccepted(input, delta, limits);
      } catch (error) {
        if (!(error instanceof WireError) || !WIRE_ERROR_CODES.includes(error.code)) {
          throw new Error(`input #${i} (${input.toString('hex')}) threw ${String(error)}`);
        }
        codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
      }
    }
    console.log(
      `decodeDelta fuzz: ${INPUTS} inputs, ${accepted} accepted; rejections ${JSON.stringify(Object.fromEntries(codes))}`,
    );
    // The mutations must reach past the checksum into the structural checks.
    for (const code of [
      'truncated',
      'checksum-mismatch',
      'count-mismatch',
      'bad-field',
      'page-out-of-range',
    ]) {
      expect(codes.get(code) ?? 0, code).toBeGreaterThan(0);
    }
  });

  it('rejects huge declared counts as truncated', () => {
    for (const input of hugeCountInputs()) {
      expect(() => decodeDelta(input, { maxObjectBytes: 1 << 30 })).toThrow(
        expect.objectContaining({ code: 'truncated' }),
      );
    }
  });
});
