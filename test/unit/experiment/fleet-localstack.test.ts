/**
 * The LocalStack fleet experiment's pieces that need no LocalStack: its result reader (bad files → one line),
 * its page section and charts from fixture results, its fleet sizes, and how it decides to reuse or start a
 * LocalStack (a fake starter; the real start is the experiment run itself).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureLocalStack, fleetSteps, localPort } from '../../../experiments/fleet-localstack.ts';
import {
  type EmbeddedFleetPoint,
  FLEET_LOCALSTACK_CHARTS,
  fleetLocalStackSection,
  fleetLocalStackSpecs,
} from '../../../experiments/fleet-localstack-page.ts';
import {
  type FleetLocalStackResult,
  fleetResultProblem,
  readFleetLocalStack,
} from '../../../experiments/fleet-localstack-results.ts';
import { embeddedFleetPoints } from '../../../experiments/page.ts';
import { readFinished } from '../../../experiments/shipped.ts';
import type { FleetStep } from '../../../src/runtime/localstack/fleet-bench.ts';

const step = (
  n: number,
  p50: number,
  p99: number,
  backlog: number,
  lsMiB: number,
  fnCount: number,
): FleetStep => ({
  n,
  p50,
  p95: (p50 + p99) / 2,
  p99,
  checkpoints: 3 * n,
  reached: n,
  failedOver: {},
  backlog: { p2s: backlog, s2p: Math.floor(backlog / 2) },
  wallS: 200 + n,
  memory: { localstackMiB: lsMiB, functions: { count: fnCount, totalMiB: fnCount * 100, maxMiB: 120 } },
  window: { startMs: 1000 * n, endMs: 1000 * n + 200_000 },
});

/** A run of 1, 5 and 20 VMs whose latency grows ~10× (queueing on the channels). */
function fixture(): FleetLocalStackResult {
  return {
    version: 1,
    record: {
      stackName: 'FleetExperiment',
      run: 'fbtest',
      n: 20,
      commits: 3,
      pollers: 8,
      vm: { checkpointS: 60, pendingS: 30, heartbeatS: 60, applyTimeoutS: 120 },
      steps: [
        step(1, 4000, 5000, 3, 700, 5),
        step(5, 6000, 9000, 7, 720, 12),
        step(20, 21000, 50000, 40, 810, 20),
      ],
      window: { startMs: 20_000, endMs: 220_000 },
      registered: 21,
      vmIds: Array.from({ length: 20 }, (_, i) => `fbtest-${String(i).padStart(4, '0')}`),
      final: { consistent: 20, commits: 95, dlq: 0, quiet: true, problems: [] },
      startedAt: '2026-11-30T15:31:00.000Z',
      totalWallS: 1200,
      functionNames: ['f1'],
    },
    usage: [1, 5, 20].map((n) => ({
      n,
      perVmHour: { requests: 2000 + n, bytes: 1e6, invocations: 100, gbSeconds: 1 },
      byService: { s3: { requests: 1500, bytes: 9e5 }, 'sqs-fifo': { requests: 500 + n, bytes: 1e5 } },
    })),
    localstack: { port: 4598, started: true },
    wallMs: 1_260_000,
  };
}

const embedded = (p99At10: number): EmbeddedFleetPoint[] => [
  { vms: 1, p99Ms: 10, linkBusyPct: 0.1 },
  { vms: 10, p99Ms: p99At10, linkBusyPct: 1.2 },
  { vms: 10_000, p99Ms: 900, linkBusyPct: 95 },
];

describe('the LocalStack fleet result', () => {
  it('accepts a complete result and names what a broken one lacks', () => {
    expect(fleetResultProblem(fixture())).toBeUndefined();
    expect(fleetResultProblem(null)).toBe('not a JSON object');
    expect(fleetResultProblem({ ...fixture(), version: 2 })).toMatch(/version 2/);
    const noSteps = fixture();
    noSteps.record.steps = [];
    expect(fleetResultProblem(noSteps)).toMatch(/steps/);
    const badStep = fixture() as unknown as { record: { steps: Array<Record<string, unknown>> } };
    delete badStep.record.steps[1]?.memory;
    expect(fleetResultProblem(badStep)).toMatch(/memory/);
    expect(fleetResultProblem({ ...fixture(), usage: [{ n: 1 }] })).toMatch(/usage entry/);
  });

  it('reads a saved result back, is undefined without one and refuses a bad file in one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-ls-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(fixture()));
    expect(readFleetLocalStack(good)?.record.steps.map((s) => s.n)).toEqual([1, 5, 20]);
    expect(readFleetLocalStack(join(dir, 'none.json'))).toBeUndefined();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"version":1');
    expect(() => readFleetLocalStack(bad)).toThrow(/bad\.json: not JSON/);
    writeFileSync(bad, JSON.stringify({ ...fixture(), record: {} }));
    let message = '';
    try {
      readFleetLocalStack(bad);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(
      /bad\.json: record\.steps is missing or empty; rerun npm run experiments -- --only fleet-localstack/,
    );
    expect(message).not.toContain('\n');
  });
});

