import { describe, expect, test, vi } from 'vitest';
import { COLO_METRICS } from '../../../lambda/adapters/metrics-contract.ts';
import { powertools, reportInvocation } from '../../../lambda/handlers/common/observability.ts';
import { HandlerSim, handlerParams, recordingObservability } from './sim.ts';

describe('operability metrics', () => {
  test('EMF metrics carry the service dimension only, never the VM id (fixed series at any fleet size)', () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const obs = powertools('primary', 'vm-42');
      obs.metrics.addMetric(COLO_METRICS.checkpoints, 'Count', 1);
      obs.metrics.publishStoredMetrics();
    } finally {
      spy.mockRestore();
    }
    const emf = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((o) => '_aws' in o);
    expect(emf).toBeDefined();
    const meta = (emf as { _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] } })
      ._aws.CloudWatchMetrics[0];
    expect(meta?.Namespace).toBe('ColoServerless');
    expect(meta?.Dimensions).toEqual([['service']]);
    expect(emf?.service).toBe('primary');
    expect(emf?.vmId).toBeUndefined();
    expect(emf?.[COLO_METRICS.checkpoints]).toBe(1);
  });

  test('a background round the secondary abandoned is counted as RoundsAbandoned', () => {
    const obs = recordingObservability();
    const result = {
      outcomes: [],
      casConflicts: 0,
      sent: [],
      replayed: 0,
      rebuilt: 0,
      logDeferred: false,
      records: [],
      effects: [
        {
          type: 'trace',
          name: 'colo_background_round_abandoned',
          at: 5,
          fields: { round: 1, why: 'deadline' },
        },
        { type: 'trace', name: 'colo_receive_message', at: 5, fields: {} },
      ],
      document: { state: { phase: 'idle' }, revision: 1, wakeAt: Number.POSITIVE_INFINITY },
    };
    reportInvocation(obs, result as unknown as Parameters<typeof reportInvocation>[1]);
    expect(obs.metricValues.get(COLO_METRICS.roundsAbandoned)).toEqual([1]);
    const quiet = recordingObservability();
    reportInvocation(quiet, { ...result, effects: [] } as unknown as Parameters<typeof reportInvocation>[1]);
    expect(quiet.metricValues.has(COLO_METRICS.roundsAbandoned)).toBe(false);
  });

  test('the watchdog counts a chain it replaces as ChainsRepaired, not one it starts', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await sim.tickArm({ source: 'colo.watchdog', vmId: 'vm-0' });
    expect(sim.metric('ChainsArmed')).toBe(3);
    expect(sim.metric(COLO_METRICS.chainsRepaired)).toBe(0);
    // No tick is delivered for well over two periods of every timer: each chain has gone quiet.
    sim.clock.advance(120_000);
    const r = await sim.tickArm({ source: 'colo.watchdog', vmId: 'vm-0' });
    expect(r.chains).toEqual({ checkpoint: 'armed', 'pending-check': 'armed', heartbeat: 'armed' });
    expect(sim.metric('ChainsArmed')).toBe(6);
    expect(sim.metric(COLO_METRICS.chainsRepaired)).toBe(3);
  });
});
