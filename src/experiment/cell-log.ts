/**
 * cells.jsonl: one JSON line per finished cell, appended and fsync'd as each cell finishes, so an
 * interrupted experiment loses nothing finished and a rerun skips what is there.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { CellRow } from './cell-run.ts';
import { METRIC_NAMES } from './metrics.ts';

/**
 * Whether a parsed line is a whole row: a key, a verdict, a seed and every metric as a number (null for a
 * figure the cell could not have, written from NaN). A hand-edited or foreign line is not, and reruns.
 */
export function isCellRow(row: unknown): row is CellRow {
  if (typeof row !== 'object' || row === null) return false;
  const r = row as Partial<Record<keyof CellRow, unknown>>;
  if (typeof r.key !== 'string' || typeof r.verdict !== 'string' || typeof r.seed !== 'number') return false;
  if (typeof r.metrics !== 'object' || r.metrics === null) return false;
  const m = r.metrics as Record<string, unknown>;
  return METRIC_NAMES.every((k) => typeof m[k] === 'number' || m[k] === null);
}

/** The rows of a cells.jsonl by key (the last row of a key wins); lines that are not whole rows are counted. */
export function readCellLog(path: string): { rows: Map<string, CellRow>; unreadable: number } {
  const rows = new Map<string, CellRow>();
  let unreadable = 0;
  if (!existsSync(path)) return { rows, unreadable };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const row = JSON.parse(line) as unknown;
      if (isCellRow(row)) rows.set(row.key, row);
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
