/**
 * Resident memory of one LocalStack and of the function processes it started (the host-node executor's
 * environments are its descendants), read from /proc. Other LocalStacks on the machine (other ports,
 * other engineers) are not counted: only the process tree under the one listening on our port.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** A memory sample, MiB. */
export interface MemorySample {
  /** LocalStack's own process tree, function processes excluded. */
  localstackMiB: number;
  /** Function processes (host-node executor environments) under it: how many, their sum and the largest. */
  functions: { count: number; totalMiB: number; maxMiB: number };
}

/** Command-line mark of a host-node executor environment (localstack/executor). */
export const FUNCTION_PROCESS_MARK = 'colo_localstack_executor/bootstrap';

interface Proc {
  pid: number;
  ppid: number;
  rssKiB: number;
  cmd: string;
}

function readProcs(): Proc[] {
  const out: Proc[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ');
      out.push({
        pid: Number(d),
        ppid: Number(/PPid:\s+(\d+)/.exec(status)?.[1] ?? 0),
        rssKiB: Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0),
        cmd,
      });
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** Pid of the process listening on 127.0.0.1:`port`, or undefined (not found or `ss` missing). */
export function listenerPid(port: number): number | undefined {
  try {
    const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
    const pid = /pid=(\d+)/.exec(out)?.[1];
    return pid ? Number(pid) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Splits the process tree under `rootPid` into LocalStack and function processes (by
 * {@link FUNCTION_PROCESS_MARK}). A missing root is all zeros.
 */
export function sampleTree(rootPid: number | undefined, procs: readonly Proc[] = readProcs()): MemorySample {
  const sample: MemorySample = { localstackMiB: 0, functions: { count: 0, totalMiB: 0, maxMiB: 0 } };
  if (rootPid === undefined) return sample;
  const children = new Map<number, Proc[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const root = procs.find((p) => p.pid === rootPid);
  const stack = root ? [root] : [];
  while (stack.length > 0) {
    const p = stack.pop() as Proc;
    const mib = p.rssKiB / 1024;
    if (p.cmd.includes(FUNCTION_PROCESS_MARK)) {
      sample.functions.count++;
      sample.functions.totalMiB += mib;
      sample.functions.maxMiB = Math.max(sample.functions.maxMiB, mib);
    } else {
      sample.localstackMiB += mib;
    }
    stack.push(...(children.get(p.pid) ?? []));
  }
  return sample;
}

/** Memory of the LocalStack listening on `port` and of its function processes, now. */
export function sampleLocalStack(port: number): MemorySample {
  return sampleTree(listenerPid(port));
}

/** The larger of two samples, field by field (a run's peak). */
export function peakOf(a: MemorySample, b: MemorySample): MemorySample {
  return {
    localstackMiB: Math.max(a.localstackMiB, b.localstackMiB),
    functions: {
      count: Math.max(a.functions.count, b.functions.count),
      totalMiB: Math.max(a.functions.totalMiB, b.functions.totalMiB),
      maxMiB: Math.max(a.functions.maxMiB, b.functions.maxMiB),
    },
  };
}
