import { ErrorCode, PvjError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { silentLogger } from "../log/logger.js";
import { BlockPacker } from "./block-codec.js";
import { Followers } from "./followers.js";
import {
  type AppendResult,
  CommitQueue,
  type HighestIds,
  type PendingAppend,
  stampBatch,
} from "./group-commit.js";
import type { CheckpointRow, JournalIndex, SegmentRow } from "./index-db.js";
import { checkpointRowOf } from "./index-rows.js";
import { IndexBacklog, type IndexWork } from "./index-work.js";
import { releaseLock } from "./lock.js";
import { initMeta, journalBlockSize, openLockedIndex } from "./open-index.js";
import {
  type AppendOptions,
  type CheckpointInput,
  DEFAULT_SEGMENT_SIZE,
  INDEX_DELAY_MS,
  type JournalOptions,
  type JournalWindow,
} from "./options.js";
import { PinSet } from "./pins.js";
import type { BlobLocation } from "./plan.js";
import type { ReadScratch } from "./read-scratch.js";
import type { BlobRecord, CheckpointRecord, JournalRecord, RecordBody } from "./records.js";
import { recoverIndex } from "./recovery.js";
import { HEADER_BYTES } from "./segment-format.js";
import { type LocatedBlob, SegmentReaders } from "./segment-readers.js";
import { SegmentWriter } from "./segment-writer.js";

export type { AppendResult } from "./group-commit.js";

export {
  type AppendOptions,
  DEFAULT_BLOCK_SIZE,
  DEFAULT_SEGMENT_SIZE,
  INDEX_DELAY_MS,
  INDEX_FILE,
  type JournalOptions,
  type JournalWindow,
} from "./options.js";

/**
 * An append-only journal: segment files (the source of truth) and a SQLite
 * index. Appends are group-committed: every queued record is written, the
 * segment is fdatasync'ed, then the index transaction commits, and only then
 * do the callers' promises resolve.
 */
export class Journal {
  readonly dir: string;
  private bs: number;
  readonly segmentSize: number;
  readonly readOnly: boolean;
  /** @internal exposed for retention, verify and restore in this package. */
  readonly index: JournalIndex;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly readers: SegmentReaders;
  private readonly writer: SegmentWriter;
  private readonly commits: CommitQueue;
  /** Newest indexed seq and its ts: what readers see (lastSeq). */
  private seq = 0;
  private ts = 0;
  /** Newest durable seq and ts (records numbered, written and fdatasync'ed; maybe not indexed yet). */
  private stampSeq = 0;
  private stampTs = 0;
  private readonly backlog: IndexBacklog;
  private fileIdCounter = 0;
  private checkpointCounter = 0;
  private closed = false;
  private readonly followers = new Followers();
  private readonly pins = new PinSet();
  /** Bytes in all segments (for status and the size-limit warning). */
  private bytes = 0;

  private constructor(opts: JournalOptions, index: JournalIndex, blockSize: number) {
    this.dir = opts.dir;
    this.bs = blockSize;
    this.segmentSize = opts.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    this.readOnly = opts.readOnly === true;
    this.log = opts.logger ?? silentLogger();
    this.clock = opts.clock ?? Date.now;
    this.index = index;
    this.readers = new SegmentReaders(this.dir, index, opts.maxReadHandles);
    this.writer = new SegmentWriter({
      dir: this.dir,
      index,
      segmentSize: this.segmentSize,
      blockSize: () => this.bs,
      onCreate: () => {
        this.bytes += HEADER_BYTES;
      },
    });
    this.backlog = new IndexBacklog(index, this.log, (work, ids) => this.indexed(work, ids));
    const packer = new BlockPacker(opts.compression);
    this.commits = new CommitQueue((items) => this.writeBatch(items), packer);
  }

  /**
   * Opens a journal directory, creating it if needed (unless readOnly), and
   * recovers: a torn tail of the newest segment is truncated, records in
   * segments but not in the index are indexed, a missing index is rebuilt.
   * Damage anywhere else throws CorruptionError naming segment and offset.
   */
  static async open(opts: JournalOptions): Promise<Journal> {
    const index = await openLockedIndex(opts);
    const blockSize = await journalBlockSize(index, opts);
    const j = new Journal(opts, index, blockSize);
    try {
      if (!j.readOnly) initMeta(index, blockSize);
      if (!j.readOnly) await recoverIndex(j.dir, index, j.log);
      j.loadCounters();
      if (!j.readOnly) await j.writer.openNewest();
    } catch (err) {
      index.close();
      if (!j.readOnly) await releaseLock(opts.dir);
      throw err;
    }
    return j;
  }

  /** Bytes per tracked block; fixed once the journal holds anything. */
  get blockSize(): number {
    return this.bs;
  }

  /**
   * Adopts another journal's block size (a replica following a sidecar);
   * only while this journal is still empty, since block numbers depend on it.
   */
  adoptBlockSize(blockSize: number): void {
    if (blockSize === this.bs) return;
    if (this.stampSeq !== 0 || this.index.segments().length > 0) {
      throw new PvjError(
        ErrorCode.CONFIG_INVALID,
        `journal block size is ${this.bs}, the source's is ${blockSize}; a journal's block size cannot change once it holds records`,
        { key: "journal.blockSize", path: this.dir },
      );
    }
    this.bs = blockSize;
    this.index.setMeta("blockSize", String(blockSize));
  }

  /**
   * Keeps the state at `seq` restorable while a restore or drill reads it:
   * retention never folds past a pinned seq. Returns the release function.
   */
  pin(seq: number): () => void {
    return this.pins.pin(seq);
  }

  /** The oldest pinned seq, or undefined. */
  minPinnedSeq(): number | undefined {
    return this.pins.min();
  }

  /** Pins currently held (a leak shows as a count that never returns to 0). */
  get pinCount(): number {
    return this.pins.count;
  }

  /** Random id of this journal's history, made when the journal was created. */
  get id(): string {
    return this.index.getMeta("journalId") ?? "";
  }

  /** Oldest restorable seq after retention folded history (0 when nothing was folded). */
  get baseSeq(): number {
    return Number(this.index.getMeta("baseSeq") ?? "0");
  }

  /**
   * Resolves when records beyond `seq` are durable, or after `timeoutMs`
   * (whichever comes first): the change stream's way to follow the journal.
   */
  waitForAppend(seq: number, timeoutMs: number): Promise<void> {
    if (this.seq > seq || this.closed) return Promise.resolve();
    return this.followers.wait(timeoutMs);
  }

  /** Newest durable seq (0 for an empty journal). */
  get lastSeq(): number {
    return this.seq;
  }

  /** Timestamp of the newest durable record (0 for an empty journal). */
  get lastTs(): number {
    return this.ts;
  }

  /** Total bytes of segment files. */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** A new file identity (stable across renames). Not durable until used in a record. */
  allocateFileId(): number {
    this.fileIdCounter += 1;
    return this.fileIdCounter;
  }

  /**
   * Appends records, stamping each with the next seq and the current time.
   * Blob records whose hash is already stored are dropped (deduplication).
   * Resolves once the records are fsynced and indexed.
   */
  append(bodies: readonly RecordBody[], opts: AppendOptions = {}): Promise<AppendResult> {
    return this.enqueue(bodies, false, opts.lazyIndex === true);
  }

  /**
   * Appends records that already carry seq and ts (a replica receiving the
   * stream). Records at or below lastSeq are skipped, so a batch delivered
   * twice is harmless; seqs must otherwise increase.
   */
  appendStamped(records: readonly JournalRecord[]): Promise<AppendResult> {
    return this.enqueue(records, true, false);
  }

  /** Appends a checkpoint record and returns it once durable. */
  async checkpoint(input: CheckpointInput): Promise<CheckpointRow> {
    this.checkpointCounter += 1;
    const rec: CheckpointRecord = {
      type: "checkpoint",
      id: this.checkpointCounter,
      label: input.label,
      consistency: input.consistency,
      ...(input.hooks ? { hooks: input.hooks } : {}),
    };
    const r = await this.append([rec]);
    return checkpointRowOf(rec, r.lastSeq, r.ts);
  }

  /** Oldest and newest restorable positions, or null for an empty journal. */
  window(): JournalWindow | null {
    if (this.seq === 0) return null;
    const base = this.index.getMeta("baseSeq");
    const oldestSeq = base ? Number(base) : (this.index.minSeq() ?? 1);
    return {
      oldestSeq,
      oldestTs: this.index.tsAtSeq(oldestSeq) ?? this.ts,
      newestSeq: this.seq,
      newestTs: this.ts,
    };
  }

  /** A block's bytes by hash: frame checksum checked, decompressed (the caller checks the hash). */
  readBlob(hash: Buffer): Promise<Buffer> {
    return this.readers.readBlob(hash);
  }

  /** A block's record as stored, maybe compressed: retention and the stream copy it as is. */
  readStoredBlob(hash: Buffer): Promise<BlobRecord> {
    return this.readers.readStoredBlob(hash);
  }

  /**
   * readBlob without the thread pool (two async round trips per 4 KiB block,
   * ~40 us each, dominated restores); callers yield to the event loop. At a
   * location a plan recorded: `readBlobAtSync` (looked up again when it moved);
   * blocks stored together, one pread: `readBlobRunSync` (segment-readers.ts).
   * With a scratch, blocks are views of it until its next read (read-scratch.ts).
   */
  readBlobSync(hash: Buffer, scratch?: ReadScratch): Buffer {
    return this.readers.readBlobSync(hash, scratch);
  }
  readBlobAtSync(hash: Buffer, at: BlobLocation, scratch?: ReadScratch): Buffer {
    return this.readers.readBlobAtSync(hash, at, scratch);
  }
  readBlobRunSync(run: readonly LocatedBlob[], scratch?: ReadScratch): Buffer[] {
    return this.readers.readBlobRunSync(run, scratch);
  }

  /** Reads every stored record with seq >= `from`, in order (the change stream). */
  records(from: number): AsyncGenerator<JournalRecord> {
    return this.readers.records(from);
  }

  /** Segment rows with their file names (verify and retention walk them). */
  segments(): SegmentRow[] {
    return this.index.segments();
  }

  /** Flushes pending appends, closes files and the index, releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.commits.idle();
    this.backlog.flushQuietly();
    this.closed = true;
    this.backlog.close();
    this.followers.wake();
    await this.readers.close();
    await this.writer.close();
    this.index.close();
    if (!this.readOnly) await releaseLock(this.dir);
  }

  // --- internals -----------------------------------------------------------

  private enqueue(
    records: readonly RecordBody[] | readonly JournalRecord[],
    stamped: boolean,
    lazy: boolean,
  ): Promise<AppendResult> {
    if (this.closed)
      return Promise.reject(new PvjError(ErrorCode.JOURNAL_CLOSED, "journal is closed"));
    if (this.readOnly)
      return Promise.reject(new PvjError(ErrorCode.JOURNAL_CLOSED, "journal is open read-only"));
    return this.commits.push({ records, stamped, lazy });
  }

  /**
   * Runs `fn` with appends paused (queued, not lost): retention and other
   * maintenance see a journal that does not move under them.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.commits.exclusive(() => {
      // Maintenance reads the index: everything durable is indexed first.
      this.backlog.flush();
      return fn();
    });
  }

  /** Id of the segment appends go to (retention never drops it). */
  activeSegmentId(): number | null {
    return this.writer.activeId;
  }

  /** Re-reads segment names and sizes after maintenance replaced segment files. */
  async segmentsChanged(): Promise<void> {
    this.backlog.flush();
    await this.invalidateReaders();
    const segs = this.index.segments();
    this.bytes = segs.reduce((a, s) => a + s.bytes, 0);
    // A replica's base replaced every segment: the next append starts a new one.
    await this.writer.dropUnlessIn(segs);
    const last = this.index.lastTime();
    if (last && last.seq > this.seq) {
      this.seq = last.seq;
      this.ts = Math.max(this.ts, last.ts);
    }
    this.stampSeq = Math.max(this.stampSeq, this.seq);
    this.stampTs = Math.max(this.stampTs, this.ts);
    this.fileIdCounter = Math.max(this.fileIdCounter, this.index.maxFileId());
    this.checkpointCounter = Math.max(this.checkpointCounter, this.index.lastCheckpoint()?.id ?? 0);
  }

  /** Stamps, frames, writes and fdatasyncs one group of appends; indexes it now or soon. */
  private async writeBatch(items: readonly PendingAppend[]): Promise<AppendResult[]> {
    const { out, results, seq } = stampBatch(
      items,
      this.stampSeq,
      Math.max(this.clock(), this.stampTs),
      (hash, key) => this.backlog.hasBlob(key) || this.index.hasBlob(hash),
    );
    if (out.length === 0) return results;

    const { segment: seg, start, end, offsets } = await this.writer.write(out);
    seg.size = end;
    this.bytes += end - start;
    this.stampSeq = seq;
    this.stampTs = Math.max(this.stampTs, out[out.length - 1]!.ts);
    this.backlog.add({ records: out, offsets, segmentId: seg.id, start, end, lastSeq: seq });
    if (items.some((it) => !it.lazy) || this.backlog.full) this.backlog.flush();
    else this.backlog.schedule(INDEX_DELAY_MS);
    return results;
  }

  /** Groups just indexed: lastSeq moves and followers wake. */
  private indexed(work: readonly IndexWork[], ids: HighestIds): void {
    const last = work[work.length - 1]!;
    this.seq = last.lastSeq;
    this.ts = Math.max(this.ts, last.records[last.records.length - 1]!.ts);
    this.followers.wake();
    this.checkpointCounter = Math.max(this.checkpointCounter, ids.checkpointId);
    this.fileIdCounter = Math.max(this.fileIdCounter, ids.fileId);
  }

  /** Drops cached read handles (retention replaced segments). */
  invalidateReaders(): Promise<void> {
    return this.readers.invalidate();
  }

  private loadCounters(): void {
    const last = this.index.lastTime();
    this.seq = last?.seq ?? 0;
    this.ts = last?.ts ?? 0;
    this.stampSeq = this.seq;
    this.stampTs = this.ts;
    this.fileIdCounter = this.index.maxFileId();
    this.checkpointCounter = this.index.lastCheckpoint()?.id ?? 0;
    this.bytes = this.index.segments().reduce((a, s) => a + s.bytes, 0);
  }
}
