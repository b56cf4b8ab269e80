import type { Statements } from "./index-sql.js";

/**
 * The drill reports table of the journal index. Reports are stored whole as
 * JSON text, read back as-is, never queried by field; the drill module parses
 * them. Not in the segments: an index rebuilt from the segments starts a new
 * drill history. Synchronous (better-sqlite3).
 */
export class DrillRows {
  constructor(private readonly st: Statements) {}

  /** Inserts or replaces a drill report (its JSON text, keyed by id). */
  save(id: string, createdAtMs: number, state: string, json: string): void {
    this.st.saveDrill.run(id, createdAtMs, state, json);
  }

  /** One drill report's JSON text, or null. */
  get(id: string): string | null {
    return this.st.drill.get(id)?.report ?? null;
  }

  /** Drill reports' JSON text, newest first. */
  list(limit: number): string[] {
    return this.st.drills.all(limit).map((r) => r.report);
  }

  /** Drill reports in either of two states, oldest first. */
  inStates(a: string, b: string): string[] {
    return this.st.drillsInStates.all(a, b).map((r) => r.report);
  }

  /** Drops all but the newest `keep` drill reports. */
  prune(keep: number): void {
    this.st.pruneDrills.run(keep);
  }
}
