// Replication keys (src/wire/replication-key.ts): derivation per VM, ids, bounds, and that a key never shows
// its bytes in JSON or in util.inspect (so it cannot end up in a log line).
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  deriveVmKey,
  KEY_ID_PATTERN,
  keySetOf,
  ReplicationKey,
  ReplicationSecretError,
  seedKeySet,
} from '../../../src/wire/replication-key.ts';

const SECRET = 'x'.repeat(64);

describe('replication keys', () => {
  it('derives one key per VM from one secret, deterministically', () => {
    const a = deriveVmKey(SECRET, 'vm-a');
    expect(deriveVmKey(SECRET, 'vm-a').id).toBe(a.id);
    expect(deriveVmKey(SECRET, 'vm-b').id).not.toBe(a.id);
    expect(deriveVmKey(`${SECRET}y`, 'vm-a').id).not.toBe(a.id);
    expect(a.id).toMatch(KEY_ID_PATTERN);
    expect(a.verify(a.mac('m'), 'm')).toBe(true);
    expect(deriveVmKey(SECRET, 'vm-b').verify(a.mac('m'), 'm')).toBe(false);
    expect(a.verify(new Uint8Array(31), 'm')).toBe(false);
  });

  it('refuses secrets that are too short or too long and VM ids outside the wire pattern', () => {
    expect(() => deriveVmKey('short', 'vm-a')).toThrow(ReplicationSecretError);
    expect(() => deriveVmKey('x'.repeat(5000), 'vm-a')).toThrow(/32–4096 bytes, got 5000/);
    expect(() => deriveVmKey(SECRET, 'VM A')).toThrow(RangeError);
    expect(() => new ReplicationKey(new Uint8Array(16))).toThrow(RangeError);
  });

  it('never shows key bytes: JSON and inspect show the id only', () => {
    const k = deriveVmKey(SECRET, 'vm-a');
    const set = keySetOf('vm-a', SECRET);
    expect(JSON.stringify(set)).toBe(
      JSON.stringify({ vmId: 'vm-a', signing: { keyId: k.id }, accepted: [{ keyId: k.id }] }),
    );
    expect(inspect(set, { depth: 5, showHidden: true })).not.toMatch(/[0-9a-f]{64}|Buffer|Uint8Array/);
  });

  it('accepts the previous key during a rotation, once', () => {
    expect(keySetOf('vm-a', SECRET, `${SECRET}!`).accepted).toHaveLength(2);
    expect(keySetOf('vm-a', SECRET, SECRET).accepted).toHaveLength(1);
    expect(seedKeySet(1, 'vm-a').signing.id).not.toBe(seedKeySet(2, 'vm-a').signing.id);
  });
});
