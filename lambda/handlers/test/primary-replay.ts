/**
 * Test-only Lambda entry of `primary` for conformance stacks (context `virtualClock=allow`): the production
 * handler (../primary.ts), and also the default-off virtual-clock event that replays an embedded run's
 * steps inside the function (./virtual-clock.ts). Production stacks deploy ../primary.ts, which never
 * imports the replay code.
 */
import { ENV } from '../../adapters/contract.ts';
import { primaryConsumerDepsFromEnv } from '../common/deps.ts';
import { fleetHandler } from '../common/fleet-entry.ts';
import { createPrimaryHandler } from '../primary.ts';
import { withVirtualClock } from './virtual-clock.ts';

/** Lambda entry point: primary's handler, wrapped to answer virtual-clock events when enabled. */
export const handler = fleetHandler('primary', { kind: 'channel', dlqVariable: ENV.s2pDlqUrl }, (env) => {
  const deps = primaryConsumerDepsFromEnv(env);
  return withVirtualClock(createPrimaryHandler(deps), deps, 'primary', env);
});
