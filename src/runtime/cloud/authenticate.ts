/**
 * Authenticating inbound channel messages before anything else: every body is opened
 * (src/wire/sealed-message.ts) — bounded header, VM id, key id, MAC over the exact bytes — before it is
 * parsed and before any state is read. A body that fails never reaches an invocation: it is refused as
 * `unauthenticated` and changes nothing.
 */
import { ColoError } from '../../engine/errors.ts';
import {
  type OpenedMessage,
  openMessage,
  type SealedHeader,
  type SealFailure,
} from '../../wire/sealed-message.ts';
import type { Keyring } from './keyring.ts';

/** One inbound body after authentication. */
export type AuthenticatedBody =
  /** Authentic: the message body (JSON text) to hand to the node. */
  | { ok: true; body: string; header: SealedHeader }
  /**
   * Refused: `error` is the `unauthenticated` rejection, `failure` says which check failed, `claimed` is
   * what the (unverified) header said, for the logs.
   */
  | { ok: false; error: ColoError; failure: SealFailure; claimed?: SealedHeader };

function authenticated(opened: OpenedMessage): AuthenticatedBody {
  if (opened.ok) return { ok: true, body: opened.body, header: opened.header };
  return {
    ok: false,
    error: new ColoError(
      'unauthenticated',
      `message refused before parsing: ${opened.failure}: ${opened.reason}`,
    ),
    failure: opened.failure,
    ...(opened.header ? { claimed: opened.header } : {}),
  };
}

/**
 * Opens `bodies` with the keyring's keys; bodies sealed with a key id the keyring does not know make it
 * reload once (rate-limited: a rotation is learnt at the first message of the new key) and are opened
 * again.
 *
 * @throws KeyringUnavailableError when there are no keys at all (nothing can be judged: deliver again).
 */
export async function authenticateBodies(
  keyring: Keyring,
  bodies: readonly string[],
): Promise<AuthenticatedBody[]> {
  let keys = await keyring.keys();
  const opened = bodies.map((b) => openMessage(keys, b));
  if (opened.some((o) => !o.ok && o.failure === 'unknown-key') && (await keyring.refresh())) {
    keys = await keyring.keys();
    for (const [i, o] of opened.entries()) {
      if (!o.ok && o.failure === 'unknown-key') opened[i] = openMessage(keys, bodies[i] as string);
    }
  }
  return opened.map(authenticated);
}