describe('the LocalStack fleet section', () => {
  it('tables every step with its figures and the final check', () => {
    const text = fleetLocalStackSection(fixture(), embedded(11)).join('\n');
    expect(text).toContain('## A fleet on LocalStack');
    expect(text).toContain(
      '| 1 | 3 | 4.0 s | 4.5 s | 5.0 s | 3 / 1 | 700 MiB | 5 | 500 MiB | 2,001 | 201 s |',
    );
    expect(text).toContain(
      '| 20 | 60 | 21.0 s | 35.5 s | 50.0 s | 40 / 20 | 810 MiB | 20 | 2000 MiB | 2,020 | 220 s |',
    );
    expect(text).toContain('**20 of 20 VMs consistent**');
    expect(text).toContain('95 commits verified, 0 dead letters.');
    expect(text).toContain('a LocalStack the experiment started on port 4598');
    expect(text).toContain('21 min');
  });

  it('reads the contention from the numbers', () => {
    const text = fleetLocalStackSection(fixture(), embedded(11)).join('\n');
    // p99 50 s against 5 s; (21 000 − 4 000) / 19 ms more per VM.
    expect(text).toContain("(10× the single VM's p99), about 895 ms more per VM added");
    expect(text).toContain(
      'the channel backlog peaks at 40 messages towards the secondaries and 20 back (3 / 1 with one VM)',
    );
    // Embedded: 10 VMs at 1.1× the single VM, contention only at 10 000.
    expect(text).toContain('10 VMs keep the link busy 1.2 % of the time and their p99 is 1.1× the single VM');
    expect(text).toContain('needs 10,000 VMs (link busy 95 %, p99 90×)');
    expect(text).toContain('already at 20 VMs');
    expect(text).toContain('Requests per VM-hour stay between 2,001 and 2,020');
    // 9e5 bytes of S3 traffic per VM-hour at 20 VMs.
    expect(text).toContain('the page bytes go through S3 (0.858 MiB per VM-hour at 20 VMs');
    expect(text).toContain('from 5 (500 MiB) to 20 (2000 MiB)');
  });

  it('says so when the embedded fleet grows as much, and leaves the comparison out without it', () => {
    const similar = fleetLocalStackSection(fixture(), embedded(90)).join('\n');
    expect(similar).toContain('grows its p99 by a similar factor');
    expect(similar).not.toContain('already at 20 VMs');
    const alone = fleetLocalStackSection(fixture(), []).join('\n');
    expect(alone).not.toContain('embedded fleet above');
    // A LocalStack fleet smaller than any embedded fleet of more than one VM: no same-size comparison.
    const small = fixture();
    small.record.steps = small.record.steps.slice(0, 2);
    expect(fleetLocalStackSection(small, embedded(11)).join('\n')).not.toContain('embedded fleet above');
  });

  it('shows the usage error and no requests chart when the usage records could not be read', () => {
    const r = { ...fixture(), usage: [], usageError: 'logs unavailable' };
    const text = fleetLocalStackSection(r, embedded(11)).join('\n');
    expect(text).toContain('The usage records could not be read: logs unavailable.');
    expect(text).not.toContain('fleet-localstack-requests.png');
    expect(text).toContain('fleet-localstack-latency.png');
    expect(text).toContain('| — |');
  });

  it('counts failed-over VMs', () => {
    const r = fixture();
    const last = r.record.steps[2] as FleetStep;
    last.failedOver = { 'apply deadline after its deadline': 2 };
    expect(fleetLocalStackSection(r, []).join('\n')).toContain('2 VMs failed over during the steps');
  });

  it('charts every step: three percentiles, two memory series, each service per size', () => {
    const specs = fleetLocalStackSpecs(fixture()) as unknown as Record<
      string,
      { data: { values: unknown[] } }
    >;
    expect(Object.keys(specs).sort()).toEqual([...FLEET_LOCALSTACK_CHARTS].sort());
    expect(specs.latency?.data.values).toHaveLength(9);
    expect(specs.latency?.data.values).toContainEqual({ vms: 20, series: 'p99', y: 50 });
    expect(specs.memory?.data.values).toContainEqual({ vms: 5, series: 'LocalStack', y: 720 });
    expect(specs.requests?.data.values).toHaveLength(6);
    expect(specs.requests?.data.values).toContainEqual({ vms: '20', service: 'sqs-fifo', requests: 520 });
  });

  it('takes the embedded fleet from its shipped results (fixed policy, every size)', () => {
    const points = embeddedFleetPoints(readFinished('fleet'));
    expect(points.map((p) => p.vms)).toEqual([1, 10, 100, 1000, 10_000]);
    for (const p of points) expect(p.p99Ms).toBeGreaterThan(0);
    // One VM has no fleet link to be busy.
    expect(points[0]?.linkBusyPct).toBeUndefined();
    for (const p of points.slice(1)) expect(p.linkBusyPct).toBeGreaterThan(0);
  });
});

