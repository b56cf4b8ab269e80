/**
 * The active log segment: frames are appended and fdatasync'ed, and the
 * segment rolls over to a new file once a batch would push it past the
 * segment size (a batch is never split across segments).
 */
import { type FileHandle, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, isNoSpace, PvjError } from "../errors.js";
import { fsyncDir } from "../util/fs.js";
import { encodeBatch } from "./codec.js";
import type { JournalIndex } from "./index-db.js";
import type { JournalRecord } from "./records.js";
import { HEADER_BYTES, SegmentKind, segmentFileName } from "./segment-format.js";
import { createSegmentFile } from "./segment-io.js";

/** The segment appends go to. */
export interface ActiveSegment {
  readonly id: number;
  readonly name: string;
  readonly fh: FileHandle;
  size: number;
}

/** Where a written batch landed. */
export interface WrittenBatch {
  readonly segment: ActiveSegment;
  /** Offset of the first frame. */
  readonly start: number;
  /** Offset past the last frame. */
  readonly end: number;
  /** Offset of each record's frame in the segment, in record order. */
  readonly offsets: readonly number[];
}

/**
 * Batches up to this many framed bytes are encoded into one buffer the writer
 * keeps and reuses (a capture batch is ~4 MiB of blocks): a fresh buffer per
 * batch was ~450 MiB of ArrayBuffers over a 100k-file scan, freed only by the
 * major GCs that external memory growth triggers (64 MiB apart), so resident
 * long after use. Larger batches (a replica's streamed groups, intercept
 * writes under backpressure) get their own buffer, which is not kept.
 */
export const REUSED_FRAME_BYTES = 8 * 1024 * 1024;

/** What the writer needs from its journal. */
export interface SegmentWriterOptions {
  readonly dir: string;
  readonly index: JournalIndex;
  readonly segmentSize: number;
  readonly blockSize: () => number;
  /** Told about each new segment file (already in the index). */
  readonly onCreate: (id: number, name: string) => void;
}

/** Frames batches of records and writes them to the active segment. */
export class SegmentWriter {
  private active: ActiveSegment | null = null;
  /** Reused for batches up to REUSED_FRAME_BYTES (allocated at the first that fits). */
  private scratch: Buffer | null = null;

  constructor(private readonly opts: SegmentWriterOptions) {}

  /** Id of the segment appends go to, or null before the first. */
  get activeId(): number | null {
    return this.active?.id ?? null;
  }

  /** Continues the newest log segment the index knows (at open). */
  async openNewest(): Promise<void> {
    const logs = this.opts.index.segments().filter((s) => s.kind === SegmentKind.log);
    const last = logs[logs.length - 1];
    if (!last) return;
    const fh = await open(join(this.opts.dir, last.name), "r+");
    this.active = { id: last.id, name: last.name, fh, size: last.bytes };
  }

  /**
   * Frames and writes `records` (stamped, in seq order), then fdatasyncs. On
   * failure the tail is cut back to where it was.
   */
  async write(records: readonly JournalRecord[]): Promise<WrittenBatch> {
    const { bytes: frames, offsets } = encodeBatch(records, this.scratch);
    if (frames.length <= REUSED_FRAME_BYTES && frames.buffer !== this.scratch?.buffer)
      this.scratch = Buffer.allocUnsafeSlow(
        Math.min(REUSED_FRAME_BYTES, 2 ** Math.ceil(Math.log2(frames.length))),
      );
    const bytes = frames.length;
    const firstSeq = records[0]!.seq;
    const seg = await this.segmentFor(bytes, firstSeq);
    const start = seg.size;
    try {
      await writeAll(seg.fh, frames, start);
      await seg.fh.datasync();
    } catch (err) {
      // Leave no half-batch behind: the tail is cut back to the last commit.
      await seg.fh.truncate(start).catch(() => undefined);
      if (isNoSpace(err))
        throw new PvjError(
          ErrorCode.JOURNAL_FULL,
          `the journal's filesystem is full (${(err as NodeJS.ErrnoException).code}): nothing was acknowledged; free space under journal.dir or grow its volume (retention needs room for one base to fold)`,
          { segment: seg.name },
          err,
        );
      throw new PvjError(
        ErrorCode.IO_ERROR,
        `journal write failed: ${(err as Error).message}`,
        { segment: seg.name },
        err,
      );
    }
    return { segment: seg, start, end: start + bytes, offsets: offsets.map((o) => start + o) };
  }

  /**
   * Closes the active segment when the index no longer has it (a replica's
   * base replaced it). Matched by id and name: SQLite reuses the id of a
   * deleted last row, so the new base may get the old active segment's id.
   */
  async dropUnlessIn(segs: readonly { id: number; name: string }[]): Promise<void> {
    const a = this.active;
    if (a && !segs.some((s) => s.id === a.id && s.name === a.name)) {
      await a.fh.close().catch(() => undefined);
      this.active = null;
    }
  }

  /** Closes the active segment's handle. */
  async close(): Promise<void> {
    if (this.active) {
      await this.active.fh.close().catch(() => undefined);
      this.active = null;
    }
  }

  /** The active segment, rolled over first if `bytes` would push it past segmentSize. */
  private async segmentFor(bytes: number, firstSeq: number): Promise<ActiveSegment> {
    const cur = this.active;
    if (cur && (cur.size === HEADER_BYTES || cur.size + bytes <= this.opts.segmentSize)) return cur;
    if (cur) {
      // Forgotten before the new file exists: if creating it fails, the next
      // write must not reuse (or close again) this closed handle.
      this.active = null;
      await cur.fh.close();
    }
    const { dir, index } = this.opts;
    const name = segmentFileName(SegmentKind.log, firstSeq);
    const path = join(dir, name);
    const fh = await createSegmentFile(path, SegmentKind.log, this.opts.blockSize());
    let id: number;
    try {
      await fsyncDir(dir);
      // SQLITE_FULL here too when the index shares the full filesystem.
      id = index.insertSegment(name, SegmentKind.log, firstSeq, firstSeq - 1, HEADER_BYTES);
    } catch (err) {
      // Not in the index: remove it, or every retry fails with EEXIST.
      await fh.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw err;
    }
    this.opts.onCreate(id, name);
    this.active = { id, name, fh, size: HEADER_BYTES };
    return this.active;
  }
}

async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}
