/** Journal gauges shared by the sidecar and the replica. */
import { Counter, Gauge } from "prom-client";
import { checkpointBody } from "../http/bodies.js";
import type { Journal } from "../journal/journal.js";
import type { Metrics } from "../metrics/registry.js";

/** Registers journal size, position and checkpoint gauges, read at scrape time. */
export function registerJournalMetrics(
  metrics: Metrics,
  journal: Journal,
  sizeLimit: number,
): void {
  const registers = [metrics.registry];
  new Gauge({
    name: "pvjournal_journal_bytes",
    help: "Bytes in the journal's segment files",
    registers,
    collect() {
      this.set(journal.sizeBytes);
    },
  });
  new Gauge({
    name: "pvjournal_journal_size_limit_bytes",
    help: "Configured journal.sizeLimit (0 = none)",
    registers,
    collect() {
      this.set(sizeLimit);
    },
  });
  new Gauge({
    name: "pvjournal_journal_last_seq",
    help: "Newest durable journal position",
    registers,
    collect() {
      this.set(journal.lastSeq);
    },
  });
  new Gauge({
    name: "pvjournal_journal_pins",
    help: "Retention pins held by restores, drills, failovers, diffs and mirror updates (0 when idle)",
    registers,
    collect() {
      this.set(journal.pinCount);
    },
  });
  new Gauge({
    name: "pvjournal_journal_index_bytes",
    help: "Bytes of the journal's SQLite index on disk: index.db and its WAL",
    registers,
    collect() {
      const { dbBytes, walBytes } = journal.index.wal.sizes();
      this.set((dbBytes ?? 0) + (walBytes ?? 0));
    },
  });
  new Counter({
    name: "pvjournal_journal_index_wal_trim_failures_total",
    help: "Trims of the index's WAL after a checkpoint that failed (the WAL keeps its pages; retried at the next checkpoint); see journal.index.walTrim in /v1/status",
    registers,
    collect() {
      this.reset();
      this.inc(journal.index.wal.stats.failures);
    },
  });
  new Gauge({
    name: "pvjournal_last_checkpoint_timestamp_seconds",
    help: "Time of the newest checkpoint",
    registers,
    collect() {
      const cp = journal.index.lastCheckpoint();
      this.set(cp ? cp.ts / 1000 : 0);
    },
  });
}

/** The /v1/status fields both roles fill from their journal: position, newest checkpoint, usage. */
export function journalStatusFields(journal: Journal, sizeLimit: number) {
  const cp = journal.index.lastCheckpoint();
  return {
    lastSeq: journal.lastSeq,
    lastCheckpoint: cp ? checkpointBody(cp) : null,
    journal: journalStatus(journal, sizeLimit),
  };
}

/** Journal facts for /v1/status. */
export function journalStatus(journal: Journal, sizeLimit: number) {
  const win = journal.window();
  return {
    bytes: journal.sizeBytes,
    oldest: win ? new Date(win.oldestTs).toISOString() : null,
    newest: win ? new Date(win.newestTs).toISOString() : null,
    sizeLimit,
    // 90%: early enough for an operator to act before retention must be forced.
    nearLimit: sizeLimit > 0 && journal.sizeBytes >= sizeLimit * 0.9,
    // Readers of a point hold one each; a count that stays above 0 when idle is a leak.
    pins: journal.pinCount,
    // The SQLite index beside the segments; its WAL is trimmed after each checkpoint.
    index: { ...journal.index.wal.sizes(), walTrim: { ...journal.index.wal.stats } },
  };
}
