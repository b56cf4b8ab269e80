import type Database from "better-sqlite3";
import type {
  BlockRow,
  BucketRow,
  LocatedBlockRow,
  NsRow,
  RawCheckpoint,
  SegmentRow,
} from "./index-rows.js";

/**
 * The SQL of the journal index: its schema and every statement, prepared once
 * per connection (better-sqlite3 guidance). Only `index-db.ts` uses this; no
 * other module writes SQL.
 */

export const SCHEMA_VERSION = "1";

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, kind INTEGER NOT NULL,
  first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
  first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL,
  segment_id INTEGER NOT NULL, offset INTEGER NOT NULL, end_offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS times (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS times_ts ON times (ts);
CREATE TABLE IF NOT EXISTS ns (
  seq INTEGER NOT NULL, ord INTEGER NOT NULL, op TEXT NOT NULL, file_id INTEGER,
  path TEXT NOT NULL, path2 TEXT, kind TEXT, target TEXT,
  PRIMARY KEY (seq, ord)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attrs (
  file_id INTEGER NOT NULL, seq INTEGER NOT NULL, mode INTEGER NOT NULL, mtime REAL NOT NULL,
  PRIMARY KEY (file_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sizes (
  file_id INTEGER NOT NULL, seq INTEGER NOT NULL, size INTEGER NOT NULL, shrink INTEGER NOT NULL,
  PRIMARY KEY (file_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (
  file_id INTEGER NOT NULL, block INTEGER NOT NULL, seq INTEGER NOT NULL,
  len INTEGER NOT NULL, hash BLOB NOT NULL,
  PRIMARY KEY (file_id, block, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocks_seq ON blocks (seq);
CREATE INDEX IF NOT EXISTS attrs_seq ON attrs (seq);
CREATE INDEX IF NOT EXISTS sizes_seq ON sizes (seq);
CREATE TABLE IF NOT EXISTS blobs (
  hash BLOB PRIMARY KEY, segment_id INTEGER NOT NULL, offset INTEGER NOT NULL, len INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
  id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL, label TEXT,
  consistency TEXT NOT NULL, hooks TEXT);
CREATE INDEX IF NOT EXISTS checkpoints_seq ON checkpoints (seq);
CREATE TABLE IF NOT EXISTS drills (
  id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, state TEXT NOT NULL, report TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS drills_created ON drills (created_at);
`;

/** The tables whose rows are keyed by seq: what retention drops below a cut. */
export const SEQ_TABLES = ["ns", "attrs", "sizes", "blocks", "times", "checkpoints"] as const;
/** The tables verify counts against the records the segments hold. */
export const COUNTED_TABLES = ["ns", "attrs", "sizes", "blocks", "checkpoints"] as const;
export type CountedTable = (typeof COUNTED_TABLES)[number];

/** One statement per table, keyed by table name (table names cannot be bound parameters). */
function perTable<const T extends readonly string[], S>(
  tables: T,
  make: (table: T[number]) => S,
): Record<T[number], S> {
  return Object.fromEntries(tables.map((t) => [t, make(t)])) as Record<T[number], S>;
}

// Timeline buckets: CAST because better-sqlite3 may bind the size as REAL;
// truncation equals floor for positive times.
const BUCKET = "CAST(t.ts / ? AS INTEGER)";
const changedIn = (table: string, key: string) =>
  `SELECT ${BUCKET} AS b, ${key} AS k FROM ${table} x JOIN times t ON t.seq = x.seq WHERE x.seq >= ? AND x.seq <= ?`;

/** Statements prepared once (better-sqlite3 guidance). */
export function prepare(db: Database.Database) {
  return {
    getMeta: db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?"),
    setMeta: db.prepare(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    ),
    segments: db.prepare<[], SegmentRow>("SELECT * FROM segments ORDER BY kind DESC, first_seq"),
    insertSegment: db.prepare(
      "INSERT INTO segments (name, kind, first_seq, last_seq, bytes) VALUES (?, ?, ?, ?, ?)",
    ),
    updateSegment: db.prepare("UPDATE segments SET last_seq = ?, bytes = ? WHERE id = ?"),
    deleteSegment: db.prepare("DELETE FROM segments WHERE id = ?"),
    insertBatch: db.prepare(
      "INSERT OR REPLACE INTO batches (first_seq, last_seq, segment_id, offset, end_offset) VALUES (?, ?, ?, ?, ?)",
    ),
    batchFrom: db.prepare<
      [number],
      {
        first_seq: number;
        last_seq: number;
        segment_id: number;
        offset: number;
        end_offset: number;
      }
    >("SELECT * FROM batches WHERE last_seq >= ? ORDER BY first_seq LIMIT 1"),
    insertTime: db.prepare("INSERT OR IGNORE INTO times (seq, ts) VALUES (?, ?)"),
    // One statement for a run of consecutive seqs at one ts (a group's records).
    insertTimeRun: db.prepare(
      "INSERT OR IGNORE INTO times (seq, ts) WITH RECURSIVE s(seq) AS (SELECT ? UNION ALL SELECT seq + 1 FROM s WHERE seq < ?) SELECT seq, ? FROM s",
    ),
    lastTime: db.prepare<[], { seq: number; ts: number }>(
      "SELECT seq, ts FROM times ORDER BY seq DESC LIMIT 1",
    ),
    firstTsAfter: db.prepare<[number], { seq: number }>(
      "SELECT min(seq) AS seq FROM times WHERE ts > ?",
    ),
    tsAfterSeq: db.prepare<[number], { ts: number }>(
      "SELECT ts FROM times WHERE seq > ? ORDER BY seq LIMIT 1",
    ),
    tsAtSeq: db.prepare<[number], { ts: number }>(
      "SELECT ts FROM times WHERE seq <= ? ORDER BY seq DESC LIMIT 1",
    ),
    insertNs: db.prepare(
      "INSERT OR IGNORE INTO ns (seq, ord, op, file_id, path, path2, kind, target) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    nsUpTo: db.prepare<[number], NsRow>("SELECT * FROM ns WHERE seq <= ? ORDER BY seq, ord"),
    nsBetween: db.prepare<[number, number], NsRow>(
      "SELECT * FROM ns WHERE seq > ? AND seq <= ? ORDER BY seq, ord",
    ),
    insertAttr: db.prepare(
      "INSERT OR REPLACE INTO attrs (file_id, seq, mode, mtime) VALUES (?, ?, ?, ?)",
    ),
    attrAt: db.prepare<[number, number], { mode: number; mtime: number }>(
      "SELECT mode, mtime FROM attrs WHERE file_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
    ),
    insertSize: db.prepare(
      "INSERT OR REPLACE INTO sizes (file_id, seq, size, shrink) VALUES (?, ?, ?, ?)",
    ),
    sizeAt: db.prepare<[number, number], { seq: number; size: number }>(
      "SELECT seq, size FROM sizes WHERE file_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
    ),
    shrinksUpTo: db.prepare<[number, number], { seq: number; size: number }>(
      "SELECT seq, size FROM sizes WHERE file_id = ? AND seq <= ? AND shrink = 1 ORDER BY seq",
    ),
    insertBlock: db.prepare(
      "INSERT OR REPLACE INTO blocks (file_id, block, seq, len, hash) VALUES (?, ?, ?, ?, ?)",
    ),
    blockAt: db.prepare<[number, number, number], BlockRow>(
      "SELECT block, seq, len, hash FROM blocks WHERE file_id = ? AND block = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
    ),
    // The planner's one statement per block: the version and its blob's
    // location in one call, half the calls of blockAt then blob (32k blocks
    // of 4 KiB planned in 113-143 ms instead of 161-192, same journal).
    locatedBlockAt: db
      .prepare<[number, number, number], LocatedBlockRow>(
        "SELECT k.block, k.seq, k.len, k.hash, b.segment_id, b.offset, b.len, s.name FROM (SELECT block, seq, len, hash FROM blocks WHERE file_id = ? AND block = ? AND seq <= ? ORDER BY seq DESC LIMIT 1) k LEFT JOIN blobs b ON b.hash = k.hash LEFT JOIN segments s ON s.id = b.segment_id",
      )
      .raw(true),
    // The same rows for a range of blocks [from, to) in one statement, block
    // order: the newest version at or before the point per block (SQLite
    // takes a bare column from the max() row). 32k blocks of 4 KiB: 76-86 ms
    // against 86-99 ms for 32k locatedBlockAt calls, same journal.
    locatedBlocksIn: db
      .prepare<[number, number, number, number], LocatedBlockRow>(
        "SELECT k.block, k.seq, k.len, k.hash, b.segment_id, b.offset, b.len, s.name FROM (SELECT block, max(seq) AS seq, len, hash FROM blocks WHERE file_id = ? AND block >= ? AND block < ? AND seq <= ? GROUP BY block) k LEFT JOIN blobs b ON b.hash = k.hash LEFT JOIN segments s ON s.id = b.segment_id ORDER BY k.block",
      )
      .raw(true),
    maxBlockAt: db.prepare<[number, number], { block: number | null }>(
      "SELECT max(block) AS block FROM blocks WHERE file_id = ? AND seq <= ?",
    ),
    sizesBetween: db.prepare<[number, number], { file_id: number; cut: number | null }>(
      "SELECT file_id, min(CASE WHEN shrink = 1 THEN size END) AS cut FROM sizes WHERE seq > ? AND seq <= ? GROUP BY file_id",
    ),
    attrsBetween: db.prepare<[number, number], { file_id: number }>(
      "SELECT DISTINCT file_id FROM attrs WHERE seq > ? AND seq <= ?",
    ),
    blocksChangedBetween: db.prepare<
      [number, number],
      { file_id: number; block: number; len: number }
    >("SELECT file_id, block, len FROM blocks WHERE seq > ? AND seq <= ?"),
    insertBlob: db.prepare(
      "INSERT OR IGNORE INTO blobs (hash, segment_id, offset, len) VALUES (?, ?, ?, ?)",
    ),
    moveBlob: db.prepare("UPDATE blobs SET segment_id = ?, offset = ? WHERE hash = ?"),
    // With the segment's name in the same read: segment ids are reused after
    // retention (SQLite hands out a deleted last row's id again), so a name
    // cached by id can name the file a block no longer lives in.
    blob: db.prepare<
      [Buffer],
      { segment_id: number; offset: number; len: number; name: string | null }
    >(
      "SELECT b.segment_id, b.offset, b.len, s.name FROM blobs b LEFT JOIN segments s ON s.id = b.segment_id WHERE b.hash = ?",
    ),
    segmentName: db.prepare<[number], { name: string }>("SELECT name FROM segments WHERE id = ?"),
    hasBlob: db.prepare<[Buffer], { one: number }>("SELECT 1 AS one FROM blobs WHERE hash = ?"),
    anyBlob: db.prepare<[], { one: number }>("SELECT 1 AS one FROM blobs LIMIT 1"),
    insertCheckpoint: db.prepare(
      "INSERT OR IGNORE INTO checkpoints (id, seq, ts, label, consistency, hooks) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    checkpoint: db.prepare<[number], RawCheckpoint>("SELECT * FROM checkpoints WHERE id = ?"),
    checkpointsRange: db.prepare<[number, number, number], RawCheckpoint>(
      "SELECT * FROM checkpoints WHERE ts >= ? AND ts <= ? ORDER BY id LIMIT ?",
    ),
    lastCheckpoint: db.prepare<[], RawCheckpoint>(
      "SELECT * FROM checkpoints ORDER BY id DESC LIMIT 1",
    ),
    maxFileId: db.prepare<[], { m: number | null }>(
      "SELECT max(m) AS m FROM (SELECT max(file_id) AS m FROM ns UNION ALL SELECT max(file_id) FROM attrs)",
    ),
    counts: db.prepare<[], { records: number }>("SELECT count(*) AS records FROM times"),
    minSeq: db.prepare<[], { seq: number | null }>("SELECT min(seq) AS seq FROM times"),
    metaWithPrefix: db.prepare<[string, string], { key: string; value: string }>(
      "SELECT key, value FROM meta WHERE substr(key, 1, length(?)) = ?",
    ),

    // Retention: history below a cut, rows of dropped segments, hashes still referenced.
    deleteUpTo: perTable(SEQ_TABLES, (t) => db.prepare(`DELETE FROM ${t} WHERE seq <= ?`)),
    deleteBatchesUpTo: db.prepare("DELETE FROM batches WHERE last_seq <= ?"),
    deleteSegmentBlobs: db.prepare("DELETE FROM blobs WHERE segment_id = ?"),
    deleteSegmentBatches: db.prepare("DELETE FROM batches WHERE segment_id = ?"),
    hashesWrittenBetween: db.prepare<[number, number], { hash: Buffer }>(
      "SELECT DISTINCT hash FROM blocks WHERE seq > ? AND seq <= ?",
    ),
    checkpointIdsAt: db.prepare<[number], { id: number }>(
      "SELECT id FROM checkpoints WHERE seq = ?",
    ),
    checkpointsFrom: db.prepare<[number], { n: number }>(
      "SELECT count(*) AS n FROM checkpoints WHERE seq >= ?",
    ),
    checkpointIdFrom: db.prepare<[number, number], { id: number }>(
      "SELECT id FROM checkpoints WHERE seq >= ? ORDER BY id LIMIT 1 OFFSET ?",
    ),

    // Verify: rows per table.
    rowCount: perTable(COUNTED_TABLES, (t) =>
      db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${t}`),
    ),

    // Timeline: records found by time through times_ts, change rows by seq range.
    seqRangeByTs: db.prepare<[number, number], { lo: number | null; hi: number | null }>(
      "SELECT min(seq) AS lo, max(seq) AS hi FROM times WHERE ts >= ? AND ts <= ?",
    ),
    bucketRecords: db.prepare<[number, number, number], BucketRow>(
      `SELECT ${BUCKET} AS b, count(*) AS n FROM times t WHERE t.seq >= ? AND t.seq <= ? GROUP BY b`,
    ),
    bucketBytes: db.prepare<[number, number, number], BucketRow>(
      `SELECT ${BUCKET} AS b, sum(x.len) AS n FROM blocks x JOIN times t ON t.seq = x.seq WHERE x.seq >= ? AND x.seq <= ? GROUP BY b`,
    ),
    // Unlinks and renames carry a path, not a file id: counted by path.
    bucketFiles: db.prepare<number[], BucketRow>(
      `SELECT b, count(DISTINCT k) AS n FROM (${[
        changedIn("blocks", "x.file_id"),
        changedIn("sizes", "x.file_id"),
        changedIn("attrs", "x.file_id"),
        changedIn("ns", "coalesce(x.file_id, x.path)"),
      ].join(" UNION ALL ")}) GROUP BY b`,
    ),
    bucketCheckpoints: db.prepare<[number, number, number], BucketRow>(
      "SELECT CAST(ts / ? AS INTEGER) AS b, count(*) AS n FROM checkpoints WHERE ts >= ? AND ts <= ? GROUP BY b",
    ),

    // Drill reports: stored whole as JSON, read back as-is, never queried by field.
    saveDrill: db.prepare(
      "INSERT INTO drills (id, created_at, state, report) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, report = excluded.report",
    ),
    drill: db.prepare<[string], { report: string }>("SELECT report FROM drills WHERE id = ?"),
    drills: db.prepare<[number], { report: string }>(
      "SELECT report FROM drills ORDER BY created_at DESC, rowid DESC LIMIT ?",
    ),
    drillsInStates: db.prepare<[string, string], { report: string }>(
      "SELECT report FROM drills WHERE state IN (?, ?) ORDER BY created_at",
    ),
    pruneDrills: db.prepare(
      "DELETE FROM drills WHERE id NOT IN (SELECT id FROM drills ORDER BY created_at DESC, rowid DESC LIMIT ?)",
    ),
  };
}

export type Statements = ReturnType<typeof prepare>;

/**
 * Copies the WAL into the database file and cuts the WAL to 0 bytes
 * (`wal_checkpoint(TRUNCATE)`) without waiting for anyone: with a busy
 * timeout of 0, a reader elsewhere (another process's read transaction) makes
 * it stop at what it could copy and report busy instead of blocking the event
 * loop for better-sqlite3's default 5 s.
 */
export function truncateWal(db: Database.Database): { busy: boolean } {
  const timeout = db.pragma("busy_timeout", { simple: true });
  db.pragma("busy_timeout = 0");
  try {
    const rows = db.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[];
    const r = rows[0];
    return { busy: r === undefined || r.busy !== 0 };
  } finally {
    db.pragma(`busy_timeout = ${Number(timeout)}`);
  }
}
