/**
 * Test-only Lambda entry of `secondary-apply` for conformance stacks (context `virtualClock=allow`): the production
 * handler (../secondary-apply.ts), and also the default-off virtual-clock event that replays an embedded run's
 * steps inside the function (./virtual-clock.ts). Production stacks deploy ../secondary-apply.ts, which never
 * imports the replay code.
 */
import { ENV } from '../../adapters/contract.ts';
import { secondaryApplyDepsFromEnv } from '../common/deps.ts';
import { fleetHandler } from '../common/fleet-entry.ts';
import { createSecondaryApplyHandler } from '../secondary-apply.ts';
import { withVirtualClock } from './virtual-clock.ts';

/** Lambda entry point: secondary-apply's handler, wrapped to answer virtual-clock events when enabled. */
export const handler = fleetHandler(
  'secondary-apply',
  { kind: 'channel', dlqVariable: ENV.p2sDlqUrl },
  (env) => {
    const deps = secondaryApplyDepsFromEnv(env);
    return withVirtualClock(createSecondaryApplyHandler(deps), deps, 'secondary', env);
  },
);
