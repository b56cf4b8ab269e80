/**
 * Index work of one durable group of records: where each record sits in its
 * segment. Applying several groups in one SQLite transaction is what lets the
 * journal index lazily: a transaction's commit costs about as much as the
 * rows it holds (WAL pages of random B-tree keys), so many small groups are
 * far cheaper indexed together. Segments stay the source of truth: records
 * durable in a segment but not yet indexed are indexed on open (recovery).
 */
import type { Logger } from "../log/logger.js";
import { storedBlobLen } from "./codec.js";
import { type HighestIds, highestIds } from "./group-commit.js";
import type { JournalIndex } from "./index-db.js";
import type { JournalRecord } from "./records.js";

/**
 * One durable, not yet indexed group (one segment write). Its blob records
 * hold no block bytes (see {@link withoutBlockData}): `blobLens` has the
 * length the index stores for each (0 for other records).
 */
export interface IndexWork {
  readonly records: readonly JournalRecord[];
  readonly blobLens: readonly number[];
  /** Offset of each record's frame in its segment, in record order. */
  readonly offsets: readonly number[];
  readonly segmentId: number;
  /** Byte range of the group in its segment. */
  readonly start: number;
  readonly end: number;
  /** Seq of the group's last record. */
  readonly lastSeq: number;
}

/** Indexes `work` in order, in one transaction (all or nothing). */
export function applyIndexWork(index: JournalIndex, work: readonly IndexWork[]): void {
  index.tx(() => {
    for (const w of work) {
      insertTimes(index, w.records);
      w.records.forEach((rec, i) => {
        const loc = { segmentId: w.segmentId, offset: w.offsets[i]! };
        index.indexBody(rec, loc, 0, w.blobLens[i]);
      });
      index.insertBatch(w.records[0]!.seq, w.lastSeq, w.segmentId, w.start, w.end);
      index.updateSegment(w.segmentId, w.lastSeq, w.end);
    }
  });
}

/** The time row of every record: one statement per run of consecutive seqs at one ts. */
function insertTimes(index: JournalIndex, records: readonly JournalRecord[]): void {
  let first = 0;
  for (let i = 1; i <= records.length; i++) {
    const a = records[i - 1]!;
    const b = records[i];
    if (b !== undefined && b.seq === a.seq + 1 && b.ts === a.ts) continue;
    index.insertTimeRun(records[first]!.seq, a.seq, a.ts);
    first = i;
  }
}

const NO_DATA = Buffer.alloc(0);

/**
 * `records` as the index needs them once written: blob records without their
 * block bytes, and the stored length of each blob. A caller's block buffers
 * are then free (reused, even) as soon as its append resolves: nothing in the
 * journal reads them after the write.
 */
export function withoutBlockData(records: readonly JournalRecord[]): {
  records: JournalRecord[];
  blobLens: number[];
} {
  const blobLens = records.map((r) => (r.type === "blob" ? storedBlobLen(r) : 0));
  const out = records.map(
    (r): JournalRecord =>
      r.type === "blob"
        ? { type: "blob", seq: r.seq, ts: r.ts, hash: r.hash, data: NO_DATA, packed: r.packed }
        : r,
  );
  return { records: out, blobLens };
}

/** Lazily indexed records beyond this count are indexed at once (bounds memory). */
const MAX_UNINDEXED_RECORDS = 20_000;

/** Retry interval after a failed lazy index transaction, ms. */
const RETRY_MS = 500;

/**
 * The durable groups not indexed yet (AppendOptions.lazyIndex), the blocks
 * they store (so deduplication sees them before the index does) and the timer
 * that indexes them. `onIndexed` hears of every group once it is indexed, with its highest ids.
 */
export class IndexBacklog {
  private work: IndexWork[] = [];
  private records = 0;
  private readonly blobs = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly index: JournalIndex,
    private readonly log: Logger,
    private readonly onIndexed: (work: readonly IndexWork[], ids: HighestIds) => void,
  ) {}

  /** Whether a not yet indexed group stores the block with this hex hash. */
  hasBlob(key: string): boolean {
    return this.blobs.has(key);
  }

  /** Adds a durable group (its records as written: see withoutBlockData). */
  add(written: Omit<IndexWork, "blobLens">): void {
    const w: IndexWork = { ...written, ...withoutBlockData(written.records) };
    this.work.push(w);
    this.records += w.records.length;
    for (const rec of w.records) if (rec.type === "blob") this.blobs.add(rec.hash.toString("hex"));
  }

  /** More records wait than MAX_UNINDEXED_RECORDS allows. */
  get full(): boolean {
    return this.records > MAX_UNINDEXED_RECORDS;
  }

  /** Indexes what waits after `ms` (flushQuietly), unless that is already scheduled. */
  schedule(ms: number): void {
    this.timer ??= setTimeout(() => this.flushQuietly(), ms);
  }

  /**
   * Indexes every waiting group in one transaction, then tells onIndexed.
   * Throws, keeping the groups for a retry, when the index cannot be written.
   */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.work.length === 0) return;
    const work = this.work;
    applyIndexWork(this.index, work);
    this.work = [];
    this.records = 0;
    this.blobs.clear();
    const ids = highestIds(work.flatMap((w) => w.records));
    this.onIndexed(work, ids);
    // Checkpoint ids start at 1: a group that holds one trims the WAL.
    if (ids.checkpointId > 0) this.trimWal();
  }

  /**
   * After a checkpoint: the index's WAL into index.db, and cut (index-wal.ts).
   * A failure only leaves disk used, so it is logged and counted, not thrown:
   * the groups are indexed and the checkpoint stands.
   */
  private trimWal(): void {
    try {
      this.index.wal.trim();
    } catch (err) {
      this.log.warn({ err }, "journal index WAL could not be trimmed; it keeps its pages");
    }
  }

  /** flush from a timer or close: a failure is logged and retried, the records stay durable. */
  flushQuietly(): void {
    try {
      this.flush();
    } catch (err) {
      this.log.error({ err }, "journal index update failed; retrying (the records are durable)");
      if (!this.closed) this.schedule(RETRY_MS);
    }
  }

  /** Stops the timer for good (the journal is closing; recovery indexes what is left). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
