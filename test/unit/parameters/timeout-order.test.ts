import { describe, expect, it } from 'vitest';
import { planWarnings } from '../../../src/cli/plan.ts';
import { resolveScenario } from '../../../src/cli/scenario.ts';
import { timeoutOrderWarning } from '../../../src/parameters/timeout-order.ts';

const key = (k: string) => `${k}Ms`;

describe('timeoutOrderWarning', () => {
  it('is silent while the primary waits longer than the secondary, and names the longer wait otherwise', () => {
    expect(
      timeoutOrderWarning(
        { checkpointTimeoutMs: 30_000, applyTimeoutMs: 5_000, heartbeatTimeoutMs: 10_000 },
        key,
      ),
    ).toBeUndefined();
    const heartbeat = timeoutOrderWarning(
      { checkpointTimeoutMs: 30_000, applyTimeoutMs: 60_000, heartbeatTimeoutMs: 60_000 },
      key,
    );
    expect(heartbeat).toMatch(
      /^checkpointTimeoutMs \(30000 ms\) is not above .*\(applyTimeoutMs, 60000 ms\).*120000 ms/,
    );
    const equal = timeoutOrderWarning(
      { checkpointTimeoutMs: 20_000, applyTimeoutMs: 5_000, heartbeatTimeoutMs: 20_000 },
      key,
    );
    expect(equal).toMatch(/heartbeatTimeoutMs, 20000 ms/);
  });

  it('is among the warnings of a run whose waits outlast the primary’s checkpoint timeout', () => {
    const order = (w: string[]) => w.filter((x) => x.includes('is not above'));
    expect(order(planWarnings(resolveScenario()))).toEqual([]);
    const slow = resolveScenario({ heartbeatTimeout: '60s' });
    expect(order(planWarnings(slow))).toHaveLength(1);
    expect(order(planWarnings(slow))[0]).toMatch(/^--checkpoint-timeout/);
  });
});
