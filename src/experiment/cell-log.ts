/**
 * cells.jsonl: one JSON line per finished cell, appended and fsync'd as each cell finishes, so an
 * interrupted experiment loses nothing finished and a rerun skips what is there.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { CellRow } from './cell-run.ts';

/** The rows of a cells.jsonl by key (the last row of a key wins); lines that do not parse are counted. */
export function readCellLog(path: string): { rows: Map<string, CellRow>; unreadable: number } {
  const rows = new Map<string, CellRow>();
  let unreadable = 0;
  if (!existsSync(path)) return { rows, unreadable };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const row = JSON.parse(line) as Partial<CellRow>;
      if (typeof row.key === 'string' && typeof row.metrics === 'object' && row.metrics !== null)
        rows.set(row.key, row as CellRow);
      else unreadable++;
    } catch {
      // A line cut short by a crash: its cell runs again.
      unreadable++;
    }
  }
  return { rows, unreadable };
}

/** An open cells.jsonl that rows are appended to, each one on disk (fsync) before `append` returns. */
export class CellLog {
  private readonly fd: number;

  /** Opens `path` for appending; a line left unterminated by a crash is ended first. */
  constructor(path: string) {
    const cut = existsSync(path) && !/(^|\n)$/.test(readFileSync(path, 'utf8'));
    this.fd = openSync(path, 'a');
    if (cut) writeSync(this.fd, '\n');
  }

  /** Appends one row as a line and flushes it to disk. */
  append(row: CellRow): void {
    writeSync(this.fd, `${JSON.stringify(row)}\n`);
    fsyncSync(this.fd);
  }

  /** Closes the file. */
  close(): void {
    closeSync(this.fd);
  }
}
