/**
 * The capture's append batch: records a sync pass queues, appended to the
 * journal in bounded batches, and the running totals they are counted in.
 */
import type { Journal } from "../journal/journal.js";
import type { RecordBody } from "../journal/records.js";
import { releaseBlock } from "./block-slabs.js";

/**
 * Records are appended once this many block bytes are queued (bounds memory
 * per batch). 4 MiB, not 16: block copies that wait in a batch across many
 * minor GCs are promoted and freed only by a major GC, so the batch size sets
 * how much dead memory the initial scan piles up. At 100k files of 1-8 KiB:
 * peak RSS 310-313 MiB against 336-343 MiB at 16 MiB, for a scan 2-4 s longer
 * (~10%, more appends and fdatasyncs; watch-scale, 2026-12-03).
 */
export const BATCH_FLUSH_BYTES = 4 * 1024 * 1024;

/** Running totals, for status and metrics. */
export interface CaptureCounters {
  records: number;
  /** Block bytes handed to the journal (before its deduplication). */
  blobBytes: number;
  appends: number;
  filesRead: number;
  bytesRead: number;
  renames: number;
  unlinks: number;
  visited: number;
}

/** Fresh zeroed counters. */
export function newCounters(): CaptureCounters {
  return {
    records: 0,
    blobBytes: 0,
    appends: 0,
    filesRead: 0,
    bytesRead: 0,
    renames: 0,
    unlinks: 0,
    visited: 0,
  };
}

/** Records queued for one append; `failed` marks that the journal refused them. */
export class AppendBatch {
  private records: RecordBody[] = [];
  private bytes = 0;
  failed = false;

  constructor(
    private readonly journal: Journal,
    private readonly counters: CaptureCounters,
  ) {}

  /** Queues records for the next flush. */
  add(records: readonly RecordBody[]): void {
    for (const r of records) {
      this.records.push(r);
      if (r.type === "blob") this.bytes += r.data.length;
    }
  }

  /** Appends what is queued (one journal append) and counts it. */
  async flush(): Promise<void> {
    if (this.records.length === 0) return;
    const records = this.records;
    const bytes = this.bytes;
    this.records = [];
    this.bytes = 0;
    try {
      await this.journal.append(records);
    } catch (err) {
      this.failed = true;
      throw err;
    }
    // Written: the journal reads no block bytes after this, so the reader's slabs may be reused.
    for (const r of records) if (r.type === "blob") releaseBlock(r.data);
    this.counters.appends += 1;
    this.counters.records += records.length;
    this.counters.blobBytes += bytes;
  }

  /** True once BATCH_FLUSH_BYTES of block data are queued. */
  get full(): boolean {
    return this.bytes >= BATCH_FLUSH_BYTES;
  }

  /** Flushes once BATCH_FLUSH_BYTES of block data are queued. */
  async maybeFlush(): Promise<void> {
    if (this.full) await this.flush();
  }
}
