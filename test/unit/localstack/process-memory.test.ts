import { describe, expect, it } from 'vitest';
import { localEndpointUrl } from '../../../src/runtime/localstack/aws.ts';
import { FUNCTION_PROCESS_MARK, peakOf, sampleTree } from '../../../src/runtime/localstack/process-memory.ts';

const proc = (pid: number, ppid: number, rssMiB: number, cmd: string) => ({
  pid,
  ppid,
  rssKiB: rssMiB * 1024,
  cmd,
});

describe('sampleTree', () => {
  const procs = [
    proc(10, 1, 500, 'python -m localstack.runtime.main'),
    proc(11, 10, 20, 'python helper'),
    proc(12, 10, 100, `node ${FUNCTION_PROCESS_MARK}.mjs`),
    proc(13, 10, 150, `node ${FUNCTION_PROCESS_MARK}.mjs`),
    // Another LocalStack's function process (another engineer's port): not ours.
    proc(20, 1, 600, 'python -m localstack.runtime.main'),
    proc(21, 20, 999, `node ${FUNCTION_PROCESS_MARK}.mjs`),
  ];

  it('counts only the tree under our LocalStack, function processes apart', () => {
    expect(sampleTree(10, procs)).toEqual({
      localstackMiB: 520,
      functions: { count: 2, totalMiB: 250, maxMiB: 150 },
    });
  });

  it('is all zeros without a root, and peaks field by field', () => {
    const zero = sampleTree(undefined, procs);
    expect(zero).toEqual({ localstackMiB: 0, functions: { count: 0, totalMiB: 0, maxMiB: 0 } });
    expect(sampleTree(99, procs)).toEqual(zero);
    expect(
      peakOf(sampleTree(10, procs), {
        localstackMiB: 900,
        functions: { count: 1, totalMiB: 10, maxMiB: 300 },
      }),
    ).toEqual({ localstackMiB: 900, functions: { count: 2, totalMiB: 250, maxMiB: 300 } });
  });
});

describe('localEndpointUrl', () => {
  it('follows LOCALSTACK_PORT, else 4566, and refuses a port that is not one', () => {
    expect(localEndpointUrl({})).toBe('http://127.0.0.1:4566');
    expect(localEndpointUrl({ LOCALSTACK_PORT: '4598' })).toBe('http://127.0.0.1:4598');
    expect(() => localEndpointUrl({ LOCALSTACK_PORT: '70000' })).toThrow(
      /LOCALSTACK_PORT must be a TCP port/,
    );
    expect(() => localEndpointUrl({ LOCALSTACK_PORT: 'x' })).toThrow(/got "x"/);
  });
});
