/**
 * Drill reports kept in the journal's SQLite index (a `drills` table this
 * module owns), so the history survives restarts and travels with the
 * journal directory. The report is stored whole as JSON: it is read back
 * as-is, never queried by field. Not in the segments: an index rebuilt from
 * the segments starts a new drill history.
 */
import type { Journal } from "../journal/journal.js";
import { type DrillReport, DrillState } from "./report.js";

/** Reports kept; older ones are dropped (a daily drill keeps almost three years). */
export const MAX_REPORTS = 1000;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS drills (
    id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, state TEXT NOT NULL, report TEXT NOT NULL)`,
  "CREATE INDEX IF NOT EXISTS drills_created ON drills (created_at)",
];

/** Reads and writes drill reports. Synchronous (better-sqlite3), one row per drill. */
export class DrillStore {
  constructor(private readonly journal: Journal) {
    for (const sql of SCHEMA) journal.index.exec(sql);
  }

  /** Inserts or replaces a report. */
  save(r: DrillReport): void {
    this.journal.index.exec(
      "INSERT INTO drills (id, created_at, state, report) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, report = excluded.report",
      r.id,
      Date.parse(r.createdAt),
      r.state,
      JSON.stringify(r),
    );
  }

  get(id: string): DrillReport | null {
    const row = this.journal.index.all<{ report: string }>(
      "SELECT report FROM drills WHERE id = ?",
      id,
    )[0];
    return row ? (JSON.parse(row.report) as DrillReport) : null;
  }

  /** Newest first. */
  list(limit: number): DrillReport[] {
    return this.journal.index
      .all<{ report: string }>(
        "SELECT report FROM drills ORDER BY created_at DESC, rowid DESC LIMIT ?",
        limit,
      )
      .map((r) => JSON.parse(r.report) as DrillReport);
  }

  /** The newest drill that passed, if any (the last-success metric after a restart). */
  lastPassed(): DrillReport | null {
    for (const r of this.list(MAX_REPORTS)) if (r.passed === true) return r;
    return null;
  }

  /** Reports left queued or running by a process that stopped: their drills will never finish. */
  unfinished(): DrillReport[] {
    return this.journal.index
      .all<{ report: string }>(
        "SELECT report FROM drills WHERE state IN (?, ?) ORDER BY created_at",
        DrillState.queued,
        DrillState.running,
      )
      .map((r) => JSON.parse(r.report) as DrillReport);
  }

  /** Drops all but the newest MAX_REPORTS reports. */
  prune(): void {
    this.journal.index.exec(
      "DELETE FROM drills WHERE id NOT IN (SELECT id FROM drills ORDER BY created_at DESC, rowid DESC LIMIT ?)",
      MAX_REPORTS,
    );
  }
}
