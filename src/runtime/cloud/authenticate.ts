/**
 * Authenticating inbound channel messages before anything else: every body is opened
 * (src/wire/sealed-message.ts) — bounded header, VM id, key id, MAC over the exact bytes — before it is
 * parsed and before any state is read. A body that fails never reaches an invocation: it is refused as
 * `unauthenticated` and changes nothing.
 */
import { ColoError } from '../../engine/errors.ts';
import type { ColoMessage } from '../../engine/protocol/messages.ts';
import {
  type OpenedMessage,
  openMessage,
  type SealedHeader,
  type SealFailure,
  sealMessage,
} from '../../wire/sealed-message.ts';
import type { Keyring } from './keyring.ts';

/** One inbound body after authentication. */
export type AuthenticatedBody =
  /** Authentic: the message body (JSON text) to hand to the node. */
  | { ok: true; body: string; header: SealedHeader }
  /**
   * Refused: `error` is the `unauthenticated` rejection, `failure` says which check failed, `claimed` is
   * what the (unverified) header said, for the logs. `deferred`: the body names a key id the keyring
   * could not load again just now — it may be sealed with a freshly rotated key, so deliver it again
   * instead of refusing it (a later load decides).
   */
  | { ok: false; error: ColoError; failure: SealFailure; claimed?: SealedHeader; deferred?: boolean };

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
 * Opens `bodies` with the keyring's keys. Bodies sealed with a key id the keyring does not know make it
 * reload (rate-limited: a rotation is learnt at the first message of the new key) and are opened again.
 * When no reload could be made just now, such a body comes back `deferred` (deliver again) only if it was
 * sent after the keyring's last successful load (`sentAt`, ms; unknown counts as after): a key sealed
 * with before that load would be among the loaded ones (the current and the previous version), so an
 * older body naming an unknown key is a forgery — or two rotations old — and is refused at once. (Else a
 * stream of forgeries naming made-up key ids would hold the VM's FIFO group one reload interval per batch.)
 *
 * @throws KeyringUnavailableError when there are no keys at all (nothing can be judged: deliver again).
 */
export async function authenticateBodies(
  keyring: Keyring,
  bodies: readonly string[],
  sentAt: readonly (number | undefined)[] = [],
): Promise<AuthenticatedBody[]> {
  let keys = await keyring.keys();
  const opened = bodies.map((b) => openMessage(keys, b));
  const unknown = (o: OpenedMessage): boolean => !o.ok && o.failure === 'unknown-key';
  if (!opened.some(unknown)) return opened.map(authenticated);
  const reload = await keyring.refresh();
  if (reload === 'skipped' || reload === 'failed') {
    const loadedAt = keyring.loadedAt;
    const fresh = (i: number): boolean => !((sentAt[i] ?? Number.POSITIVE_INFINITY) < loadedAt);
    return opened.map((o, i) =>
      unknown(o) && fresh(i)
        ? ({ ...authenticated(o), deferred: true } as AuthenticatedBody)
        : authenticated(o),
    );
  }
  keys = await keyring.keys();
  for (const [i, o] of opened.entries()) if (unknown(o)) opened[i] = openMessage(keys, bodies[i] as string);
  return opened.map(authenticated);
}

/**
 * A channel body encoder that seals: the message's schema-checked body under the keyring's current key
 * (`SqsChannel`'s and `MemoryChannel`'s `serialize` option).
 *
 * @throws KeyringUnavailableError when there are no keys; WireError for a message the schema refuses.
 */
export function sealingSerializer(keyring: Keyring): (message: ColoMessage) => Promise<string> {
  return async (message) => sealMessage((await keyring.keys()).signing, message);
}
