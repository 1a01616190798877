/**
 * One measurement of `experiments/scale.ts`, in a process of its own so that its memory is its own:
 * `tsx experiments/scale-child.ts guest BYTES SECONDS` or `… fleet VMS SECONDS`. Prints one JSON line:
 * wall time, simulated time, resident memory before the run and at its peak, array buffers held at the end
 * (bytes), events. Run with `--expose-gc` (scale.ts does): the end figure is taken after full collections, so it
 * counts what the run keeps, not garbage the collector has not reached yet.
 */
import { DEFAULT_PARAMS } from '../src/engine/params.ts';
import { runFleet } from '../src/runtime/embedded/fleet.ts';
import { runEmbedded } from '../src/runtime/embedded/run.ts';

const [kind, sizeText, secondsText] = process.argv.slice(2);
const size = Number(sizeText);
const durationMs = Number(secondsText) * 1000;
if ((kind !== 'guest' && kind !== 'fleet') || !(size > 0) || !(durationMs > 0)) {
  console.error('usage: scale-child.ts guest BYTES SECONDS | fleet VMS SECONDS');
  process.exit(1);
}
const MiB = 1024 * 1024;
/** The guest-size experiment's and the fleet experiment's settings (experiments/*.yaml). */
const guest = {
  params: {
    ...DEFAULT_PARAMS,
    guestBytes: size,
    payload: 'modelled' as const,
    policy: 'fixed' as const,
    thresholdBytes: 100 * MiB,
    workload: { kind: 'hotcold' as const, hotPages: 4096, hotRate: 4000, coldRate: 2500 },
  },
  link: { bandwidthBytesPerSec: 10e9 / 8, latencyMs: 0.1 },
};
const fleet = {
  params: {
    ...DEFAULT_PARAMS,
    guestBytes: 32 * MiB,
    payload: 'modelled' as const,
    policy: 'fixed' as const,
    thresholdBytes: 1 * MiB,
    workload: { kind: 'hotcold' as const, hotPages: 128, hotRate: 200, coldRate: 20 },
  },
  link: { bandwidthBytesPerSec: 10e9 / 8, latencyMs: 0.1 },
};
global.gc?.();
const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
const result =
  kind === 'guest'
    ? runEmbedded({ ...guest, durationMs })
    : runFleet({ ...fleet, durationMs, vms: size, staggerMs: 20_000 });
const wallMs = performance.now() - t0;
// Typed arrays held by the result (page versions, bitmaps, classes), bytes: what the run keeps, touched or not.
// Buffers dropped during the run are freed by a full collection (and their backing stores a turn later).
global.gc?.();
await new Promise((resolve) => setImmediate(resolve));
global.gc?.();
const arrayBuffers = process.memoryUsage().arrayBuffers;
const events = result.events;
console.log(
  JSON.stringify({
    kind,
    size,
    simulatedMs: durationMs,
    wallMs,
    rssBefore,
    rssPeak: process.resourceUsage().maxRSS * 1024,
    arrayBuffers,
    events,
  }),
);
