import { connect, type Socket } from 'node:net';

/** A QMP event as QEMU sends it. */
export interface QmpEvent {
  /** Event name (`COLO_EXIT`, `MIGRATION`, …). */
  event: string;
  /** Its data. */
  data?: Record<string, unknown>;
  /** When QEMU emitted it, ms since the Unix epoch. */
  at: number;
}

/**
 * A minimal QMP client over a Unix socket: one command at a time, events collected as they come. Every
 * wait has a deadline; a socket that closes fails the command in flight.
 */
export class Qmp {
  readonly events: QmpEvent[] = [];
  private buffer = '';
  private pending: { resolve: (v: unknown) => void; reject: (e: Error) => void } | undefined;
  private closed: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('QMP socket closed')));
  }

  /** Connects to `path`, retrying until `timeoutMs` while QEMU creates the socket, and leaves greeting mode. */
  static async open(path: string, timeoutMs: number): Promise<Qmp> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((res, rej) => {
          const s = connect(path, () => res(s));
          s.once('error', rej);
        });
        const qmp = new Qmp(socket);
        await qmp.execute('qmp_capabilities');
        return qmp;
      } catch (e) {
        if (Date.now() > until)
          throw new Error(`QMP at ${path} did not answer in ${timeoutMs} ms: ${String(e)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Runs one command and returns its `return` value; a QMP error becomes an exception naming the command. */
  execute(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.pending) return Promise.reject(new Error(`QMP: ${command} sent while a command is in flight`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        reject(new Error(`QMP: ${command} got no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(new Error(`QMP ${command}: ${e.message}`));
        },
      };
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) })}\n`);
    });
  }

  /** Waits for an event named `name` (one already received counts), up to `timeoutMs`. */
  async waitEvent(name: string, timeoutMs: number): Promise<QmpEvent> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find((x) => x.event === name);
      if (e) return e;
      if (this.closed) throw new Error(`QMP closed before event ${name}`);
      if (Date.now() > until) throw new Error(`no ${name} event in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Closes the connection. */
  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(JSON.parse(line) as Record<string, unknown>);
    }
  }

  private onMessage(m: Record<string, unknown>): void {
    if (typeof m.event === 'string') {
      const ts = m.timestamp as { seconds: number; microseconds: number } | undefined;
      const at = ts ? ts.seconds * 1000 + ts.microseconds / 1000 : Date.now();
      this.events.push({
        event: m.event,
        at,
        ...(m.data ? { data: m.data as Record<string, unknown> } : {}),
      });
      return;
    }
    const p = this.pending;
    if (!p || 'QMP' in m) return;
    this.pending = undefined;
    if ('error' in m) p.reject(new Error(JSON.stringify(m.error)));
    else p.resolve(m.return);
  }

  private fail(e: Error): void {
    this.closed ??= e;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(e);
  }
}
