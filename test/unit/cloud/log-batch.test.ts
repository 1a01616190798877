import { describe, expect, test } from 'vitest';
import { LEAN_INVOCATION, logDue } from '../../../src/runtime/cloud/index.ts';
import type { LogRecord } from '../../../src/runtime/cloud/log-record.ts';

const check = (n: number, at: number) =>
  ({
    n,
    at,
    node: 'primary',
    type: 'pending-check',
    data: { at, pendingBytes: 0, decision: 'none' },
  }) as LogRecord;

describe('log batches (InvocationOptions.logBatch)', () => {
  const batch = { records: 3, maxAgeMs: 10_000 };
  test('routine records wait until the batch is full or the oldest is old enough', () => {
    expect(logDue([], batch, 0)).toBe(false);
    expect(logDue([check(1, 0), check(2, 1000)], batch, 2000)).toBe(false);
    expect(logDue([check(1, 0), check(2, 1000), check(3, 2000)], batch, 2000)).toBe(true);
    expect(logDue([check(1, 0)], batch, 10_000)).toBe(true);
  });

  test('any other record appends at once, with the routine ones before it', () => {
    const round = { ...check(2, 1000), type: 'round' } as unknown as LogRecord;
    expect(logDue([check(1, 0), round], batch, 1000)).toBe(true);
  });

  test('the default appends every record at once; the deployed functions batch 30 or 30 s', () => {
    expect(logDue([check(1, 0)], { records: 1, maxAgeMs: 0 }, 0)).toBe(true);
    expect(LEAN_INVOCATION.logBatch).toEqual({ records: 30, maxAgeMs: 30_000 });
  });
});
