/**
 * Keeps the index's write-ahead log from doubling a journal's index at rest.
 * SQLite copies its WAL into index.db every 1000 pages (4 MiB) but never
 * shrinks the WAL file, and until that first copy every page lives only in
 * the WAL, once per transaction that touched it: after a first full copy of
 * 2000 small files the WAL held 1.71 MB for an index that is 0.8 MB in
 * index.db. So after every checkpoint the journal indexes, the WAL is copied
 * into index.db and cut to 0 bytes. A busy trim (a reader in another process)
 * is counted and retried at the next checkpoint; a failed one is counted and
 * logged by the caller, and costs nothing but disk: the index commit it
 * follows has already happened.
 */
import { statSync } from "node:fs";

/** What trims did since the index was opened (for /v1/status). */
export interface WalTrimStats {
  /** Trims that emptied the WAL. */
  trims: number;
  /** Trims that stopped at a reader and left part of the WAL (retried next time). */
  busy: number;
  /** Trims that threw (disk full, I/O error): the WAL keeps its pages. */
  failures: number;
  lastFailure: string | null;
}

/** The trim itself: SQL in index-sql.ts (truncateWal). */
export type TruncateWal = () => { busy: boolean };

export class WalTrimmer {
  readonly stats: WalTrimStats = { trims: 0, busy: 0, failures: 0, lastFailure: null };

  constructor(
    private readonly file: string,
    private readonly truncate: TruncateWal,
  ) {}

  /** Trims the WAL unless it is already empty; throws what SQLite threw (counted). */
  trim(): void {
    let out: { busy: boolean };
    try {
      if (bytesOf(`${this.file}-wal`) === 0) return;
      out = this.truncate();
    } catch (err) {
      this.stats.failures++;
      this.stats.lastFailure = err instanceof Error ? err.message : String(err);
      throw err;
    }
    if (out.busy) this.stats.busy++;
    else this.stats.trims++;
  }

  /** Bytes of the index on disk: the database file and its WAL (null: could not stat). */
  sizes(): { dbBytes: number | null; walBytes: number | null } {
    const size = (path: string) => {
      try {
        return bytesOf(path);
      } catch {
        return null;
      }
    };
    return { dbBytes: size(this.file), walBytes: size(`${this.file}-wal`) };
  }
}

/** A file's size, 0 when it does not exist (SQLite deletes the WAL on a clean close). */
function bytesOf(path: string): number {
  try {
    return statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}
