import Database from "better-sqlite3";
import {
  type BlockRow,
  type CheckpointRow,
  type NsRow,
  type RawCheckpoint,
  type RecordLocation,
  type SegmentRow,
  toCheckpoint,
} from "./index-rows.js";
import { SCHEMA } from "./index-sql.js";
import type { JournalRecord } from "./records.js";

export type { BlockRow, CheckpointRow, NsRow, RecordLocation, SegmentRow } from "./index-rows.js";

/**
 * The SQLite index of a journal: the only module that imports better-sqlite3.
 * Segments are the source of truth; everything here can be rebuilt from them
 * (Journal.open does so when the index is missing). WAL mode with
 * synchronous=NORMAL: a commit lost to a power cut is re-indexed from the
 * fsynced segments on the next open, so the index needs no fsync of its own.
 */

const SCHEMA_VERSION = "1";

/** Statements prepared once (better-sqlite3 guidance). */
function prepare(db: Database.Database) {
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
    maxBlockAt: db.prepare<[number, number], { block: number | null }>(
      "SELECT max(block) AS block FROM blocks WHERE file_id = ? AND seq <= ?",
    ),
    blocksChangedBetween: db.prepare<
      [number, number],
      { file_id: number; block: number; len: number }
    >("SELECT file_id, block, len FROM blocks WHERE seq > ? AND seq <= ?"),
    sizesBetween: db.prepare<[number, number], { file_id: number; cut: number | null }>(
      "SELECT file_id, min(CASE WHEN shrink = 1 THEN size END) AS cut FROM sizes WHERE seq > ? AND seq <= ? GROUP BY file_id",
    ),
    attrsBetween: db.prepare<[number, number], { file_id: number }>(
      "SELECT DISTINCT file_id FROM attrs WHERE seq > ? AND seq <= ?",
    ),
    insertBlob: db.prepare(
      "INSERT OR IGNORE INTO blobs (hash, segment_id, offset, len) VALUES (?, ?, ?, ?)",
    ),
    moveBlob: db.prepare("UPDATE blobs SET segment_id = ?, offset = ? WHERE hash = ?"),
    blob: db.prepare<[Buffer], { segment_id: number; offset: number; len: number }>(
      "SELECT segment_id, offset, len FROM blobs WHERE hash = ?",
    ),
    hasBlob: db.prepare<[Buffer], { one: number }>("SELECT 1 AS one FROM blobs WHERE hash = ?"),
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
  };
}

/** Typed access to the index. All methods are synchronous (better-sqlite3). */
export class JournalIndex {
  private readonly db: Database.Database;
  private readonly st: ReturnType<typeof prepare>;

