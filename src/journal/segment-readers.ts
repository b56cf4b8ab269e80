/**
 * Read access to a journal's segments: descriptors from one bounded cache
 * (read-handles.ts, shared by async and sync reads), blocks by hash and
 * records by seq range, each frame checked.
 *
 * Descriptors are keyed by segment id and file name, and every read takes
 * the name from the index along with the location: retention reuses segment
 * ids, so an id (or a name cached by id) can point at a file the block no
 * longer lives in; a read at the new offset in the old file then failed its
 * checksum ("checksum mismatch in segment base-..." on a restore running
 * across a retention pass).
 */
import { join } from "node:path";
import { CorruptionError, ErrorCode, PvjError } from "../errors.js";
import { blockContent } from "./block-codec.js";
import { decodeRecord } from "./codec.js";
import type { JournalIndex } from "./index-db.js";
import type { BlobLocation } from "./plan.js";
import { ReadHandles, type ReadLease } from "./read-handles.js";
import type { ReadScratch } from "./read-scratch.js";
import type { BlobRecord, JournalRecord } from "./records.js";
import { checkFrame, FRAME_HEADER_BYTES, HEADER_BYTES, SegmentKind } from "./segment-format.js";
import { readAt, readFrameAt, readFrameAtSync, readFramesSync } from "./segment-io.js";

/** Bytes of an encoded blob record before its data (codec.ts), read along with it. */
const BLOB_PREFIX = 1 + 8 + 8 + 16;

/** A block by hash at the location a plan recorded. */
export interface LocatedBlob {
  readonly hash: Buffer;
  readonly at: BlobLocation;
}

/** Offset just past the frame of the blob stored at `at`: where a run of blobs may continue. */
export function blobFrameEnd(at: BlobLocation): number {
  return at.offset + FRAME_HEADER_BYTES + BLOB_PREFIX + at.len;
}

