import { crc32 } from "node:zlib";

/**
 * Segment file layout (version 1):
 *
 *   header (16 bytes): "PVJSEG" | u16 version | u8 kind | u32 blockSize | 3 reserved zero bytes
 *   frames:            u32 payloadLength | u32 crc32(payloadLength LE ‖ payload) | payload
 *
 * The checksum covers the length too, so a flipped length bit is caught rather
 * than read as a frame of another size. kind 0 = log segment, 1 = base segment
 * (written by retention: the folded state at one seq).
 */
export const SEGMENT_MAGIC = Buffer.from("PVJSEG", "ascii");
/** Current on-disk format version. Readers of older versions get their own files. */
export const SEGMENT_VERSION = 1;
/** Bytes before the first frame. */
export const HEADER_BYTES = 16;
/** Bytes before each payload. */
export const FRAME_HEADER_BYTES = 8;
/** Sanity bound for one payload: a block is at most 16 MiB plus a small prefix. */
export const MAX_PAYLOAD_BYTES = 17 * 1024 * 1024;

/** Log segments hold records in seq order; base segments hold a folded state. */
export const SegmentKind = { log: 0, base: 1 } as const;
/** One of SegmentKind. */
export type SegmentKind = (typeof SegmentKind)[keyof typeof SegmentKind];

/**
 * Builds a segment header. The block size is in every header so that an index
 * rebuilt from the segments alone interprets block numbers correctly.
 */
export function encodeHeader(kind: SegmentKind, blockSize: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  SEGMENT_MAGIC.copy(h, 0);
  h.writeUInt16LE(SEGMENT_VERSION, 6);
  h.writeUInt8(kind, 8);
  h.writeUInt32LE(blockSize, 9);
  return h;
}

/** Parses a header; returns null when the bytes are not a v1 pvjournal segment header. */
export function decodeHeader(
  h: Buffer,
): { version: number; kind: SegmentKind; blockSize: number } | null {
  if (h.length < HEADER_BYTES || !h.subarray(0, 6).equals(SEGMENT_MAGIC)) return null;
  const version = h.readUInt16LE(6);
  const kind = h.readUInt8(8);
  if (version !== SEGMENT_VERSION || (kind !== 0 && kind !== 1)) return null;
  return { version, kind: kind as SegmentKind, blockSize: h.readUInt32LE(9) };
}

/** The length field a frame's checksum starts with: one reused buffer (synchronous use only). */
const crcLen = Buffer.alloc(4);

function frameCrc(payload: Buffer): number {
  // No Buffer per frame: a restore checks one frame per 4 KiB block.
  crcLen.writeUInt32LE(payload.length, 0);
  return crc32(payload, crc32(crcLen));
}

/**
 * Writes the frame header of the payload already at `off + FRAME_HEADER_BYTES`
 * of `buf` (`len` bytes): a frame built in place, without a copy.
 */
export function writeFrameHeader(buf: Buffer, off: number, len: number): void {
  buf.writeUInt32LE(len, off);
  const payload = buf.subarray(off + FRAME_HEADER_BYTES, off + FRAME_HEADER_BYTES + len);
  buf.writeUInt32LE(crc32(payload, crc32(buf.subarray(off, off + 4))), off + 4);
}

/** Frames one payload: length, checksum, bytes. */
export function encodeFrame(payload: Buffer): Buffer[] {
  const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  head.writeUInt32LE(payload.length, 0);
  head.writeUInt32LE(frameCrc(payload), 4);
  return [head, payload];
}

/** Result of looking at the bytes at one offset. */
export type FrameCheck =
  | { readonly ok: true; readonly payload: Buffer; readonly next: number }
  | { readonly ok: false; readonly reason: "short" | "length" | "checksum" };

/** Checks the frame starting at `offset` of `buf`. Pure: no I/O. */
export function checkFrame(buf: Buffer, offset: number): FrameCheck {
  if (buf.length - offset < FRAME_HEADER_BYTES) return { ok: false, reason: "short" };
  const len = buf.readUInt32LE(offset);
  if (len === 0 || len > MAX_PAYLOAD_BYTES) return { ok: false, reason: "length" };
  const end = offset + FRAME_HEADER_BYTES + len;
  if (end > buf.length) return { ok: false, reason: "short" };
  const payload = buf.subarray(offset + FRAME_HEADER_BYTES, end);
  if (frameCrc(payload) !== buf.readUInt32LE(offset + 4)) return { ok: false, reason: "checksum" };
  return { ok: true, payload, next: end };
}

/** Verifies a payload read on its own (random access) against its frame header. */
export function verifyFramedPayload(head: Buffer, payload: Buffer): boolean {
  return head.readUInt32LE(0) === payload.length && head.readUInt32LE(4) === frameCrc(payload);
}

/** File name of a log segment starting at `firstSeq` (sortable). */
export function segmentFileName(kind: SegmentKind, firstSeq: number): string {
  const n = String(firstSeq).padStart(16, "0");
  return kind === SegmentKind.base ? `base-${n}.pvj` : `seg-${n}.pvj`;
}

/** Parses a segment file name; null for anything else in the directory. */
export function parseSegmentFileName(name: string): { kind: SegmentKind; firstSeq: number } | null {
  const m = /^(seg|base)-(\d{16})\.pvj$/.exec(name);
  if (!m) return null;
  return { kind: m[1] === "base" ? SegmentKind.base : SegmentKind.log, firstSeq: Number(m[2]) };
}
