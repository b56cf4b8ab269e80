/**
 * The index's schema (SQL text; index-db.ts prepares the statements). Kept
 * apart so index-db.ts stays one readable module under the size limit.
 */
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
`;
