import { readSync } from "node:fs";
import { type FileHandle, open, readFile, unlink } from "node:fs/promises";
import { CorruptionError } from "../errors.js";
import { readFd } from "../util/fd.js";
import { decodeRecord } from "./codec.js";
import type { JournalRecord } from "./records.js";
import {
  checkFrame,
  decodeHeader,
  encodeHeader,
  FRAME_HEADER_BYTES,
  HEADER_BYTES,
  type SegmentKind,
  verifyFramedPayload,
} from "./segment-format.js";

/** One record found while scanning a segment, with the offset of its frame. */
export interface ScannedRecord {
  readonly record: JournalRecord;
  readonly offset: number;
}

/** What a full scan of a segment found. */
export interface SegmentScan {
  readonly kind: SegmentKind;
  readonly records: ScannedRecord[];
  /** Offset just past the last valid frame. */
  readonly validEnd: number;
  readonly fileSize: number;
  /** The first invalid frame, if any (at validEnd). */
  readonly damage: { readonly offset: number; readonly reason: string } | null;
}

/**
 * Reads and checks every frame of a segment file from `from` (default: just
 * after the header). Stops at the first invalid frame and reports it; whether
 * that is a torn tail (truncate) or damage (report) is the caller's decision,
 * because only the caller knows what was acknowledged.
 */
export async function scanSegment(path: string, from = HEADER_BYTES): Promise<SegmentScan> {
  const buf = await readFile(path);
  const header = decodeHeader(buf);
  if (!header) {
    return {
      kind: 0,
      records: [],
      validEnd: 0,
      fileSize: buf.length,
      damage: { offset: 0, reason: buf.length < HEADER_BYTES ? "short header" : "bad header" },
    };
  }
  const records: ScannedRecord[] = [];
  let off = Math.max(from, HEADER_BYTES);
  let damage: SegmentScan["damage"] = null;
  while (off < buf.length) {
    const frame = checkFrame(buf, off);
    if (!frame.ok) {
      damage = { offset: off, reason: frame.reason };
      break;
    }
    let record: JournalRecord;
    try {
      // Copy: blob data must not pin the whole segment buffer.
      record = decodeRecord(Buffer.from(frame.payload));
    } catch (err) {
      damage = { offset: off, reason: `undecodable record: ${(err as Error).message}` };
      break;
    }
    records.push({ record, offset: off });
    off = frame.next;
  }
  return { kind: header.kind, records, validEnd: off, fileSize: buf.length, damage };
}

/** Creates a new segment file holding only its header, fsynced. */
export async function createSegmentFile(
  path: string,
  kind: SegmentKind,
  blockSize: number,
): Promise<FileHandle> {
  const fh = await open(path, "wx+");
  try {
    const { bytesWritten } = await fh.write(encodeHeader(kind, blockSize), 0, HEADER_BYTES, 0);
    if (bytesWritten !== HEADER_BYTES)
      throw new Error(`short header write (${bytesWritten} bytes)`);
    await fh.datasync();
    return fh;
  } catch (err) {
    // A half-made segment (ENOSPC, EIO) must neither leak its handle nor stay
    // behind: the retry creates the same name with O_EXCL.
    await fh.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw err;
  }
}

/** Reads just the header of a segment file (null if it is not a segment). */
export async function readSegmentHeader(path: string): Promise<ReturnType<typeof decodeHeader>> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(HEADER_BYTES);
    await fh.read(buf, 0, HEADER_BYTES, 0);
    return decodeHeader(buf);
  } finally {
    await fh.close();
  }
}

/**
 * Reads one frame at `offset` by random access and checks its checksum.
 * Throws CorruptionError naming the segment and offset on any mismatch.
 */
export async function readFrameAt(
  fd: number,
  segmentName: string,
  offset: number,
  payloadLen: number,
): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadLen);
  return checkedPayload(buf, await readAt(fd, buf, offset), segmentName, offset);
}

/** One positional read of up to `buf.length` bytes on a raw descriptor (thread pool); bytes read. */
export function readAt(fd: number, buf: Buffer, position: number): Promise<number> {
  return readFd(fd, buf, 0, buf.length, position);
}

/**
 * readFrameAt on a raw descriptor, without the thread pool; into the front
 * of `scratch` when given and large enough (the caller's reused buffer).
 */
export function readFrameAtSync(
  fd: number,
  segmentName: string,
  offset: number,
  payloadLen: number,
  scratch?: Buffer,
): Buffer {
  const len = FRAME_HEADER_BYTES + payloadLen;
  const buf = scratch && scratch.length >= len ? scratch.subarray(0, len) : Buffer.allocUnsafe(len);
  return checkedPayload(buf, readSync(fd, buf, 0, buf.length, offset), segmentName, offset);
}

/**
 * Reads the frames of `frames` (offset and payload length each, ascending,
 * all inside [start, end)) with one positional read, and returns their
 * checked payloads: a restore reads blocks that were appended together in
 * one syscall instead of one per 4 KiB block. With `scratch` (large enough)
 * the payloads are views of it.
 */
export function readFramesSync(
  fd: number,
  segmentName: string,
  start: number,
  end: number,
  frames: readonly { readonly offset: number; readonly payloadLen: number }[],
  scratch?: Buffer,
): Buffer[] {
  const len = end - start;
  const buf = scratch && scratch.length >= len ? scratch.subarray(0, len) : Buffer.allocUnsafe(len);
  const n = readSync(fd, buf, 0, buf.length, start);
  return frames.map((f) => {
    const at = f.offset - start;
    const frame = buf.subarray(at, at + FRAME_HEADER_BYTES + f.payloadLen);
    const got = Math.max(0, Math.min(frame.length, n - at));
    return checkedPayload(frame, got, segmentName, f.offset);
  });
}

/** The payload of a frame read at `offset`, or CorruptionError if it is short or its checksum fails. */
function checkedPayload(
  buf: Buffer,
  bytesRead: number,
  segmentName: string,
  offset: number,
): Buffer {
  const head = buf.subarray(0, FRAME_HEADER_BYTES);
  const payload = buf.subarray(FRAME_HEADER_BYTES);
  if (bytesRead !== buf.length || !verifyFramedPayload(head, payload)) {
    throw new CorruptionError(`checksum mismatch in segment ${segmentName} at offset ${offset}`, {
      segment: segmentName,
      offset,
      hint: "run `pvjournal verify` to see all damage",
    });
  }
  return payload;
}
