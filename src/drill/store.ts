/**
 * Drill reports kept in the journal's SQLite index (its `drills` table), so
 * the history survives restarts and travels with the journal directory. The
 * report is stored whole as JSON: it is read back as-is, never queried by
 * field. Not in the segments: an index rebuilt from the segments starts a new
 * drill history.
 */
import type { DrillRows } from "../journal/index-drills.js";
import type { Journal } from "../journal/journal.js";
import { type DrillReport, DrillState } from "./report.js";

/** Reports kept; older ones are dropped (a daily drill keeps almost three years). */
export const MAX_REPORTS = 1000;

const parse = (json: string) => JSON.parse(json) as DrillReport;

/** Reads and writes drill reports. Synchronous (better-sqlite3), one row per drill. */
export class DrillStore {
  private readonly rows: DrillRows;

  constructor(journal: Journal) {
    this.rows = journal.index.drills;
  }

  /** Inserts or replaces a report. */
  save(r: DrillReport): void {
    this.rows.save(r.id, Date.parse(r.createdAt), r.state, JSON.stringify(r));
  }

  get(id: string): DrillReport | null {
    const json = this.rows.get(id);
    return json === null ? null : parse(json);
  }

  /** Newest first. */
  list(limit: number): DrillReport[] {
    return this.rows.list(limit).map(parse);
  }

  /** The newest drill that passed, if any (the last-success metric after a restart). */
  lastPassed(): DrillReport | null {
    for (const r of this.list(MAX_REPORTS)) if (r.passed === true) return r;
    return null;
  }

  /** Reports left queued or running by a process that stopped: their drills will never finish. */
  unfinished(): DrillReport[] {
    return this.rows.inStates(DrillState.queued, DrillState.running).map(parse);
  }

  /** Drops all but the newest MAX_REPORTS reports. */
  prune(): void {
    this.rows.prune(MAX_REPORTS);
  }
}
