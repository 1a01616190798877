import { describe, expect, it } from 'vitest';
import {
  backToBackPages,
  parseVcpuResumes,
  resumeRuns,
  summariseVmStart,
  vmStartRuns,
} from '../../../src/fidelity/vm-start.ts';
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
    expect(resumeRuns([c], parseVcpuResumes(log))).toEqual([{ runAt: T + 124.25, runMs: 3.75 }]);
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

  it('counts the pages of the epochs after back-to-back starts only (request within 2 ms of the resume)', () => {
    const c = (requestAt: number, runAt: number) =>
      sideCheckpoint({
        requestAt,
        stopAt: requestAt + 1,
        replyAt: requestAt + 1,
        receivedAt: runAt - 5,
        runAt,
      });
    // 0: first; 1: waits 30 ms; 2: back-to-back (0.5 ms); 3: back-to-back (0 ms); 4: waits 2 ms (not back-to-back).
    const cs = [c(0, 120), c(150, 260), c(260.5, 380), c(380, 500), c(502, 600)];
    const pages = [4096, 4096, 1000, 4096, 7];
    expect(backToBackPages(cs, (i) => pages[i], 4096)).toEqual({ n: 2, meanPages: 2548, full: 1 });
    // Unmeasured epochs are left out; none at all is no mean.
    expect(backToBackPages(cs, (i) => (i === 2 ? undefined : pages[i]), 4096)).toEqual({
      n: 1,
      meanPages: 4096,
      full: 1,
    });
    expect(backToBackPages(cs, () => undefined, 4096).meanPages).toBeNaN();
  });
});