describe('the LocalStack fleet step', () => {
  it('runs 1, 5 and 20 VMs by default, up to N with --fleet-vms, and refuses a size out of range', () => {
    expect(fleetSteps(20)).toEqual([1, 5, 20]);
    expect(fleetSteps(100)).toEqual([1, 5, 20, 100]);
    expect(fleetSteps(3)).toEqual([1, 3]);
    expect(fleetSteps(1)).toEqual([1]);
    expect(() => fleetSteps(0)).toThrow(/--fleet-vms must be an integer in \[1, 1000\], got 0/);
    expect(() => fleetSteps(1001)).toThrow(RangeError);
  });

  it('knows a local endpoint by its host', () => {
    const at = (url: string) => localPort({ url, s3Url: url, region: 'us-east-1' });
    expect(at('http://127.0.0.1:4598')).toBe(4598);
    expect(at('http://localhost:4566/')).toBe(4566);
    expect(at('https://example.invalid')).toBeUndefined();
  });

  let server: Server | undefined;
  afterEach(() => server?.close());
  /** A loopback HTTP server answering every request with `body`; its URL. */
  const serve = async (body: string): Promise<string> => {
    server = createServer((_, res) => res.end(body));
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  it('reuses a LocalStack that answers with every service, and starts none', async () => {
    const services = Object.fromEntries(
      ['s3', 'sqs', 'lambda', 'events', 'cloudformation', 'logs'].map((s) => [s, 'running']),
    );
    const url = await serve(JSON.stringify({ services }));
    const starts: number[] = [];
    const r = await ensureLocalStack({ url, s3Url: url, region: 'us-east-1' }, (p) => starts.push(p) && 0);
    expect(r.started).toBe(false);
    expect(starts).toEqual([]);
  });

  it("reports a LocalStack without the fleet's services instead of starting another", async () => {
    const url = await serve(JSON.stringify({ services: { s3: 'running', sqs: 'running' } }));
    const starts: number[] = [];
    await expect(
      ensureLocalStack({ url, s3Url: url, region: 'us-east-1' }, (p) => starts.push(p) && 0),
    ).rejects.toThrow(/does not run lambda, events, cloudformation, logs/);
    expect(starts).toEqual([]);
  });

  it('starts one on the port when none answers, and says in one line when that fails', async () => {
    const url = await serve('');
    server?.close();
    const port = Number(new URL(url).port);
    const starts: number[] = [];
    const ok = await ensureLocalStack({ url, s3Url: url, region: 'us-east-1' }, (p) => {
      starts.push(p);
      return 0;
    });
    expect(ok).toEqual({ port, started: true });
    let message = '';
    try {
      await ensureLocalStack({ url, s3Url: url, region: 'us-east-1' }, () => 1);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(
      `LocalStack could not start on port ${port} (scripts/localstack-up.sh exited 1;`,
    );
    expect(message).toContain('--skip-localstack runs the embedded experiments only');
    expect(message).not.toContain('\n');
    expect(starts).toEqual([port]);
  });

  it('never starts one for an endpoint off this machine', async () => {
    const url = 'http://no-such-host.invalid:4566';
    const starts: number[] = [];
    await expect(
      ensureLocalStack({ url, s3Url: url, region: 'us-east-1' }, (p) => starts.push(p) && 0),
    ).rejects.toThrow(/not reachable/);
    expect(starts).toEqual([]);
  });
});
