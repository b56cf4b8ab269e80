import Database from "better-sqlite3";
import { BlobFilter } from "./blob-filter.js";
import { storedBlobLen } from "./codec.js";
import { DrillRows } from "./index-drills.js";
import {
  type BlockRow,
  type CheckpointRow,
  type LocatedBlockRow,
  type NsRow,
  type RecordLocation,
  type SegmentRow,
  type TimelineRows,
  toCheckpoint,
} from "./index-rows.js";
import {
  type CountedTable,
  prepare,
  SCHEMA,
  SCHEMA_VERSION,
  SEQ_TABLES,
  type Statements,
  truncateWal,
} from "./index-sql.js";
import { WalTrimmer } from "./index-wal.js";
import type { JournalRecord } from "./records.js";

export type {
  BlockRow,
  BucketRow,
  CheckpointRow,
  LocatedBlockRow,
  NsRow,
  RecordLocation,
  SegmentRow,
  TimelineRows,
} from "./index-rows.js";
export { COUNTED_TABLES, type CountedTable } from "./index-sql.js";

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
  /** The drill reports table. */
  readonly drills: DrillRows;
  /** Trims the WAL after checkpoints (index-wal.ts). */
  readonly wal: WalTrimmer;
  /** Hashes stored since the index had no blobs (blob-filter.ts); null: lookups ask SQLite. */
  private readonly blobFilter: BlobFilter | null;

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
    this.drills = new DrillRows(this.st);
    this.wal = new WalTrimmer(file, () => truncateWal(this.db));
    const v = this.getMeta("schema");
    if (v === null) this.setMeta("schema", SCHEMA_VERSION);
    this.blobFilter = this.st.anyBlob.get() === undefined ? new BlobFilter() : null;
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
   * Indexes one stamped record stored at `loc`. `ord` orders records sharing a seq (a base segment
   * holds a whole folded state at one seq). `blobLen` is the blob's stored length when `rec` no
   * longer holds its bytes (IndexWork). Idempotent: indexing the same record twice changes nothing.
   */
  indexRecord(rec: JournalRecord, loc: RecordLocation, ord: number, blobLen?: number): void {
    this.st.insertTime.run(rec.seq, rec.ts);
    this.indexBody(rec, loc, ord, blobLen);
  }

  /**
   * The time rows of seqs `first`..`last`, all at `ts`, in one statement: a
   * group's records are a run like that, and one insert per record was about
   * half of the statements the index ran per small file (applyIndexWork).
   */
  insertTimeRun(first: number, last: number, ts: number): void {
    if (first === last) this.st.insertTime.run(first, ts);
    else this.st.insertTimeRun.run(first, last, ts);
  }

  /** indexRecord without the record's time row (the caller inserts it: insertTimeRun). */
  indexBody(rec: JournalRecord, loc: RecordLocation, ord: number, blobLen?: number): void {
    switch (rec.type) {
      case "blob":
        this.blobFilter?.add(rec.hash);
        this.st.insertBlob.run(rec.hash, loc.segmentId, loc.offset, blobLen ?? storedBlobLen(rec));
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
    this.blobFilter?.add(hash);
    this.st.insertBlob.run(hash, segmentId, offset, len);
  }

  hasBlob(hash: Buffer): boolean {
    if (this.blobFilter && !this.blobFilter.mayHave(hash)) return false;
    return this.st.hasBlob.get(hash) !== undefined;
  }

  /** Where a block is stored, with its segment's current name (null: the index lost the segment). */
  blob(
    hash: Buffer,
  ): { segment_id: number; offset: number; len: number; name: string | null } | null {
    return this.st.blob.get(hash) ?? null;
  }

  /** A segment's file name, or null when the index has no such segment. */
  segmentName(id: number): string | null {
    return this.st.segmentName.get(id)?.name ?? null;
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

  /** blockAt with its blob's location (LocatedBlockRow), in one statement. */
  locatedBlockAt(fileId: number, block: number, seq: number): LocatedBlockRow | null {
    return this.st.locatedBlockAt.get(fileId, block, seq) ?? null;
  }

  /** locatedBlockAt of every stored block in [from, to), in block order; absent blocks have no row. */
  locatedBlocksIn(fileId: number, from: number, to: number, seq: number): LocatedBlockRow[] {
    return this.st.locatedBlocksIn.all(fileId, from, to, seq);
  }

  maxBlockAt(fileId: number, seq: number): number | null {
    return this.st.maxBlockAt.get(fileId, seq)?.block ?? null;
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

  /** Oldest indexed seq (null for an empty index). */
  minSeq(): number | null {
    return this.st.minSeq.get()?.seq ?? null;
  }

  /** Meta rows whose key starts with `prefix` (the sidecar's replica positions). */
  metaWithPrefix(prefix: string): { key: string; value: string }[] {
    return this.st.metaWithPrefix.all(prefix, prefix);
  }

  /**
   * Retention: drops seq-keyed rows at or below `cutoff`, the batches ending there, then the
   * blob and batch rows of the segments being dropped. Call inside tx() with the switch-over.
   */
  dropHistory(cutoff: number, segmentIds: readonly number[]): void {
    for (const t of SEQ_TABLES) this.st.deleteUpTo[t].run(cutoff);
    this.st.deleteBatchesUpTo.run(cutoff);
    for (const id of segmentIds) {
      this.st.deleteSegmentBlobs.run(id);
      this.st.deleteSegmentBatches.run(id);
      this.st.deleteSegment.run(id);
    }
  }

  /** Records `ts` for `seq` unless a time is known for it (a base keeps its cut's time). */
  insertTime(seq: number, ts: number): void {
    this.st.insertTime.run(seq, ts);
  }

  /**
   * Distinct block hashes written in (from, to]. An array, not an iterator: an open better-sqlite3
   * iterator makes every write on the connection fail ("busy"), and callers consume this across
   * awaits while appends go on.
   */
  hashesWrittenBetween(fromExclusive: number, toInclusive: number): Buffer[] {
    return this.st.hashesWrittenBetween.all(fromExclusive, toInclusive).map((r) => r.hash);
  }

  /** Ids of the checkpoints stamped at exactly `seq`. */
  checkpointIdsAt(seq: number): number[] {
    return this.st.checkpointIdsAt.all(seq).map((r) => r.id);
  }

  /** How many checkpoints lie at or after `seq`. */
  checkpointCountFrom(seq: number): number {
    return this.st.checkpointsFrom.get(seq)?.n ?? 0;
  }

  /** The id of the `offset`-th checkpoint (oldest first) at or after `seq`, or null. */
  checkpointIdFrom(seq: number, offset: number): number | null {
    return this.st.checkpointIdFrom.get(seq, offset)?.id ?? null;
  }

  /** Rows in one of the tables verify checks against the segments. */
  rowCount(table: CountedTable): number {
    return this.st.rowCount[table].get()?.n ?? 0;
  }

  /** The sparse timeline counts of [from, to] (ms, inclusive) in buckets of `size` ms. */
  timelineRows(from: number, to: number, size: number): TimelineRows {
    const range = this.st.seqRangeByTs.get(from, to);
    const checkpoints = this.st.bucketCheckpoints.all(size, from, to);
    const lo = range?.lo ?? null;
    const hi = range?.hi ?? null;
    // Times are non-decreasing in seq, so a time range is a seq range.
    if (lo === null || hi === null) return { records: [], bytes: [], files: [], checkpoints };
    return {
      records: this.st.bucketRecords.all(size, lo, hi),
      bytes: this.st.bucketBytes.all(size, lo, hi),
      files: this.st.bucketFiles.all(...[0, 1, 2, 3].flatMap(() => [size, lo, hi])),
      checkpoints,
    };
  }
}
