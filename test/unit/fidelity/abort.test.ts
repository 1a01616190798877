import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { onAbort, runAbortUndos } from '../../../src/fidelity/abort.ts';

/** Whether a process of that pid is alive (a zombie not yet reaped is not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(what: string, done: () => boolean): Promise<void> {
  const limit = Date.now() + 60_000;
  while (!done()) {
    if (Date.now() > limit) throw new Error(`${what}: not reached`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('undoing on abort', () => {
  afterEach(() => runAbortUndos());

  it('runs the registered undos latest first, each once, past one that throws', () => {
    const ran: string[] = [];
    onAbort(() => ran.push('route'));
    onAbort(() => {
      ran.push('throws');
      throw new Error('already gone');
    });
    const off = onAbort(() => ran.push('released earlier'));
    onAbort(() => ran.push('pair'));
    off();
    runAbortUndos();
    runAbortUndos();
    expect(ran).toEqual(['pair', 'throws', 'route']);
  });

  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`on ${signal} to the process alone, kills what it spawned and releases the route before exiting ${code}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'abort-test-'));
      const log = join(dir, 'log');
      const text = () => {
        try {
          return readFileSync(log, 'utf8');
        } catch {
          return '';
        }
      };
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'abort-child.ts'), log],
        {
          stdio: 'ignore',
        },
      );
      const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      await until('the child holds its sleeper', () => /sleeper \d+/.test(text()));
      const pid = Number(/sleeper (\d+)/.exec(text())?.[1]);
      expect(alive(pid)).toBe(true);
      // The signal to the node process alone (a supervisor's kill), not to its process group.
      child.kill(signal);
      expect(await exited).toBe(code);
      await until('the sleeper is gone', () => !alive(pid));
      expect(text()).toContain('route released\nwork removed\n');
      expect(text()).not.toContain('unregistered undo ran');
      rmSync(dir, { recursive: true, force: true });
    }, 90_000);
  }
});
