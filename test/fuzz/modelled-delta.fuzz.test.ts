/**
 * Fuzz: ≥ 100 000 inputs to decodeModelledDelta — the delta objects `secondary-apply` reads from the delta
 * store in `payload: modelled` mode. Oracle: a delta (modelled, every page without data, no blob, as many
 * versions as pages, u32 indices and versions) or a `StateDocumentError`, its TSDoc's only error. One
 * accepted delta in 16 is re-encoded and decoded again to the same delta.
 */
import { describe, expect, it } from 'vitest';
import type { PageDelta } from '../../src/engine/protocol/delta.ts';
import { StateDocumentError } from '../../src/runtime/cloud/errors.ts';
import { decodeModelledDelta, encodeModelledDelta } from '../../src/runtime/cloud/modelled-codec.ts';
import { CONTAINER_CATEGORIES, SHALLOW_CONTAINER } from './categories.ts';
import { buildCloudCorpus } from './cloud-corpus.ts';
import { ContainerInputs, containerSeeds, type Strategy } from './container-inputs.ts';
import { Rng } from './mutate.ts';
import { check, exactly, FUZZ_TIMEOUT_MS, forInputs, Tally } from './oracle.ts';

const INPUTS = 100_000;

function checkDelta(d: PageDelta): void {
  check(d.modelled === true && d.blob.byteLength === 0, () => 'not a modelled delta');
  for (const p of d.pages) {
    if (p.data !== null || !Number.isInteger(p.index) || p.index < 0 || p.index > 0xffff_ffff) {
      throw new Error(`bad page ${JSON.stringify(p)}`);
    }
    if (!Number.isInteger(p.version) || p.version < 0 || p.version > 0xffff_ffff) {
      throw new Error(`bad version ${JSON.stringify(p)}`);
    }
  }
}

describe('modelled delta fuzz', () => {
  it(
    `decodeModelledDelta survives ${INPUTS} mutated, re-encoded and hostile objects`,
    async () => {
      const objects = [
        ...(await buildCloudCorpus(8)).modelledDeltas,
        ...(await buildCloudCorpus(64)).modelledDeltas,
      ];
      const seeds = containerSeeds(objects, undefined, (b) => decodeModelledDelta(b, 'seed'));
      // The value-level edits work on the stored shape (page and version arrays), not on a PageDelta.
      for (const s of seeds) {
        const d = s.value as PageDelta;
        s.value = {
          vmId: d.vmId,
          epoch: d.epoch,
          seq: d.seq,
          kind: d.kind,
          pages: Uint32Array.from(d.pages, (p) => p.index),
          versions: Uint32Array.from(d.pages, (p) => p.version),
        };
      }
      const inputs = new ContainerInputs(seeds, 'modelled-delta');
      const rng = new Rng(0x5eed_0103);
      const tally = new Tally('modelled delta', {
        is: exactly(StateDocumentError),
        categories: [...CONTAINER_CATEGORIES, ['lengths', /pages but \d+ versions/], ['schema', /✖/]],
      });
      const strategies = new Map<Strategy, number>();
      tally.stats = forInputs(INPUTS, (i) => {
        const { input, strategy } = inputs.next(rng);
        strategies.set(strategy, (strategies.get(strategy) ?? 0) + 1);
        let d: PageDelta;
        try {
          d = decodeModelledDelta(input, 'fuzz');
        } catch (error) {
          tally.reject(error, i, () => `${strategy} ${input.toString('hex')}`);
          return;
        }
        tally.accept();
        checkDelta(d);
        if (tally.accepted % 16 === 0) expect(decodeModelledDelta(encodeModelledDelta(d))).toEqual(d);
      });
      console.log(`modelled delta strategies ${JSON.stringify(Object.fromEntries(strategies))}`);
      tally.assertCoverage({
        minAccepted: 0.05,
        shallow: SHALLOW_CONTAINER,
        minDeep: 0.8,
        mustSee: [
          'checksum',
          'header-json',
          'blob-table',
          'inflate',
          'tag',
          'nesting',
          'reuse',
          'proto',
          'schema',
          'lengths',
        ],
      });
      expect(tally.sum(['schema', 'lengths'])).toBeGreaterThan(INPUTS / 10);
    },
    FUZZ_TIMEOUT_MS,
  );
});
