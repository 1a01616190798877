/** Ctrl-C (src/cli/sigint.ts): one key press relayed twice by npm/npx is one interrupt; a later one quits. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { onQuit, onSigint, onStopSignals, SAME_CTRL_C_MS } from '../../../src/cli/sigint.ts';

describe('onSigint', () => {
  let off: (() => void) | undefined;
  afterEach(() => {
    off?.();
    vi.restoreAllMocks();
  });

  it('a SIGINT relayed 36 ms after the terminal one stops the run once and does not quit', () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    let t = 0;
    const handler = vi.fn();
    off = onSigint(handler, () => t);
    process.emit('SIGINT');
    t = 36;
    process.emit('SIGINT');
    expect(handler).toHaveBeenCalledTimes(1);
    expect(exit).not.toHaveBeenCalled();
  });

  it('a second Ctrl-C after the window quits with 130', () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    let t = 0;
    const handler = vi.fn();
    off = onSigint(handler, () => t);
    process.emit('SIGINT');
    t = SAME_CTRL_C_MS + 1;
    process.emit('SIGINT');
    expect(handler).toHaveBeenCalledTimes(1);
    expect(exit).toHaveBeenCalledWith(130);
  });

  it('a quit prints the registered notes first (what is left running, and how to stop it)', () => {
    const order: string[] = [];
    vi.spyOn(process, 'exit').mockImplementation(
      ((code: number) => void order.push(`exit ${code}`)) as never,
    );
    vi.spyOn(process.stderr, 'write').mockImplementation((t) => {
      order.push(String(t));
      return true;
    });
    let t = 0;
    off = onSigint(
      () => {},
      () => t,
    );
    const offNote = onQuit(() => 'execution X may still be running; stop it with: aws …');
    const offQuiet = onQuit(() => undefined);
    process.emit('SIGINT');
    t = SAME_CTRL_C_MS + 1;
    process.emit('SIGINT');
    offNote();
    offQuiet();
    expect(order).toEqual(['colo: execution X may still be running; stop it with: aws …\n', 'exit 130']);
  });
});

describe('onStopSignals', () => {
  let off: (() => void) | undefined;
  afterEach(() => {
    off?.();
    vi.restoreAllMocks();
  });

  it('names the signal: SIGINT, then SIGTERM; a relayed SIGTERM is the same one, a later one quits with 143', () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const handler = vi.fn();
    let t = 0;
    off = onStopSignals(handler, () => t);
    process.emit('SIGINT');
    process.emit('SIGTERM');
    expect(handler.mock.calls).toEqual([['SIGINT'], ['SIGTERM']]);
    // The wrapper's relay of a SIGTERM sent to the process group: the clean-up goes on.
    t = 36;
    process.emit('SIGTERM');
    expect(handler).toHaveBeenCalledTimes(2);
    expect(exit).not.toHaveBeenCalled();
    t = SAME_CTRL_C_MS + 1;
    process.emit('SIGTERM');
    expect(exit).toHaveBeenCalledWith(143);
  });

  it('its removal removes both listeners', () => {
    const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    const remove = onStopSignals(() => {});
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual(
      before.map((n) => n + 1),
    );
    remove();
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual(before);
  });
});