  /** Opens (creating if needed) the index file; `fresh` tells whether it had to be created. */
  constructor(
    file: string,
    readonly fresh: boolean,
  ) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = OFF");
    this.db.exec(SCHEMA);
    this.st = prepare(this.db);
    const v = this.getMeta("schema");
    if (v === null) this.setMeta("schema", SCHEMA_VERSION);
  }

  /** Runs `fn` in one synchronous transaction (never across an await). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  getMeta(key: string): string | null {
    return this.st.getMeta.get(key)?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.st.setMeta.run(key, value);
  }

  segments(): SegmentRow[] {
    return this.st.segments.all();
  }

  insertSegment(
    name: string,
    kind: number,
    firstSeq: number,
    lastSeq: number,
    bytes: number,
  ): number {
    return Number(this.st.insertSegment.run(name, kind, firstSeq, lastSeq, bytes).lastInsertRowid);
  }

  updateSegment(id: number, lastSeq: number, bytes: number): void {
    this.st.updateSegment.run(lastSeq, bytes, id);
  }

  deleteSegment(id: number): void {
    this.st.deleteSegment.run(id);
  }

  insertBatch(
    firstSeq: number,
    lastSeq: number,
    segmentId: number,
    offset: number,
    end: number,
  ): void {
    this.st.insertBatch.run(firstSeq, lastSeq, segmentId, offset, end);
  }

  /** The first batch containing or following `seq` (for streaming records from a seq). */
  batchFrom(seq: number) {
    return this.st.batchFrom.get(seq) ?? null;
  }

  /** Newest indexed seq and its ts, or null for an empty journal. */
  lastTime(): { seq: number; ts: number } | null {
    return this.st.lastTime.get() ?? null;
  }

  /** First seq whose ts is later than `ts` (null if none). */
  firstSeqAfterTs(ts: number): number | null {
    return this.st.firstTsAfter.get(ts)?.seq ?? null;
  }

  /** Timestamp of the first record after `seq` (null if none): how long a reader at `seq` has been behind. */
  tsAfterSeq(seq: number): number | null {
    return this.st.tsAfterSeq.get(seq)?.ts ?? null;
  }

  /** Timestamp of the record at (or the newest before) `seq`. */
  tsAtSeq(seq: number): number | null {
    return this.st.tsAtSeq.get(seq)?.ts ?? null;
  }

  /** Number of records indexed (one time row each). */
  recordCount(): number {
    return this.st.counts.get()?.records ?? 0;
  }

  /**
   * Indexes one stamped record stored at `loc`. `ord` orders records sharing a
   * seq (a base segment holds a whole folded state at one seq).
   * Idempotent: indexing the same record twice changes nothing.
   */
  indexRecord(rec: JournalRecord, loc: RecordLocation, ord: number): void {
    this.st.insertTime.run(rec.seq, rec.ts);
    switch (rec.type) {
      case "blob":
        this.st.insertBlob.run(rec.hash, loc.segmentId, loc.offset, rec.data.length);
        break;
      case "link":
        this.st.insertNs.run(
          rec.seq,
          ord,
          "link",
          rec.fileId,
          rec.path,
          null,
          rec.kind,
          rec.target ?? null,
        );
        break;
      case "unlink":
        this.st.insertNs.run(rec.seq, ord, "unlink", null, rec.path, null, null, null);
        break;
      case "rename":
        this.st.insertNs.run(rec.seq, ord, "rename", null, rec.from, rec.to, null, null);
        break;
      case "attr":
        this.st.insertAttr.run(rec.fileId, rec.seq, rec.mode, rec.mtimeMs);
        break;
      case "size": {
        // Only shrinks matter to the planner (a grow never cuts older block
        // versions), so they are flagged at index time instead of at every plan.
        const prev = this.st.sizeAt.get(rec.fileId, rec.seq - 1);
        this.st.insertSize.run(rec.fileId, rec.seq, rec.size, prev && rec.size < prev.size ? 1 : 0);
        break;
      }
      case "write":
        this.st.insertBlock.run(rec.fileId, rec.block, rec.seq, rec.len, rec.hash);
        break;
      case "checkpoint":
        this.st.insertCheckpoint.run(
          rec.id,
          rec.seq,
          rec.ts,
          rec.label,
          rec.consistency,
          rec.hooks ? JSON.stringify(rec.hooks) : null,
        );
        break;
    }
  }

  /** Records where a blob's bytes live, keeping an existing location. */
  indexBlobLocation(hash: Buffer, segmentId: number, offset: number, len: number): void {
    this.st.insertBlob.run(hash, segmentId, offset, len);
  }

  hasBlob(hash: Buffer): boolean {
    return this.st.hasBlob.get(hash) !== undefined;
  }

  blob(hash: Buffer): { segment_id: number; offset: number; len: number } | null {
    return this.st.blob.get(hash) ?? null;
  }

  moveBlob(hash: Buffer, segmentId: number, offset: number): void {
    this.st.moveBlob.run(segmentId, offset, hash);
  }

  nsUpTo(seq: number): NsRow[] {
    return this.st.nsUpTo.all(seq);
  }

  nsBetween(fromExclusive: number, toInclusive: number): NsRow[] {
    return this.st.nsBetween.all(fromExclusive, toInclusive);
  }

  attrAt(fileId: number, seq: number): { mode: number; mtime: number } | null {
    return this.st.attrAt.get(fileId, seq) ?? null;
  }

  sizeAt(fileId: number, seq: number): { seq: number; size: number } | null {
    return this.st.sizeAt.get(fileId, seq) ?? null;
  }

  /** Size records that shrank the file, oldest first (they cut older block versions). */
  shrinksUpTo(fileId: number, seq: number): { seq: number; size: number }[] {
    return this.st.shrinksUpTo.all(fileId, seq);
  }

  blockAt(fileId: number, block: number, seq: number): BlockRow | null {
    return this.st.blockAt.get(fileId, block, seq) ?? null;
  }

  maxBlockAt(fileId: number, seq: number): number | null {
    return this.st.maxBlockAt.get(fileId, seq)?.block ?? null;
  }

  /** (file, block) pairs written in (from, to]: the blocks a fast drill must rewrite. */
  blocksChangedBetween(fromExclusive: number, toInclusive: number) {
    return this.st.blocksChangedBetween.iterate(fromExclusive, toInclusive);
  }

  /** Files whose size changed in (from, to], with the smallest size a shrink cut them to (null: none). */
  sizesChangedBetween(fromExclusive: number, toInclusive: number): Map<number, number | null> {
    const rows = this.st.sizesBetween.all(fromExclusive, toInclusive);
    return new Map(rows.map((r) => [r.file_id, r.cut]));
  }

  /** Files whose mode or mtime changed in (from, to]. */
  attrsChangedBetween(fromExclusive: number, toInclusive: number): Set<number> {
    return new Set(this.st.attrsBetween.all(fromExclusive, toInclusive).map((r) => r.file_id));
  }

  checkpoint(id: number): CheckpointRow | null {
    const r = this.st.checkpoint.get(id);
    return r ? toCheckpoint(r) : null;
  }

  checkpoints(fromTs: number, toTs: number, limit: number): CheckpointRow[] {
    return this.st.checkpointsRange.all(fromTs, toTs, limit).map(toCheckpoint);
  }

  lastCheckpoint(): CheckpointRow | null {
    const r = this.st.lastCheckpoint.get();
    return r ? toCheckpoint(r) : null;
  }

  maxFileId(): number {
    return this.st.maxFileId.get()?.m ?? 0;
  }

  /** Raw statement access for retention, which deletes history below a cut. */
  exec(sql: string, ...params: (number | string)[]): void {
    this.db.prepare(sql).run(...params);
  }

  /** Runs a read query returning rows (retention and verify use it for whole-table walks). */
  all<T>(sql: string, ...params: (number | string)[]): T[] {
    return this.db.prepare(sql).all(...params) as T[];
  }

  /** Streams rows of a read query. */
  iterate<T>(sql: string, ...params: (number | string)[]): IterableIterator<T> {
    return this.db.prepare(sql).iterate(...params) as IterableIterator<T>;
  }
}
