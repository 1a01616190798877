/**
 * Benchmarks over the fuzz tests' input mixes (the figures the fuzz tests used to assert): decodeDelta and
 * parseMessage throughput, the slowest single input, and the Buffer memory held while decoding. Inputs come
 * from the same seeded generators as `test/fuzz/*.fuzz.test.ts`, so a slow input found here reproduces there.
 * Each chunk of inputs runs through the baseline and then the subject, so both see the same inputs, caches and
 * machine load.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { decodeDelta, sha256Hex } from '../src/wire/delta-codec.ts';
import { duplicateKey } from '../src/wire/json-keys.ts';
import { parseMessage } from '../src/wire/message-schema.ts';
import { DELTA_FUZZ_SEED, deltaSeeds, hugeCountInputs, nextDeltaInput } from '../test/fuzz/delta-inputs.ts';
import { MESSAGE_FUZZ_SEED, messageSeeds, nextMessageBody } from '../test/fuzz/message-inputs.ts';
import { Rng } from '../test/fuzz/mutate.ts';
import { arrayBuffersMiB, type BenchOptions, type BenchResult, bestOf } from './harness.ts';

/** Inputs per fuzz target at default sizes: as many as the fuzz tests check. */
const DEFAULT_INPUTS = 110_000;
/** Inputs per fuzz target with `--quick`. */
const QUICK_INPUTS = 500;
/** Inputs generated, then timed, at a time: bounds the memory the held inputs take. */
const CHUNK = 5_000;
/** Memory is sampled every this many inputs (outside the per-input timers). */
const MEMORY_EVERY = 250;
/** Untimed inputs (from another seed) run first, so the slowest input is not just the first call's compilation. */
const WARMUP = 1_000;

// Full collections before each pass of each chunk: the memory peak then shows what that pass allocated and
// held, not garbage V8 had not yet got round to, and fewer collections land inside the per-input timers.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
/** Two collections: one often leaves freed ArrayBuffer backing stores counted until the next. */
function fullGc(): void {
  gc();
  gc();
}

/** Per-input timings of one pass over all inputs. */
class Pass {
  totalMs = 0;
  slowestMs = 0;
  slowestSize = 0;
  peakArrayBuffersMiB = 0;

  /** Times `run` on each of `items` alone; errors are expected (most fuzz inputs are refused) and ignored. */
  each<T>(items: readonly T[], size: (item: T) => number, run: (item: T) => unknown): void {
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as T;
      const t0 = performance.now();
      try {
        run(item);
      } catch {
        // a refusal is a result, not a failure; the fuzz tests check which error it is
      }
      const ms = performance.now() - t0;
      this.totalMs += ms;
      if (ms > this.slowestMs) {
        this.slowestMs = ms;
        this.slowestSize = size(item);
      }
      if (i % MEMORY_EVERY === 0)
        this.peakArrayBuffersMiB = Math.max(this.peakArrayBuffersMiB, arrayBuffersMiB());
    }
    this.peakArrayBuffersMiB = Math.max(this.peakArrayBuffersMiB, arrayBuffersMiB());
  }
}

/**
 * Runs `count` inputs drawn by `next(rng)` from `seed` through `baseline` and `subject`, chunk by chunk, after
 * an untimed warm-up on inputs from `seed + 1`.
 */
function compare<T>(
  count: number,
  seed: number,
  next: (rng: Rng) => T,
  size: (item: T) => number,
  baseline: (item: T) => unknown,
  subject: (item: T) => unknown,
): { base: Pass; sub: Pass; bytes: number } {
  const warm = new Rng(seed + 1);
  const warmup = Array.from({ length: Math.min(WARMUP, count) }, () => next(warm));
  new Pass().each(warmup, size, baseline);
  new Pass().each(warmup, size, subject);
  const rng = new Rng(seed);
  const base = new Pass();
  const sub = new Pass();
  let bytes = 0;
  for (let done = 0; done < count; done += CHUNK) {
    const chunk = Array.from({ length: Math.min(CHUNK, count - done) }, () => next(rng));
    for (const item of chunk) bytes += size(item);
    fullGc();
    base.each(chunk, size, baseline);
    fullGc();
    sub.each(chunk, size, subject);
  }
  return { base, sub, bytes };
}