/** The segment readers of one journal; `close()` ends them for good. */
export class SegmentReaders {
  private readonly handles: ReadHandles;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly index: JournalIndex,
    maxHandles?: number,
  ) {
    this.handles = new ReadHandles(maxHandles);
  }

  /** Descriptors open for reading right now (bounded; tests count them). */
  get openHandles(): number {
    return this.handles.openCount;
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
    let loc = this.blobLocation(hash);
    let lease: ReadLease;
    try {
      lease = await this.reader(loc.segmentId, loc.segment);
    } catch (err) {
      // Retention replaced the segment between the lookup and the open: the
      // block now lives in the new base; look again, once.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      loc = this.blobLocation(hash);
      lease = await this.reader(loc.segmentId, loc.segment);
    }
    const name = loc.segment;
    try {
      const payload = await readFrameAt(lease.fd, name, loc.offset, BLOB_PREFIX + loc.len);
      return {
        rec: blobRecord(payload, name, loc.offset, hash),
        where: { segment: name, offset: loc.offset },
      };
    } finally {
      lease.release();
    }
  }

  /**
   * readBlob on synchronous descriptors (see Journal.readBlobSync). With
   * `scratch`, the block is a view of it, valid until its next read.
   */
  readBlobSync(hash: Buffer, scratch?: ReadScratch): Buffer {
    return this.readLocatedSync(hash, this.blobLocation(hash), scratch);
  }

  /**
   * readBlobSync at a location a plan recorded (no index lookup). When the
   * block is no longer there (retention rewrote or removed that segment
   * since), it is looked up again, once: that read's error, if any, is the
   * one reported.
   */
  readBlobAtSync(hash: Buffer, at: BlobLocation, scratch?: ReadScratch): Buffer {
    try {
      return this.readLocatedSync(hash, at, scratch);
    } catch (err) {
      const stale =
        err instanceof CorruptionError || (err as NodeJS.ErrnoException).code === "ENOENT";
      if (!stale || this.closed) throw err;
      return this.readBlobSync(hash, scratch);
    }
  }

  /**
   * The blocks at `at`, all in one segment and ascending, read with one
   * pread (readFramesSync); each frame and record is checked as in
   * readBlobSync. Any failure throws: the caller reads them one by one
   * instead, which also finds blocks retention moved. With `scratch`, the
   * blocks are views of it, valid until its next read.
   */
  readBlobRunSync(run: readonly LocatedBlob[], scratch?: ReadScratch): Buffer[] {
    const first = run[0]!.at;
    const name = first.segment;
    const lease = this.leaseSync(first);
    let recs: BlobRecord[];
    try {
      const end = blobFrameEnd(run[run.length - 1]!.at);
      const frames = run.map((b) => ({ offset: b.at.offset, payloadLen: BLOB_PREFIX + b.at.len }));
      const buf = scratch?.forFrames(end - first.offset);
      const payloads = readFramesSync(lease.fd, name, first.offset, end, frames, buf);
      recs = payloads.map((payload, i) =>
        blobRecord(payload, name, run[i]!.at.offset, run[i]!.hash),
      );
    } finally {
      lease.release();
    }
    // Packed blocks are decompressed one after another into one buffer (8-byte aligned).
    let total = 0;
    for (const r of recs) if (r.packed) total += align8(r.packed.rawLen);
    const out = scratch && total > 0 ? scratch.forBlocks(total) : undefined;
    let pos = 0;
    return recs.map((rec, i) => {
      const where = { segment: name, offset: run[i]!.at.offset };
      if (!out || !rec.packed) return blockContent(rec, where);
      const block = blockContent(rec, where, out.subarray(pos, pos + rec.packed.rawLen));
      pos += align8(rec.packed.rawLen);
      return block;
    });
  }

  private readLocatedSync(hash: Buffer, loc: BlobLocation, scratch?: ReadScratch): Buffer {
    const name = loc.segment;
    const lease = this.leaseSync(loc);
    let rec: BlobRecord;
    try {
      const len = BLOB_PREFIX + loc.len;
      const buf = scratch?.forFrames(FRAME_HEADER_BYTES + len);
      rec = blobRecord(
        readFrameAtSync(lease.fd, name, loc.offset, len, buf),
        name,
        loc.offset,
        hash,
      );
    } finally {
      lease.release();
    }
    const into = scratch && rec.packed ? scratch.forBlocks(rec.packed.rawLen) : undefined;
    return blockContent(rec, { segment: name, offset: loc.offset }, into);
  }

  /** A synchronous descriptor of the segment `at` names; JOURNAL_CLOSED after close(). */
  private leaseSync(at: BlobLocation): ReadLease {
    if (this.closed) throw new PvjError(ErrorCode.JOURNAL_CLOSED, "journal is closed");
    // Plain concatenation: names come from the index and hold no separators,
    // and path.join normalising on every 4 KiB block read showed in profiles.
    return this.handles.acquireSync(
      handleKey(at.segmentId, at.segment),
      `${this.dir}/${at.segment}`,
    );
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
    await this.handles.clear();
  }

  /** Closes every handle; later reads fail with JOURNAL_CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    await this.handles.clear();
  }

  /** Where a block's bytes are stored; CorruptionError when the index has no such block. */
  private blobLocation(hash: Buffer): BlobLocation {
    const loc = this.index.blob(hash);
    if (!loc) {
      throw new CorruptionError(`block ${hash.toString("hex")} is referenced but not stored`, {
        hint: "the index or a segment is damaged; run `pvjournal verify`",
      });
    }
    if (loc.name === null)
      throw new CorruptionError(`index refers to unknown segment #${loc.segment_id}`);
    return { segmentId: loc.segment_id, segment: loc.name, offset: loc.offset, len: loc.len };
  }

  private async *readRange(
    segmentId: number,
    start: number,
    end: number,
    minSeq: number,
  ): AsyncGenerator<JournalRecord> {
    const name = this.index.segmentName(segmentId);
    if (name === null) throw new CorruptionError(`index refers to unknown segment #${segmentId}`);
    const lease = await this.reader(segmentId, name);
    const buf = Buffer.allocUnsafe(end - start);
    try {
      await readAt(lease.fd, buf, start);
    } finally {
      // Held for the read only: a slow stream consumer must not pin a descriptor.
      lease.release();
    }
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

  private reader(id: number, name: string): Promise<ReadLease> {
    // A read racing close() must not open a handle nobody will close.
    if (this.closed)
      return Promise.reject(new PvjError(ErrorCode.JOURNAL_CLOSED, "journal is closed"));
    return this.handles.acquire(handleKey(id, name), join(this.dir, name));
  }
}

/** `n` rounded up to a multiple of 8: decompressed blocks start aligned, like Buffer's pool. */
function align8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * A descriptor's cache key: id and name, since each alone can come back
 * for another file (ids are reused; a base can be replaced under its name).
 */
function handleKey(id: number, name: string): string {
  return `${id}/${name}`;
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
