import Database from "better-sqlite3";
import {
  type BlockRow,
  type CheckpointRow,
  type NsRow,
  type RecordLocation,
  type SegmentRow,
  toCheckpoint,
} from "./index-rows.js";
import { prepare, SCHEMA, SCHEMA_VERSION, type Statements } from "./index-sql.js";
import type { JournalRecord } from "./records.js";

export type { BlockRow, CheckpointRow, NsRow, RecordLocation, SegmentRow } from "./index-rows.js";

/**
 * The SQLite index of a journal: the only module that imports better-sqlite3.
 * Segments are the source of truth; everything here can be rebuilt from them
 * (Journal.open does so when the index is missing). WAL mode with
 * synchronous=NORMAL: a commit lost to a power cut is re-indexed from the
 * fsynced segments on the next open, so the index needs no fsync of its own.
 */

/** Typed access to the index. All methods are synchronous (better-sqlite3). */
export class JournalIndex {
  private readonly db: Database.Database;
  private readonly st: Statements;

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
