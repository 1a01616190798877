import { execFileSync } from 'node:child_process';

/**
 * The loopback address the link meter listens on and the primary connects from: a host route of its own in
 * the `local` table with `quickack` on, so the meter acknowledges the primary's bytes at once.
 *
 * Why: QEMU's sockets keep Nagle on, and Linux delays an ACK by at least 40 ms. When the epoch's last
 * sub-MSS write found bytes of the same epoch not yet acknowledged, it waited for the meter's delayed ACK —
 * ~43 ms on top of the pause, in anything from none to more than half of a size's checkpoints, so a size's
 * median sat on one mode or the other from run to run (2026-12-01 19:12: 4 096 pages at 106.5 ms against
 * 63.5 ms the run before). That wait is the interplay of two TCP timers on loopback, not COLO's work, and the
 * engine does not model it. The route touches only connections to this address (nothing else on the host
 * uses it) and is removed when the run ends. The return path keeps delayed ACKs: its wait
 * (`vmstate-loaded` behind the meter's ACK of `vmstate-received`) comes in every checkpoint alike and is part
 * of the profile's device load.
 */
export const RELAY_ADDRESS = '127.0.83.1';

/** What the run's relay listens on and whether its acknowledgements go at once. */
export interface RelayAck {
  /** The address the meter listens on (and QEMU's `migrate` names). */
  host: string;
  /** The route with `quickack` is in place: the meter acknowledges at once. */
  quickAck: boolean;
  /** One line for the log and the report: how, or why not. */
  note: string;
  /** Removes the route this set up (idempotent; nothing when none was set). */
  release(): void;
}

/** Runs a command; throws with its stderr's last line. */
export type RunCommand = (cmd: string, args: readonly string[]) => void;

/** `ip route` arguments that add (`replace`: a route left by a killed run is taken over) or delete the route. */
export function relayRouteArgs(op: 'replace' | 'del', address: string = RELAY_ADDRESS): string[] {
  const route = ['route', op, 'local', `${address}/32`, 'dev', 'lo', 'table', 'local'];
  // `src`: the primary's end takes this address too, so the meter's accepted socket routes by it.
  return op === 'replace' ? [...route, 'src', address, 'quickack', '1'] : route;
}

const runIp: RunCommand = (cmd, args) => {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error((err.stderr || err.message).trim().split('\n').pop() ?? err.message);
  }
};

/**
 * Sets up the relay's quick acknowledgements (needs `CAP_NET_ADMIN`: root, as the run's apt install). Where
 * the route cannot be set, the meter listens on 127.0.0.1 with delayed ACKs as before, and `note` says why:
 * the run goes on, its pause may then carry the ~43 ms holds (the report counts them).
 */
export function setUpRelayAck(run: RunCommand = runIp): RelayAck {
  try {
    run('ip', relayRouteArgs('replace'));
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return {
      host: '127.0.0.1',
      quickAck: false,
      note: `delayed ACKs: the quickack route to ${RELAY_ADDRESS} could not be set (ip: ${why})`,
      release: () => {},
    };
  }
  let released = false;
  return {
    host: RELAY_ADDRESS,
    quickAck: true,
    note: `quick ACKs: ${RELAY_ADDRESS} routed with quickack (removed after the run)`,
    release: () => {
      if (released) return;
      released = true;
      try {
        run('ip', relayRouteArgs('del'));
      } catch {
        // Already gone: nothing of ours is left.
      }
    },
  };
}
