/**
 * Valid stored objects to mutate, taken from a real cloud-runtime session: every node document, log segment
 * and control document a short replicated run saves to its state store, and every modelled delta it puts in
 * its delta store — the very bytes the Lambda functions read back. Deterministic (virtual clock, seeded
 * workload), built once per test file.
 */
import type { ColoParams } from '../../src/engine/params.ts';
import { testParams } from '../helpers/engine.ts';
import { CloudPair } from '../unit/cloud/harness.ts';

/** What the session stored, by kind. */
export interface CloudCorpus {
  /** The session's parameters (the node documents' VM and guest size). */
  params: ColoParams;
  /** Node documents, as saved. */
  primaryDocs: Uint8Array[];
  secondaryDocs: Uint8Array[];
  /** Log segments (JSON), as saved. */
  logSegments: Uint8Array[];
  /** Control documents (JSON), as saved. */
  controlDocs: Uint8Array[];
  /** Modelled page deltas (container kind `modelled-delta`), as put. */
  modelledDeltas: Uint8Array[];
}

/** Keeps `max` items spread evenly over `items` (first and last included). */
function spread<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  return Array.from({ length: max }, (_, i) => items[Math.round((i * (items.length - 1)) / (max - 1))] as T);
}

/**
 * Runs a guest of `pages` pages (modelled payloads, background rounds, checkpoints) for 1.5 s of virtual
 * time, then fails it over, capturing what is stored; keeps at most `max` objects of each kind. Small guests
 * make small documents whose blobs stay raw (under 64 bytes nothing is deflated), 64 pages and more make
 * deflated blobs.
 */
export async function buildCloudCorpus(pages = 64, max = 60): Promise<CloudCorpus> {
  const hot = Math.max(2, pages / 8);
  const params = testParams({
    guestBytes: pages * 4096,
    payload: 'modelled',
    workload: { kind: 'hotcold', hotPages: hot, hotRate: 200, coldRate: 100 },
    thresholdBytes: (hot / 2) * 4096,
    checkpointDelayMs: 300,
    secondaryMode: 'running',
  });
  const pair = new CloudPair(params);
  const saved: { key: string; value: Uint8Array }[] = [];
  const save = pair.state.save.bind(pair.state);
  pair.state.save = (key, value, etag) => {
    saved.push({ key, value: value.slice() });
    return save(key, value, etag);
  };
  const deltas: Uint8Array[] = [];
  const put = pair.deltas.put.bind(pair.deltas);
  pair.deltas.put = (key, bytes) => {
    deltas.push(bytes.slice());
    return put(key, bytes);
  };
  await pair.start();
  await pair.run(1500, 20);
  await pair.secondary([{ type: 'failover' }]);
  await pair.primary([{ type: 'tick' }]);
  const of = (re: RegExp) =>
    spread(
      saved.filter((s) => re.test(s.key)).map((s) => s.value),
      max,
    );
  return {
    params,
    primaryDocs: of(/\/node\/primary\.bin$/),
    secondaryDocs: of(/\/node\/secondary\.bin$/),
    logSegments: of(/\/log\//),
    controlDocs: of(/\/control\.json$/),
    modelledDeltas: spread(deltas, max),
  };
}
