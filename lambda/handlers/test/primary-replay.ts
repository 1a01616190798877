/**
 * Test-only Lambda entry of `primary` for conformance stacks (context `virtualClock=allow`): the production
 * handler (../primary.ts), and also the default-off virtual-clock event that replays an embedded run's
 * steps inside the function (./virtual-clock.ts). Production stacks deploy ../primary.ts, which never
 * imports the replay code.
 */
import { lazyHandler, primaryConsumerDepsFromEnv } from '../common/deps.ts';
import { createPrimaryHandler } from '../primary.ts';
import { withVirtualClock } from './virtual-clock.ts';

/** Lambda entry point: primary's handler, wrapped to answer virtual-clock events when enabled. */
export const handler = lazyHandler(() => {
  const deps = primaryConsumerDepsFromEnv();
  return withVirtualClock(createPrimaryHandler(deps), deps, 'primary');
});
