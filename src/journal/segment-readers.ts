/**
 * Read access to a journal's segments: cached handles per segment (async and
 * sync), blocks by hash and records by seq range, each frame checked.
 */
import { closeSync, openSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { CorruptionError, ErrorCode, PvjError } from "../errors.js";
import { blockContent } from "./block-codec.js";
import { decodeRecord } from "./codec.js";
import type { JournalIndex } from "./index-db.js";
import type { BlobRecord, JournalRecord } from "./records.js";
import { checkFrame, HEADER_BYTES, SegmentKind } from "./segment-format.js";
import { readFrameAt, readFrameAtSync } from "./segment-io.js";

/** Bytes of an encoded blob record before its data (codec.ts), read along with it. */
const BLOB_PREFIX = 1 + 8 + 8 + 16;

/** The segment readers of one journal; `close()` ends them for good. */
export class SegmentReaders {
  private readonly handles = new Map<number, Promise<FileHandle>>();
  private readonly syncFds = new Map<number, number>();
  private names = new Map<number, string>();
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly index: JournalIndex,
  ) {}

  /** Records a segment the writer just created (saves an index read on its first read). */
  noteSegment(id: number, name: string): void {
    this.names.set(id, name);
  }

  /** Re-reads segment names from the index. */
  refreshNames(): void {
    this.names = new Map(this.index.segments().map((s) => [s.id, s.name]));
  }

  /**
   * Reads a block's bytes by hash, checking the frame checksum and
   * decompressing (the caller checks the hash).
   */
  async readBlob(hash: Buffer): Promise<Buffer> {
    const { rec, where } = await this.storedBlob(hash);
    return blockContent(rec, where);
  }

  /** A block's record as stored (maybe compressed): retention copies it as it is. */
  async readStoredBlob(hash: Buffer): Promise<BlobRecord> {
    const { rec } = await this.storedBlob(hash);
    const { type, data, packed } = rec;
    return packed ? { type, hash: rec.hash, data, packed } : { type, hash: rec.hash, data };
  }

  private async storedBlob(
    hash: Buffer,
  ): Promise<{ rec: BlobRecord; where: { segment: string; offset: number } }> {
    const loc = this.blobLocation(hash);
    const fh = await this.reader(loc.segment_id);
    const name = this.names.get(loc.segment_id) ?? `#${loc.segment_id}`;
    const payload = await readFrameAt(fh, name, loc.offset, BLOB_PREFIX + loc.len);
    return {
      rec: blobRecord(payload, name, loc.offset, hash),
      where: { segment: name, offset: loc.offset },
    };
  }

  /** readBlob on synchronous descriptors (see Journal.readBlobSync). */
  readBlobSync(hash: Buffer): Buffer {
    const loc = this.blobLocation(hash);
    if (this.closed) throw new PvjError(ErrorCode.JOURNAL_CLOSED, "journal is closed");
    if (!this.names.has(loc.segment_id)) this.refreshNames();
    const name = this.names.get(loc.segment_id);
    if (name === undefined)
      throw new CorruptionError(`index refers to unknown segment #${loc.segment_id}`);
    let fd = this.syncFds.get(loc.segment_id);
    if (fd === undefined) {
      fd = openSync(join(this.dir, name), "r");
      this.syncFds.set(loc.segment_id, fd);
    }
    const payload = readFrameAtSync(fd, name, loc.offset, BLOB_PREFIX + loc.len);
    return blockContent(blobRecord(payload, name, loc.offset, hash), {
      segment: name,
      offset: loc.offset,
    });
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

  /** Drops cached read handles (retention replaced segments). */
  async invalidate(): Promise<void> {
    this.closeHandlesSync();
    for (const fh of this.handles.values()) await fh.then((h) => h.close()).catch(() => undefined);
    this.handles.clear();
    this.refreshNames();
  }

  /** Closes every handle; later reads fail with JOURNAL_CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    this.closeHandlesSync();
    for (const fh of this.handles.values()) await fh.then((h) => h.close()).catch(() => undefined);
    this.handles.clear();
  }

  private closeHandlesSync(): void {
    for (const fd of this.syncFds.values()) closeSync(fd);
    this.syncFds.clear();
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

  private async *readRange(
    segmentId: number,
    start: number,
    end: number,
    minSeq: number,
  ): AsyncGenerator<JournalRecord> {
    const fh = await this.reader(segmentId);
    const name = this.names.get(segmentId) ?? `#${segmentId}`;
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

  private reader(segmentId: number): Promise<FileHandle> {
    // Promises are cached, not handles: two concurrent reads of a new segment
    // must share one open() instead of leaking the loser's descriptor.
    const cached = this.handles.get(segmentId);
    if (cached) return cached;
    // A read racing close() must not open a handle nobody will close.
    if (this.closed)
      return Promise.reject(new PvjError(ErrorCode.JOURNAL_CLOSED, "journal is closed"));
    if (!this.names.has(segmentId)) this.refreshNames();
    const name = this.names.get(segmentId);
    if (!name)
      return Promise.reject(new CorruptionError(`index refers to unknown segment #${segmentId}`));
    const p = open(join(this.dir, name), "r");
    this.handles.set(segmentId, p);
    p.catch(() => this.handles.delete(segmentId));
    return p;
  }
}

/** The blob record of a payload read at `offset`, checked to be the block `hash` names. */
function blobRecord(payload: Buffer, segment: string, offset: number, hash: Buffer): BlobRecord {
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
  return rec;
}
