// Sealed COLO messages (src/wire/sealed-message.ts): what opens, and everything that must not — every
// single-character change, a wrong key, another VM, a header that lies about its body — refused before the
// body is parsed.
import { describe, expect, it } from 'vitest';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';
import { serializeMessage } from '../../../src/wire/message-schema.ts';
import { deriveVmKey, keySetOf, seedKeySet } from '../../../src/wire/replication-key.ts';
import {
  MAX_SEALED_HEADER_CHARS,
  MAX_SEALED_MESSAGE_CHARS,
  openMessage,
  readSealedHeader,
  sealMessage,
  sealMessageBody,
} from '../../../src/wire/sealed-message.ts';

const VM = 'vm-7';
const keys = seedKeySet(3, VM);
const delta: ColoMessage = {
  v: 1,
  vmId: VM,
  epoch: 4,
  seq: 17,
  type: 'delta',
  kind: 'background-ram',
  round: 2,
  claim: { key: `${VM}/4/17-background-ram`, size: 4196, sha256: 'ab'.repeat(32) },
};

describe('sealed messages', () => {
  it('seal → open gives back the exact body; the header names key, VM, epoch, seq and type', () => {
    const text = sealMessage(keys.signing, delta);
    const [line, body] = [text.slice(0, text.indexOf('\n')), text.slice(text.indexOf('\n') + 1)];
    expect(line).toMatch(new RegExp(`^COLO1 ${keys.signing.id} vm-7 4 17 delta [A-Za-z0-9_-]{43}$`));
    expect(body).toBe(serializeMessage(delta));
    expect(openMessage(keys, text)).toEqual({
      ok: true,
      header: { keyId: keys.signing.id, vmId: VM, epoch: 4, seq: 17, type: 'delta' },
      body,
    });
    expect(readSealedHeader(text)?.seq).toBe(17);
  });

  it('is not JSON, so a channel that re-serialises JSON bodies leaves it alone', () => {
    expect(() => JSON.parse(sealMessage(keys.signing, delta))).toThrow();
  });

  it('refuses every single-character change of the header and the body', () => {
    const text = sealMessage(keys.signing, delta);
    let refused = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      const changed = text.slice(0, i) + String.fromCharCode(c === 0x30 ? 0x31 : c ^ 1) + text.slice(i + 1);
      const r = openMessage(keys, changed);
      expect(r.ok, `change at ${i}`).toBe(false);
      refused++;
    }
    expect(refused).toBe(text.length);
    // Removing or adding a byte anywhere is refused too.
    for (let i = 0; i < text.length; i += 7) {
      expect(openMessage(keys, text.slice(0, i) + text.slice(i + 1)).ok).toBe(false);
      expect(openMessage(keys, `${text.slice(0, i)} ${text.slice(i)}`).ok).toBe(false);
    }
  });

  it('refuses a message sealed with another key (unknown id), for another VM, or not sealed at all', () => {
    const other = deriveVmKey('another deployment secret of enough bytes', VM);
    const foreign = openMessage(keys, sealMessage(other, delta));
    expect(foreign).toMatchObject({ ok: false, failure: 'unknown-key' });
    const otherVm = sealMessage(seedKeySet(3, 'vm-8').signing, { ...delta, vmId: 'vm-8' });
    expect(openMessage(keys, otherVm)).toMatchObject({ ok: false, failure: 'wrong-vm' });
    expect(openMessage(keys, serializeMessage(delta))).toMatchObject({ ok: false, failure: 'not-sealed' });
    expect(openMessage(keys, '')).toMatchObject({ ok: false, failure: 'not-sealed' });
    expect(openMessage(keys, 42 as unknown as string)).toMatchObject({ ok: false, failure: 'not-sealed' });
  });

  it('refuses a known key id with a forged MAC (the id is public; the MAC is not)', () => {
    const text = sealMessage(keys.signing, delta);
    const forgedMac = `${text.slice(0, text.indexOf('\n') - 43)}${'A'.repeat(43)}${text.slice(text.indexOf('\n'))}`;
    expect(openMessage(keys, forgedMac)).toMatchObject({ ok: false, failure: 'bad-mac' });
  });

  it('refuses an authentic header that does not describe its body', () => {
    const body = serializeMessage(delta);
    const lying = sealMessageBody(keys.signing, { vmId: VM, epoch: 4, seq: 18, type: 'delta' }, body);
    expect(openMessage(keys, lying)).toMatchObject({ ok: false, failure: 'header-mismatch' });
    // Authentic text that is not JSON opens: the schema downstream refuses it in its own words.
    const text = sealMessageBody(keys.signing, { vmId: VM, epoch: 0, seq: 0, type: 'heartbeat' }, 'not json');
    expect(openMessage(keys, text)).toMatchObject({ ok: true, body: 'not json' });
  });

  it('reads at most a bounded header: a long first line or an oversized text is refused unread', () => {
    const longLine = `COLO1 ${'x'.repeat(MAX_SEALED_HEADER_CHARS)}\n{}`;
    expect(openMessage(keys, longLine)).toMatchObject({ ok: false, failure: 'not-sealed' });
    const huge = `${sealMessage(keys.signing, delta)}${' '.repeat(MAX_SEALED_MESSAGE_CHARS)}`;
    expect(openMessage(keys, huge)).toMatchObject({ ok: false, failure: 'too-large' });
    expect(
      openMessage(
        keys,
        'COLO1 00000000 vm-7 4294967296 0 delta AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n{}',
      ),
    ).toMatchObject({
      ok: false,
      failure: 'not-sealed',
    });
  });

  it('opens with the previous key during a rotation, and seals with the current one', () => {
    const oldSecret = 'the secret before the rotation, 32+ bytes';
    const newSecret = 'the secret after the rotation, also 32+ bytes';
    const before = sealMessage(keySetOf(VM, oldSecret).signing, delta);
    const rotated = keySetOf(VM, newSecret, oldSecret);
    expect(rotated.signing.id).toBe(deriveVmKey(newSecret, VM).id);
    expect(openMessage(rotated, before).ok).toBe(true);
    expect(openMessage(keySetOf(VM, newSecret), before)).toMatchObject({ ok: false, failure: 'unknown-key' });
  });
});
