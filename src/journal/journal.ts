import { randomUUID } from "node:crypto";
import { closeSync, existsSync, openSync } from "node:fs";
import { type FileHandle, mkdir, open, readdir, stat, truncate, unlink } from "node:fs/promises";
import { join } from "node:path";
import { CorruptionError, ErrorCode, PvjError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { silentLogger } from "../log/logger.js";
import { fsyncDir, unwritten } from "../util/fs.js";
import { decodeRecord, encodeRecord } from "./codec.js";
import { type CheckpointRow, JournalIndex, type SegmentRow } from "./index-db.js";
import { applyIndexWork, type IndexWork } from "./index-work.js";
import { releaseLock, takeLock } from "./lock.js";
import { PinSet } from "./pins.js";
import type {
  CheckpointRecord,
  Consistency,
  HookOutcome,
  JournalRecord,
  RecordBody,
} from "./records.js";
import {
  checkFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  HEADER_BYTES,
  parseSegmentFileName,
  SegmentKind,
  segmentFileName,
} from "./segment-format.js";
import {
  createSegmentFile,
  readFrameAt,
  readFrameAtSync,
  readSegmentHeader,
  scanSegment,
} from "./segment-io.js";

/** Name of the SQLite index inside a journal directory. */
export const INDEX_FILE = "index.db";
/** Default segment rollover: 64 MiB keeps rewrite-on-retention cheap and file counts low. */
export const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;
/** Default change-tracking granularity. */
export const DEFAULT_BLOCK_SIZE = 64 * 1024;
const BLOB_PREFIX = 1 + 8 + 8 + 16;

/** Options for Journal.open. */
export interface JournalOptions {
  readonly dir: string;
  /** Bytes per tracked block; fixed for the life of a journal (stored in the index). */
  readonly blockSize?: number;
  readonly segmentSize?: number;
  readonly logger?: Logger;
  /** Read without recovery or locking: offline reads while a daemon may be running. */
  readonly readOnly?: boolean;
  /** Clock in ms (tests inject one). */
  readonly clock?: () => number;
}

/** Seq range and time of an appended group of records. */
export interface AppendResult {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly ts: number;
}

/** Options of Journal.append. */
export interface AppendOptions {
  /**
   * Resolve once the records are durable in their segment (fdatasync), and
   * index them within INDEX_DELAY_MS together with what follows: for callers
   * that only need durability (intercept capture's fsync). lastSeq and the
   * index move only when they are indexed. Default false.
   */
  readonly lazyIndex?: boolean;
}

/** How long lazily indexed records may wait for their index transaction, ms. */
export const INDEX_DELAY_MS = 100;
/** Lazily indexed records beyond this count are indexed at once (bounds memory). */
const MAX_UNINDEXED_RECORDS = 20_000;

/** Oldest and newest restorable positions. */
export interface JournalWindow {
  readonly oldestSeq: number;
  readonly oldestTs: number;
  readonly newestSeq: number;
  readonly newestTs: number;
}

interface Pending {
  readonly records: readonly RecordBody[] | readonly JournalRecord[];
  readonly stamped: boolean;
  /** Resolve once durable in the segment; the index may follow (see AppendOptions). */
  readonly lazy: boolean;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

interface ActiveSegment {
  readonly id: number;
  readonly name: string;
  readonly fh: FileHandle;
  size: number;
}

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
  private active: ActiveSegment | null = null;
  private readonly readers = new Map<number, Promise<FileHandle>>();
  private segmentNames = new Map<number, string>();
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private paused: Promise<void> | null = null;
  /** Newest indexed seq and its ts: what readers see (lastSeq). */
  private seq = 0;
  private ts = 0;
  /** Newest durable seq and ts (records numbered, written and fdatasync'ed; maybe not indexed yet). */
  private stampSeq = 0;
  private stampTs = 0;
  private unindexed: IndexWork[] = [];
  private unindexedRecords = 0;
  private readonly unindexedBlobs = new Set<string>();
  private indexTimer: NodeJS.Timeout | null = null;
  private fileIdCounter = 0;
  private checkpointCounter = 0;
  private closed = false;
  private waiters: (() => void)[] = [];
  private readonly pins = new PinSet();
  private readonly syncFds = new Map<number, number>();
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
  }

  /**
   * Opens a journal directory, creating it if needed (unless readOnly), and
   * recovers: a torn tail of the newest segment is truncated, records in
   * segments but not in the index are indexed, a missing index is rebuilt.
   * Damage anywhere else throws CorruptionError naming segment and offset.
   */
  static async open(opts: JournalOptions): Promise<Journal> {
    if (opts.readOnly) {
      if (!existsSync(join(opts.dir, INDEX_FILE))) {
        throw new PvjError(
          ErrorCode.NOT_FOUND,
          `no journal at ${opts.dir} (missing ${INDEX_FILE})`,
          { path: opts.dir },
        );
      }
    } else {
      await mkdir(opts.dir, { recursive: true });
      await takeLock(opts.dir);
    }
    const indexPath = join(opts.dir, INDEX_FILE);
    const fresh = !existsSync(indexPath);
    let index: JournalIndex;
    try {
      index = new JournalIndex(indexPath, fresh);
    } catch (err) {
      if (!opts.readOnly) await releaseLock(opts.dir);
      throw new CorruptionError(
        `cannot open index ${indexPath}: ${(err as Error).message}`,
        { path: indexPath, hint: "delete index.db to rebuild it from the segments" },
        err,
      );
    }
    const stored = index.getMeta("blockSize") ?? (await blockSizeFromSegments(opts.dir));
    const blockSize = stored ? Number(stored) : (opts.blockSize ?? DEFAULT_BLOCK_SIZE);
    if (stored && opts.blockSize !== undefined && opts.blockSize !== blockSize) {
      opts.logger?.warn(
        { configured: opts.blockSize, stored: blockSize },
        "journal.blockSize differs from the journal's; using the journal's",
      );
    }
    const j = new Journal(opts, index, blockSize);
    try {
      // Identifies this journal's history: a replica refuses a stream from a
      // different journal (a sidecar whose journal was lost and started anew).
      if (index.getMeta("journalId") === null && !j.readOnly)
        index.setMeta("journalId", randomUUID());
      if (index.getMeta("blockSize") === null && !j.readOnly)
        index.setMeta("blockSize", String(blockSize));
      if (!j.readOnly) await j.recover();
      j.loadCounters();
      if (!j.readOnly) await j.openActive();
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
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
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
  async checkpoint(input: {
    label: string | null;
    consistency: Consistency;
    hooks?: { pre?: HookOutcome; post?: HookOutcome };
  }): Promise<CheckpointRow> {
    this.checkpointCounter += 1;
    const rec: CheckpointRecord = {
      type: "checkpoint",
      id: this.checkpointCounter,
      label: input.label,
      consistency: input.consistency,
      ...(input.hooks ? { hooks: input.hooks } : {}),
    };
    const r = await this.append([rec]);
    return {
      id: rec.id,
      seq: r.lastSeq,
      ts: r.ts,
      label: rec.label,
      consistency: rec.consistency,
      hooks: input.hooks ?? null,
    };
  }

  /** Oldest and newest restorable positions, or null for an empty journal. */
  window(): JournalWindow | null {
    if (this.seq === 0) return null;
    const base = this.index.getMeta("baseSeq");
    const oldestSeq = base
      ? Number(base)
      : (this.index.all<{ seq: number }>("SELECT min(seq) AS seq FROM times")[0]?.seq ?? 1);
    return {
      oldestSeq,
      oldestTs: this.index.tsAtSeq(oldestSeq) ?? this.ts,
      newestSeq: this.seq,
      newestTs: this.ts,
    };
  }

  /** Reads a block's bytes by hash, checking the frame checksum (the caller checks the hash). */
  async readBlob(hash: Buffer): Promise<Buffer> {
    const loc = this.blobLocation(hash);
    const fh = await this.reader(loc.segment_id);
    const name = this.segmentNames.get(loc.segment_id) ?? `#${loc.segment_id}`;
    return blobData(
      await readFrameAt(fh, name, loc.offset, BLOB_PREFIX + loc.len),
      name,
      loc.offset,
      hash,
    );
  }

  /**
   * readBlob without the thread pool: a restore of a journal with 4 KiB blocks
   * spends most of its time in two async round trips per block (~40 us each)
   * otherwise. Callers doing many reads yield to the event loop themselves.
   */
  readBlobSync(hash: Buffer): Buffer {
    const loc = this.blobLocation(hash);
    if (this.closed) throw new PvjError(ErrorCode.JOURNAL_CLOSED, "journal is closed");
    if (!this.segmentNames.has(loc.segment_id)) this.refreshSegmentNames();
    const name = this.segmentNames.get(loc.segment_id);
    if (name === undefined)
      throw new CorruptionError(`index refers to unknown segment #${loc.segment_id}`);
    let fd = this.syncFds.get(loc.segment_id);
    if (fd === undefined) {
      fd = openSync(join(this.dir, name), "r");
      this.syncFds.set(loc.segment_id, fd);
    }
    return blobData(
      readFrameAtSync(fd, name, loc.offset, BLOB_PREFIX + loc.len),
      name,
      loc.offset,
      hash,
    );
  }

  /** Where a block's bytes are stored; CorruptionError when the index has no such block. */
  private blobLocation(hash: Buffer): { segment_id: number; offset: number; len: number } {
    const loc = this.index.blob(hash);
    if (!loc) {
      throw new CorruptionError(`block ${hash.toString("hex")} is referenced but not stored`, {
        hint: "the index or a segment is damaged; run `pvjournal verify`",
      });
    }
    return loc;
  }

  private closeSyncFds(): void {
    for (const fd of this.syncFds.values()) closeSync(fd);
    this.syncFds.clear();
  }

  /** Reads every stored record with seq >= `from`, in order (the change stream). */
  async *records(from: number): AsyncGenerator<JournalRecord> {
    let next = from;
    const base = Number(this.index.getMeta("baseSeq") ?? "0");
    if (base > 0 && from <= base) {
      // History below the base is folded: a reader from before it gets the
      // base (the whole state at baseSeq, every record stamped baseSeq) first.
      const row = this.index.segments().find((s) => s.kind === SegmentKind.base);
      if (row) yield* this.readRange(row.id, HEADER_BYTES, row.bytes, 0);
      next = base + 1;
    }
    for (;;) {
      const batch = this.index.batchFrom(next);
      if (!batch) return;
      yield* this.readRange(batch.segment_id, batch.offset, batch.end_offset, next);
      next = batch.last_seq + 1;
    }
  }

  private async *readRange(
    segmentId: number,
    start: number,
    end: number,
    minSeq: number,
  ): AsyncGenerator<JournalRecord> {
    const fh = await this.reader(segmentId);
    const name = this.segmentNames.get(segmentId) ?? `#${segmentId}`;
    const buf = Buffer.allocUnsafe(end - start);
    await fh.read(buf, 0, buf.length, start);
    let off = 0;
    while (off < buf.length) {
      const frame = checkFrame(buf, off);
      if (!frame.ok) {
        throw new CorruptionError(
          `segment ${name} is damaged at offset ${start + off} (${frame.reason})`,
          {
            segment: name,
            offset: start + off,
          },
        );
      }
      const rec = decodeRecord(Buffer.from(frame.payload));
      if (rec.seq >= minSeq) yield rec;
      off = frame.next;
    }
  }

  /** Segment rows with their file names (verify and retention walk them). */
  segments(): SegmentRow[] {
    return this.index.segments();
  }

  /** Flushes pending appends, closes files and the index, releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing) await this.flushing;
    this.flushIndexQuietly();
    this.closed = true;
    if (this.indexTimer) clearTimeout(this.indexTimer);
    this.indexTimer = null;
    for (const w of this.waiters.splice(0)) w();
    this.closeSyncFds();
    for (const fh of this.readers.values()) await fh.then((h) => h.close()).catch(() => undefined);
    this.readers.clear();
    if (this.active) {
      await this.active.fh.close().catch(() => undefined);
      this.active = null;
    }
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
    return new Promise((resolve, reject) => {
      this.queue.push({ records, stamped, lazy, resolve, reject });
      this.kick();
    });
  }

  /**
   * Runs `fn` with appends paused (queued, not lost): retention and other
   * maintenance see a journal that does not move under them.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.paused) await this.paused;
    let release!: () => void;
    this.paused = new Promise<void>((r) => {
      release = r;
    });
    try {
      while (this.flushing) await this.flushing;
      // Maintenance reads the index: everything durable is indexed first.
      this.flushIndex();
      return await fn();
    } finally {
      this.paused = null;
      release();
      this.kick();
    }
  }

  /** Id of the segment appends go to (retention never drops it). */
  activeSegmentId(): number | null {
    return this.active?.id ?? null;
  }

  /** Re-reads segment names and sizes after maintenance replaced segment files. */
  async segmentsChanged(): Promise<void> {
    this.flushIndex();
    await this.invalidateReaders();
    const segs = this.index.segments();
    this.bytes = segs.reduce((a, s) => a + s.bytes, 0);
    if (this.active && !segs.some((s) => s.id === this.active?.id)) {
      // A replica's base replaced every segment: the next append starts a new one.
      await this.active.fh.close().catch(() => undefined);
      this.active = null;
    }
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

  private kick(): void {
    if (this.paused || this.flushing || this.queue.length === 0) return;
    this.flushing = this.drain().finally(() => {
      this.flushing = null;
      this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const items = this.queue.splice(0);
      try {
        const results = await this.writeBatch(items);
        items.forEach((it, i) => {
          it.resolve(results[i]!);
        });
      } catch (err) {
        for (const it of items) it.reject(err);
      }
    }
  }

  /** Stamps, frames, writes, fdatasyncs and indexes one group of appends. */
  private async writeBatch(items: readonly Pending[]): Promise<AppendResult[]> {
    const ts = Math.max(this.clock(), this.stampTs);
    let seq = this.stampSeq;
    const seen = new Set<string>();
    const out: JournalRecord[] = [];
    const results: AppendResult[] = [];
    for (const it of items) {
      const first = seq + 1;
      let itemTs = ts;
      for (const r of it.records) {
        let rec: JournalRecord;
        if (it.stamped) {
          const s = r as JournalRecord;
          if (s.seq <= seq) continue; // already stored: idempotent redelivery
          seq = s.seq;
          itemTs = s.ts;
          rec = s;
        } else {
          seq += 1;
          rec = { ...(r as RecordBody), seq, ts } as JournalRecord;
        }
        if (rec.type === "blob") {
          const key = rec.hash.toString("hex");
          if (seen.has(key) || this.unindexedBlobs.has(key) || this.index.hasBlob(rec.hash)) {
            if (!it.stamped) seq -= 1; // local duplicate: never stored, seq not consumed
            continue;
          }
          seen.add(key);
        }
        out.push(rec);
      }
      results.push({ firstSeq: Math.min(first, seq), lastSeq: seq, ts: itemTs });
    }
    if (out.length === 0) return results;

    const payloads = out.map((r) => encodeRecord(r));
    const frames: Buffer[] = [];
    let bytes = 0;
    for (const p of payloads) {
      frames.push(...encodeFrame(p));
      bytes += FRAME_HEADER_BYTES + p.length;
    }
    const seg = await this.segmentFor(bytes, out[0]!.seq);
    const start = seg.size;
    try {
      await writeAll(seg.fh, frames, start);
      await seg.fh.datasync();
    } catch (err) {
      // Leave no half-batch behind: the tail is cut back to the last commit.
      await seg.fh.truncate(start).catch(() => undefined);
      throw new PvjError(
        ErrorCode.IO_ERROR,
        `journal write failed: ${(err as Error).message}`,
        { segment: seg.name },
        err,
      );
    }
    const end = start + bytes;
    seg.size = end;
    this.bytes += bytes;
    this.stampSeq = seq;
    this.stampTs = Math.max(this.stampTs, out[out.length - 1]!.ts);
    this.unindexed.push({ records: out, payloads, segmentId: seg.id, start, end, lastSeq: seq });
    this.unindexedRecords += out.length;
    for (const rec of out)
      if (rec.type === "blob") this.unindexedBlobs.add(rec.hash.toString("hex"));
    if (items.some((it) => !it.lazy) || this.unindexedRecords > MAX_UNINDEXED_RECORDS) {
      this.flushIndex();
    } else {
      this.indexTimer ??= setTimeout(() => this.flushIndexQuietly(), INDEX_DELAY_MS);
    }
    return results;
  }

  /**
   * Indexes every durable group not indexed yet, in one transaction, then
   * moves lastSeq and wakes followers. Throws (keeping the work for a retry)
   * when the index cannot be written.
   */
  private flushIndex(): void {
    if (this.indexTimer) clearTimeout(this.indexTimer);
    this.indexTimer = null;
    if (this.unindexed.length === 0) return;
    const work = this.unindexed;
    applyIndexWork(this.index, work);
    this.unindexed = [];
    this.unindexedRecords = 0;
    this.unindexedBlobs.clear();
    const last = work[work.length - 1]!;
    this.seq = last.lastSeq;
    this.ts = Math.max(this.ts, last.records[last.records.length - 1]!.ts);
    for (const w of this.waiters.splice(0)) w();
    for (const w of work) {
      for (const rec of w.records) {
        if (rec.type === "checkpoint")
          this.checkpointCounter = Math.max(this.checkpointCounter, rec.id);
        if (
          rec.type === "link" ||
          rec.type === "attr" ||
          rec.type === "size" ||
          rec.type === "write"
        ) {
          this.fileIdCounter = Math.max(this.fileIdCounter, rec.fileId);
        }
      }
    }
  }

  /** flushIndex from a timer or close: a failure is logged and retried, the records stay durable. */
  private flushIndexQuietly(): void {
    try {
      this.flushIndex();
    } catch (err) {
      this.log.error({ err }, "journal index update failed; retrying (the records are durable)");
      if (!this.closed) this.indexTimer ??= setTimeout(() => this.flushIndexQuietly(), 500);
    }
  }

  /** The active segment, rolled over first if `bytes` would push it past segmentSize. */
  private async segmentFor(bytes: number, firstSeq: number): Promise<ActiveSegment> {
    const cur = this.active;
    if (cur && (cur.size === HEADER_BYTES || cur.size + bytes <= this.segmentSize)) return cur;
    if (cur) await cur.fh.close();
    const name = segmentFileName(SegmentKind.log, firstSeq);
    const fh = await createSegmentFile(join(this.dir, name), SegmentKind.log, this.blockSize);
    await fsyncDir(this.dir);
    const id = this.index.insertSegment(
      name,
      SegmentKind.log,
      firstSeq,
      firstSeq - 1,
      HEADER_BYTES,
    );
    this.segmentNames.set(id, name);
    this.bytes += HEADER_BYTES;
    this.active = { id, name, fh, size: HEADER_BYTES };
    return this.active;
  }

  private reader(segmentId: number): Promise<FileHandle> {
    // Promises are cached, not handles: two concurrent reads of a new segment
    // must share one open() instead of leaking the loser's descriptor.
    const cached = this.readers.get(segmentId);
    if (cached) return cached;
    // A read racing close() must not open a handle nobody will close.
    if (this.closed)
      return Promise.reject(new PvjError(ErrorCode.JOURNAL_CLOSED, "journal is closed"));
    if (!this.segmentNames.has(segmentId)) this.refreshSegmentNames();
    const name = this.segmentNames.get(segmentId);
    if (!name)
      return Promise.reject(new CorruptionError(`index refers to unknown segment #${segmentId}`));
    const p = open(join(this.dir, name), "r");
    this.readers.set(segmentId, p);
    p.catch(() => this.readers.delete(segmentId));
    return p;
  }

  /** Drops cached read handles (retention replaced segments). */
  async invalidateReaders(): Promise<void> {
    this.closeSyncFds();
    for (const fh of this.readers.values()) await fh.then((h) => h.close()).catch(() => undefined);
    this.readers.clear();
    this.refreshSegmentNames();
  }

  private refreshSegmentNames(): void {
    this.segmentNames = new Map(this.index.segments().map((s) => [s.id, s.name]));
  }

  private loadCounters(): void {
    const last = this.index.lastTime();
    this.seq = last?.seq ?? 0;
    this.ts = last?.ts ?? 0;
    this.stampSeq = this.seq;
    this.stampTs = this.ts;
    this.fileIdCounter = this.index.maxFileId();
    this.checkpointCounter = this.index.lastCheckpoint()?.id ?? 0;
    this.refreshSegmentNames();
    this.bytes = this.index.segments().reduce((a, s) => a + s.bytes, 0);
  }

  private async openActive(): Promise<void> {
    const logs = this.index.segments().filter((s) => s.kind === SegmentKind.log);
    const last = logs[logs.length - 1];
    if (!last) return;
    const fh = await open(join(this.dir, last.name), "r+");
    this.active = { id: last.id, name: last.name, fh, size: last.bytes };
  }

  /**
   * Brings the index in line with the segments (see `open`). Segments known to
   * the index must be at least as long as their committed length; bytes past
   * it are either whole fsynced batches whose index commit was lost (indexed
   * now) or a torn tail of the newest segment (truncated). Unknown segment
   * files whose records are all already covered are leftovers of an
   * interrupted retention (removed). Without an index, the newest base
   * segment plus the log segments after it are indexed from scratch.
   */
  private async recover(): Promise<void> {
    const known = new Map(this.index.segments().map((s) => [s.name, s]));
    const names = (await readdir(this.dir)).filter((n) => parseSegmentFileName(n) !== null);
    for (const s of known.values()) {
      if (!names.includes(s.name)) {
        throw new CorruptionError(`segment ${s.name} is in the index but missing on disk`, {
          segment: s.name,
          hint: "restore the file, or delete index.db to rebuild from the remaining segments",
        });
      }
    }
    const parsed = names
      .map((n) => ({ name: n, ...parseSegmentFileName(n)! }))
      .sort((a, b) => a.firstSeq - b.firstSeq);
    const bases = parsed.filter((s) => s.kind === SegmentKind.base);
    const logs = parsed.filter((s) => s.kind === SegmentKind.log);
    const rebuilding = known.size === 0 && parsed.length > 0;
    if (rebuilding)
      this.log.warn(
        { dir: this.dir, segments: parsed.length },
        "index missing or empty: rebuilding from segments",
      );
    let maxSeq = this.index.lastTime()?.seq ?? 0;
    let baseSeq = Number(this.index.getMeta("baseSeq") ?? "0");

    // A base the index does not know is an uncommitted retention (dropped; it
    // reruns later) unless we are rebuilding, when the newest base is the floor.
    const useBase = rebuilding ? bases[bases.length - 1] : undefined;
    for (const b of bases) {
      if (known.has(b.name) || b === useBase) continue;
      this.log.warn({ segment: b.name }, "removing base segment of an interrupted retention");
      await unlink(join(this.dir, b.name));
    }
    if (useBase) {
      const scan = await scanSegment(join(this.dir, useBase.name));
      if (scan.damage) {
        throw new CorruptionError(
          `base segment ${useBase.name} is damaged at offset ${scan.damage.offset} (${scan.damage.reason})`,
          {
            segment: useBase.name,
            offset: scan.damage.offset,
          },
        );
      }
      this.index.tx(() => {
        const id = this.index.insertSegment(
          useBase.name,
          SegmentKind.base,
          useBase.firstSeq,
          useBase.firstSeq,
          scan.validEnd,
        );
        scan.records.forEach(({ record, offset }, ord) => {
          this.index.indexRecord(record, { segmentId: id, offset }, ord);
        });
        baseSeq = useBase.firstSeq;
        maxSeq = Math.max(maxSeq, baseSeq);
        this.index.setMeta("baseSeq", String(baseSeq));
        if (scan.records.length > 0)
          this.index.insertBatch(baseSeq, baseSeq, id, HEADER_BYTES, scan.validEnd);
      });
    }

    const lastLog = logs[logs.length - 1]?.name;
    for (const seg of logs) {
      const path = join(this.dir, seg.name);
      const row = known.get(seg.name);
      if (row) {
        const size = (await stat(path)).size;
        if (size < row.bytes) {
          throw new CorruptionError(
            `segment ${seg.name} is ${size} bytes but ${row.bytes} were committed`,
            {
              segment: seg.name,
              offset: size,
            },
          );
        }
        if (size === row.bytes) continue;
      }
      const scan = await scanSegment(path, row ? row.bytes : HEADER_BYTES);
      if (!row && scan.validEnd === 0) {
        if (seg.name === lastLog && scan.fileSize < HEADER_BYTES) {
          // Crashed while creating the file: nothing in it was ever acknowledged.
          await unlink(path);
          continue;
        }
        throw new CorruptionError(`segment ${seg.name} has a bad header`, {
          segment: seg.name,
          offset: 0,
        });
      }
      if (scan.damage) {
        if (seg.name !== lastLog) {
          throw new CorruptionError(
            `segment ${seg.name} is damaged at offset ${scan.damage.offset} (${scan.damage.reason})`,
            {
              segment: seg.name,
              offset: scan.damage.offset,
              hint: "run `pvjournal verify` for a full report",
            },
          );
        }
        this.log.warn(
          { segment: seg.name, offset: scan.damage.offset, reason: scan.damage.reason },
          "truncating torn tail",
        );
        await truncate(path, scan.validEnd);
        await fsyncFile(path);
      }
      const floor = Math.max(maxSeq, baseSeq);
      const fresh = scan.records.filter((r) => r.record.seq > floor);
      if (!row && fresh.length === 0 && scan.records.length > 0) {
        this.log.warn(
          { segment: seg.name },
          "removing leftover segment whose records are all covered",
        );
        await unlink(path);
        continue;
      }
      this.index.tx(() => {
        const id =
          row?.id ??
          this.index.insertSegment(
            seg.name,
            seg.kind,
            seg.firstSeq,
            seg.firstSeq - 1,
            HEADER_BYTES,
          );
        for (const { record, offset } of scan.records) {
          if (record.seq > floor) this.index.indexRecord(record, { segmentId: id, offset }, 0);
          // Blocks stored before the base may still back live writes.
          else if (record.type === "blob")
            this.index.indexBlobLocation(record.hash, id, offset, record.data.length);
        }
        const first = fresh[0];
        if (first) {
          maxSeq = fresh[fresh.length - 1]!.record.seq;
          this.index.insertBatch(first.record.seq, maxSeq, id, first.offset, scan.validEnd);
        }
        this.index.updateSegment(id, Math.max(maxSeq, row?.last_seq ?? 0), scan.validEnd);
      });
    }
  }
}

/** The block size recorded in the segment headers (for an index rebuild), or null. */
async function blockSizeFromSegments(dir: string): Promise<string | null> {
  const names = existsSync(dir) ? await readdir(dir) : [];
  for (const n of names.filter((x) => parseSegmentFileName(x) !== null)) {
    const h = await readSegmentHeader(join(dir, n)).catch(() => null);
    if (h && h.blockSize > 0) return String(h.blockSize);
  }
  return null;
}

/** The data of a blob payload read at `offset`, checked to be the block `hash` names. */
function blobData(payload: Buffer, segment: string, offset: number, hash: Buffer): Buffer {
  const rec = decodeRecord(payload);
  if (rec.type !== "blob" || !rec.hash.equals(hash)) {
    throw new CorruptionError(
      `segment ${segment} offset ${offset} does not hold block ${hash.toString("hex")}`,
      {
        segment,
        offset,
      },
    );
  }
  return rec.data;
}

async function writeAll(fh: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let pos = position;
  let rest = buffers;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, pos);
    pos += bytesWritten;
    rest = unwritten(rest, bytesWritten);
  }
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, "r+");
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