const perSecond = (count: number, ms: number) => count / (ms / 1000);
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** decodeDelta over the fuzz mix against sha256Hex of the same inputs (decodeDelta hashes each one it frames). */
export function deltaFuzzBench(
  options: BenchOptions,
  inputs = options.quick ? QUICK_INPUTS : DEFAULT_INPUTS,
): BenchResult {
  const pool = deltaSeeds();
  const { base, sub, bytes } = compare(
    inputs,
    DELTA_FUZZ_SEED,
    (rng) => nextDeltaInput(rng, pool),
    (x) => x.input.length,
    (x) => sha256Hex(x.input),
    (x) => decodeDelta(x.input, x.limits),
  );
  const huge = hugeCountInputs();
  const repeat = options.quick ? 10 : 1_000;
  const hugeDecodeMs = bestOf(5, () => {
    for (let r = 0; r < repeat; r++) {
      for (const input of huge) {
        try {
          decodeDelta(input, { maxObjectBytes: 1 << 30 });
        } catch {
          // expected: every one is refused as truncated (asserted by the fuzz test)
        }
      }
    }
  });
  const hugeShaMs = bestOf(5, () => {
    for (let r = 0; r < repeat; r++) for (const input of huge) sha256Hex(input);
  });
  const perObject = repeat * huge.length;
  return {
    notes: [
      `fuzz-delta: ${inputs} inputs (${mib(bytes)} MiB) of the decodeDelta fuzz mix, seed 0x${DELTA_FUZZ_SEED.toString(16)}; ` +
        `slowest decode: a ${sub.slowestSize}-byte input`,
    ],
    rows: [
      {
        group: 'fuzz-delta',
        name: `decodeDelta, fuzz mix of ${inputs} inputs`,
        value: perSecond(inputs, sub.totalMs),
        unit: 'inputs/s',
        baseline: 'sha256Hex of each input',
        baselineValue: perSecond(inputs, base.totalMs),
      },
      {
        group: 'fuzz-delta',
        name: `decodeDelta, slowest single input of ${inputs}`,
        value: sub.slowestMs,
        unit: 'ms',
        baseline: 'sha256Hex, slowest single input',
        baselineValue: base.slowestMs,
      },
      {
        group: 'fuzz-delta',
        name: `decodeDelta, peak arrayBuffers over ${inputs} inputs`,
        value: sub.peakArrayBuffersMiB,
        unit: 'MiB',
        baseline: 'sha256Hex, peak arrayBuffers',
        baselineValue: base.peakArrayBuffersMiB,
      },
      {
        group: 'fuzz-delta',
        name: `decodeDelta, ${huge.length} objects declaring 2^31 or 2^32-1 (per object)`,
        value: hugeDecodeMs / perObject,
        unit: 'ms',
        baseline: 'sha256Hex of the same objects',
        baselineValue: hugeShaMs / perObject,
      },
    ],
  };
}

/** parseMessage over the fuzz mix against JSON.parse of the same bodies (parseMessage parses, then validates). */
export function messageFuzzBench(
  options: BenchOptions,
  inputs = options.quick ? QUICK_INPUTS : DEFAULT_INPUTS,
): BenchResult {
  const pool = messageSeeds();
  // The duplicate-key scan parseMessage runs after JSON.parse, on one body of many keys (271 KiB at default
  // sizes), best of 3.
  const keyCount = options.quick ? 2_000 : 20_000;
  const keyBody = `{${Array.from({ length: keyCount }, (_, i) => `"k${i}":${i}`).join(',')}}`;
  const keyParseMs = bestOf(3, () => JSON.parse(keyBody));
  const keyScanMs = bestOf(3, () => duplicateKey(keyBody));
  const { base, sub, bytes } = compare(
    inputs,
    MESSAGE_FUZZ_SEED,
    (rng) => nextMessageBody(rng, pool),
    (body) => body.length,
    (body) => JSON.parse(body),
    (body) => parseMessage(body),
  );
  return {
    notes: [
      `fuzz-message: ${inputs} bodies (${mib(bytes * 2)} MiB as UTF-16) of the parseMessage fuzz mix, seed ` +
        `0x${MESSAGE_FUZZ_SEED.toString(16)}; slowest parse: a ${sub.slowestSize}-character body`,
    ],
    rows: [
      {
        group: 'fuzz-message',
        name: `parseMessage, fuzz mix of ${inputs} bodies`,
        value: perSecond(inputs, sub.totalMs),
        unit: 'bodies/s',
        baseline: 'JSON.parse of each body',
        baselineValue: perSecond(inputs, base.totalMs),
      },
      {
        group: 'fuzz-message',
        name: `parseMessage, slowest single body of ${inputs}`,
        value: sub.slowestMs,
        unit: 'ms',
        baseline: 'JSON.parse, slowest single body',
        baselineValue: base.slowestMs,
      },
      {
        group: 'fuzz-message',
        name: `duplicateKey, one body of ${keyCount} keys (${Math.round(keyBody.length / 1024)} KiB)`,
        value: keyScanMs,
        unit: 'ms',
        baseline: 'JSON.parse of the same body',
        baselineValue: keyParseMs,
      },
    ],
  };
}
