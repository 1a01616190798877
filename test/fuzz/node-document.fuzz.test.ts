/**
 * Fuzz: ≥ 100 000 inputs each to decodePrimaryDocument and decodeSecondaryDocument — the node documents the
 * `primary`, `secondary-apply`, `heartbeat-monitor` and timer functions load from the state store before
 * every step (container, document shell, outbox messages, engine state). Oracle: a value, or a
 * `StateDocumentError` (their TSDoc's only error); a TypeError, a RangeError or a stack overflow fails the
 * test. Every accepted document must be encodable again (a decoded value the encoder refuses would brick
 * the node at its next save), and one in 16 is re-encoded and decoded again to the same bytes.
 *
 * Seeds: the documents of two real sessions, an 8-page guest (raw blobs; 7 draws in 8) and a 64-page
 * guest (deflated blobs), each decoded under its own parameters.
 */
import { describe, expect, it } from 'vitest';
import type { ColoParams } from '../../src/engine/params.ts';
import {
  decodePrimaryDocument,
  decodeSecondaryDocument,
  encodeDocument,
  type NodeDocument,
} from '../../src/runtime/cloud/document.ts';
import { StateDocumentError } from '../../src/runtime/cloud/errors.ts';
import { DOCUMENT_CATEGORIES, SHALLOW_CONTAINER } from './categories.ts';
import { buildCloudCorpus } from './cloud-corpus.ts';
import { assertEncodable, ContainerInputs, containerSeeds, type Strategy } from './container-inputs.ts';
import { Rng } from './mutate.ts';
import { exactly, FUZZ_TIMEOUT_MS, forInputs, Tally } from './oracle.ts';

const INPUTS = 100_000;
const small = await buildCloudCorpus(8);
const large = await buildCloudCorpus(64);

type Decode = (bytes: Uint8Array, params: ColoParams, what: string) => NodeDocument<unknown>;

function fuzz(node: 'primary' | 'secondary', decode: Decode, seed: number): void {
  const docs = (c: typeof small) => (node === 'primary' ? c.primaryDocs : c.secondaryDocs);
  const seeds = [
    ...containerSeeds(docs(small), small.params, (b, p) => decode(b, p, 'seed')),
    // One large seed per seven small ones.
    ...containerSeeds(
      docs(large).filter((_, k) => k % 7 === 0),
      large.params,
      (b, p) => decode(b, p, 'seed'),
    ),
  ];
  const inputs = new ContainerInputs(seeds, node === 'primary' ? 'primary-document' : 'secondary-document');
  const rng = new Rng(seed);
  const tally = new Tally(`${node} document`, {
    is: exactly(StateDocumentError),
    categories: DOCUMENT_CATEGORIES,
  });
  const strategies = new Map<Strategy, number>();
  tally.stats = forInputs(INPUTS, (i) => {
    const { input, strategy, seed: from } = inputs.next(rng);
    strategies.set(strategy, (strategies.get(strategy) ?? 0) + 1);
    let doc: NodeDocument<unknown>;
    try {
      doc = decode(input, from.context, 'fuzz');
    } catch (error) {
      tally.reject(error, i, () => `${strategy} ${input.toString('hex')}`);
      return;
    }
    tally.accept();
    try {
      assertEncodable(doc);
      if (tally.accepted % 16 === 0) {
        const again = encodeDocument(doc as NodeDocument<never>);
        const back = encodeDocument(decode(again, from.context, 'again') as NodeDocument<never>);
        expect(Buffer.compare(Buffer.from(again), Buffer.from(back))).toBe(0);
      }
    } catch (error) {
      throw new Error(`${node} document: accepted input #${i} (${strategy}) cannot be saved again`, {
        cause: error,
      });
    }
  });
  console.log(`${node} document strategies ${JSON.stringify(Object.fromEntries(strategies))}`);
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
      'guest',
      'outbox',
    ],
  });
  // A tenth of the inputs must get through the container into the document and state checks.
  expect(tally.sum(['schema', 'guest', 'outbox', 'node', 'vm'])).toBeGreaterThan(INPUTS / 10);
}

describe('node document fuzz', () => {
  it(
    `decodePrimaryDocument survives ${INPUTS} mutated, re-encoded and hostile documents`,
    () => {
      fuzz('primary', decodePrimaryDocument, 0x5eed_0101);
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `decodeSecondaryDocument survives ${INPUTS} mutated, re-encoded and hostile documents`,
    () => {
      fuzz('secondary', decodeSecondaryDocument, 0x5eed_0102);
    },
    FUZZ_TIMEOUT_MS,
  );
});
