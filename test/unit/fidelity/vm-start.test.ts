import { describe, expect, it } from 'vitest';
import { parseVcpuResumes, summariseVmStart, vmStartRuns } from '../../../src/fidelity/vm-start.ts';
import { sideCheckpoint } from './side-checkpoint.ts';

/** A trace line of QEMU's log backend at `ms` since the epoch (µs resolution). */
function at(ms: number, rest: string): string {
  const s = Math.floor(ms / 1000);
  const us = Math.round((ms - s * 1000) * 1000);
  return `4242@${s}.${String(us).padStart(6, '0')}:${rest}`;
}

describe('the vCPU run inside vm_start, from the primary trace', () => {
  const T = 1_796_084_000_000;
  const log = [
    at(T + 10, 'vm_state_notify running 1 reason 9 (running)'),
    at(T + 12, "colo_vm_state_change Change 'stop' => 'run'"),
    at(T + 50, 'vm_state_notify running 0 reason 15 (colo)'),
    at(T + 120.5, 'vm_state_notify running 1 reason 9 (running)'),
    at(T + 124.25, "colo_vm_state_change Change 'stop' => 'run'"),
    'qemu-system-x86_64: some other output',
    at(T + 200, 'vm_state_notify running 1 reason 9 (running)'),
  ].join('\n');

  it('reads the resume notifies (running 1 only), in time order, ms', () => {
    expect(parseVcpuResumes(log)).toEqual([T + 10, T + 120.5, T + 200]);
  });

  it('gives each checkpoint the notify inside its pause, to its traced resume', () => {
    const c = sideCheckpoint({
      requestAt: T + 40,
      stopAt: T + 50,
      replyAt: T + 49,
      receivedAt: T + 80,
      runAt: T + 124.25,
    });
    // The notify at T+10 is before the stop (the previous resume's): not this checkpoint's.
    expect(vmStartRuns([c], parseVcpuResumes(log))).toEqual([3.75]);
  });

  it('leaves out a checkpoint whose pause holds no notify (a trace recorded without the event)', () => {
    const c = sideCheckpoint({
      requestAt: T + 130,
      stopAt: T + 131,
      replyAt: T + 131,
      receivedAt: T + 150,
      runAt: T + 190,
    });
    expect(vmStartRuns([c], parseVcpuResumes(log))).toEqual([]);
    expect(summariseVmStart([])).toBeUndefined();
  });

  it('summarises median, mean and the share over 1 ms', () => {
    expect(summariseVmStart([0.03, 0.03, 0.05, 3.7])).toEqual({
      resumes: 4,
      medianMs: 0.04,
      meanMs: (0.03 + 0.03 + 0.05 + 3.7) / 4,
      longShare: 0.25,
    });
  });
});
