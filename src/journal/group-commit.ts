/**
 * Group commit: appends queue while one batch is written, and the whole queue
 * becomes the next batch (one write, one fdatasync, one index transaction).
 * Stamping a batch with seqs and dropping duplicate blocks is the pure
 * {@link stampBatch}. Local blobs are compressed as they are queued
 * (block-codec.ts), so that work overlaps the batch being written.
 */
import type { BlockPacker } from "./block-codec.js";
import type { JournalRecord, RecordBody } from "./records.js";

/** Seq range and time of an appended group of records. */
export interface AppendResult {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly ts: number;
}

/** One caller's append waiting in the queue. */
export interface PendingAppend {
  readonly records: readonly RecordBody[] | readonly JournalRecord[];
  /** Records already carry seq and ts (a replica receiving the stream). */
  readonly stamped: boolean;
  /** Resolve once durable in the segment; the index may follow (see AppendOptions). */
  readonly lazy: boolean;
}

/** What {@link stampBatch} returns: the records to store and each caller's result. */
export interface StampedBatch {
  readonly out: JournalRecord[];
  readonly results: AppendResult[];
  /** The newest seq after the batch. */
  readonly seq: number;
}

/**
 * Stamps each unstamped record with the next seq and `ts`, skips stamped
 * records at or below the current seq (idempotent redelivery) and drops blobs
 * already stored or repeated in the batch (a dropped local blob consumes no seq).
 */
export function stampBatch(
  items: readonly PendingAppend[],
  lastSeq: number,
  ts: number,
  hasBlob: (hash: Buffer, key: string) => boolean,
): StampedBatch {
  let seq = lastSeq;
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
        if (seen.has(key) || hasBlob(rec.hash, key)) {
          if (!it.stamped) seq -= 1; // local duplicate: never stored, seq not consumed
          continue;
        }
        seen.add(key);
      }
      out.push(rec);
    }
    results.push({ firstSeq: Math.min(first, seq), lastSeq: seq, ts: itemTs });
  }
  return { out, results, seq };
}

/** The highest checkpoint id and file id in `records` (0 when there is none). */
/** The highest checkpoint id and file id among some records (0: none). */
export interface HighestIds {
  readonly checkpointId: number;
  readonly fileId: number;
}

export function highestIds(records: readonly JournalRecord[]): HighestIds {
  let checkpointId = 0;
  let fileId = 0;
  for (const rec of records) {
    if (rec.type === "checkpoint") checkpointId = Math.max(checkpointId, rec.id);
    if (rec.type === "link" || rec.type === "attr" || rec.type === "size" || rec.type === "write")
      fileId = Math.max(fileId, rec.fileId);
  }
  return { checkpointId, fileId };
}

interface Queued extends PendingAppend {
  /** The records once compressed (a promise while the thread pool works on them). */
  readonly ready: PendingAppend["records"] | Promise<PendingAppend["records"]>;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * The append queue: at most one batch is written at a time, and `exclusive`
 * pauses writing (appends queue, none are lost) while maintenance runs.
 */
export class CommitQueue {
  private queue: Queued[] = [];
  private flushing: Promise<void> | null = null;
  private paused: Promise<void> | null = null;

  /**
   * `write` stores one batch and answers one result per item, in order.
   * `packer` compresses local appends' blobs; stamped records (a replica's)
   * are stored as they came.
   */
  constructor(
    private readonly write: (items: readonly PendingAppend[]) => Promise<AppendResult[]>,
    private readonly packer: BlockPacker | null = null,
  ) {}

  /** Queues an append; resolves when its batch is durable. */
  push(item: PendingAppend): Promise<AppendResult> {
    const ready =
      item.stamped || !this.packer ? item.records : this.packer.pack(item.records as RecordBody[]);
    return new Promise((resolve, reject) => {
      this.queue.push({ ...item, ready, resolve, reject });
      this.kick();
    });
  }

  /** Resolves once no batch is being written. */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Runs `fn` with writing paused and no batch in flight. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.paused) await this.paused;
    let release!: () => void;
    this.paused = new Promise<void>((r) => {
      release = r;
    });
    try {
      while (this.flushing) await this.flushing;
      return await fn();
    } finally {
      this.paused = null;
      release();
      this.kick();
    }
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
        const packed = await Promise.all(items.map((it) => it.ready));
        const results = await this.write(
          items.map((it, i) => ({ records: packed[i]!, stamped: it.stamped, lazy: it.lazy })),
        );
        items.forEach((it, i) => {
          it.resolve(results[i]!);
        });
      } catch (err) {
        for (const it of items) it.reject(err);
      }
    }
  }
}
