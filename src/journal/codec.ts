import { createRequire } from "node:module";
import type { Packr } from "msgpackr";
import { CorruptionError } from "../errors.js";
import { HASH_BYTES } from "../util/hash.js";
import { knownCodec, PACKED_HEADER_BYTES } from "./block-codec.js";
import { packFlatBody } from "./flat-body.js";
import type { BlobRecord, JournalRecord, RecordBody } from "./records.js";
import { FRAME_HEADER_BYTES, writeFrameHeader } from "./segment-format.js";

/**
 * Record payload encoding (the bytes inside a frame; framing and checksums are
 * in segment-format.ts). The only module that imports msgpackr.
 *
 *   blob:   [0x01][seq f64][ts f64][hash 16][data ...]    raw, so a restore reads
 *                                                         block bytes without a decode copy
 *   other:  [0x02][seq f64][ts f64][msgpack body]
 *   packed: [0x03][seq f64][ts f64][hash 16][codec u8][rawLen u32][compressed ...]
 *
 * seq and ts are integers below 2^53, exact in a float64. Journals written
 * before compression hold only 0x01 and 0x02 and read unchanged; the hash of a
 * packed blob is over the block itself (block-codec.ts).
 */
const TAG_BLOB = 0x01;
const TAG_MSGPACK = 0x02;
const TAG_BLOB_PACKED = 0x03;
const PREFIX = 1 + 8 + 8;
/** A block is at most 16 MiB (config: journal.blockSize). */
const MAX_RAW_LEN = 16 * 1024 * 1024;

let packrInstance: Packr | null = null;

/**
 * The one Packr, made on first use: a restore reads only blob records (their
 * own layout above, no msgpack), and loading msgpackr with its native string
 * extractor (msgpackr-extract, found through detect-libc) cost every CLI
 * start. Plain maps, no record-structure extension: the on-disk bytes must
 * not depend on what a previous Packr instance has seen.
 */
function packr(): Packr {
  if (packrInstance === null) {
    const msgpackr = createRequire(import.meta.url)("msgpackr") as { Packr: typeof Packr };
    packrInstance = new msgpackr.Packr({
      useRecords: false,
      mapsAsObjects: true,
      int64AsType: "number",
    });
  }
  return packrInstance;
}

/** Encodes one stamped record into a frame payload. */
export function encodeRecord(rec: JournalRecord): Buffer {
  const body = rec.type === "blob" ? null : msgpackBody(rec);
  const out = Buffer.allocUnsafe(payloadLength(rec, body));
  writePayload(rec, body, out, 0);
  return out;
}

/**
 * A batch of records framed into one buffer (segment-format.ts frames), and
 * where each frame starts in it. One allocation per batch instead of one per
 * record: a capture batch holds thousands of small blocks, and per-record
 * payload buffers lived long enough to be promoted and wait for a major GC.
 */
export interface EncodedBatch {
  readonly bytes: Buffer;
  /** Offset of each record's frame in `bytes`, in record order. */
  readonly offsets: readonly number[];
}

/**
 * Frames `records` (stamped) into one buffer: the front of `scratch` when it
 * is large enough (the caller reuses it once the bytes are written), else a
 * new one.
 */
export function encodeBatch(
  records: readonly JournalRecord[],
  scratch: Buffer | null = null,
): EncodedBatch {
  // msgpack bodies are packed first: their lengths size the buffer exactly.
  const bodies = records.map((r) => (r.type === "blob" ? null : msgpackBody(r)));
  let total = 0;
  records.forEach((r, i) => {
    total += FRAME_HEADER_BYTES + payloadLength(r, bodies[i]!);
  });
  const bytes =
    scratch && scratch.length >= total ? scratch.subarray(0, total) : Buffer.allocUnsafe(total);
  const offsets: number[] = [];
  let off = 0;
  records.forEach((r, i) => {
    offsets.push(off);
    const len = payloadLength(r, bodies[i]!);
    writePayload(r, bodies[i]!, bytes, off + FRAME_HEADER_BYTES);
    writeFrameHeader(bytes, off, len);
    off += FRAME_HEADER_BYTES + len;
  });
  return { bytes, offsets };
}

/** The msgpack body of a non-blob record (copied, defensively: the bytes must not depend on what packr does with its buffer later). */
function msgpackBody(rec: Exclude<JournalRecord, BlobRecord>): Buffer {
  const flat = packFlatBody(rec);
  if (flat !== null) return flat;
  const { seq: _seq, ts: _ts, ...body } = rec;
  return Buffer.from(packr().pack(body));
}

function payloadLength(rec: JournalRecord, body: Buffer | null): number {
  if (rec.type !== "blob") return PREFIX + body!.length;
  return PREFIX + HASH_BYTES + (rec.packed ? PACKED_HEADER_BYTES : 0) + rec.data.length;
}

/** Writes the payload of `rec` at `at` of `out` (payloadLength bytes). */
function writePayload(rec: JournalRecord, body: Buffer | null, out: Buffer, at: number): void {
  out.writeDoubleLE(rec.seq, at + 1);
  out.writeDoubleLE(rec.ts, at + 9);
  if (rec.type !== "blob") {
    out[at] = TAG_MSGPACK;
    body!.copy(out, at + PREFIX);
    return;
  }
  const p = rec.packed;
  if (p && (!knownCodec(p.codec) || !(p.rawLen > 0 && p.rawLen <= MAX_RAW_LEN)))
    throw new CorruptionError(`blob has unknown codec ${p.codec} or raw length ${p.rawLen}`);
  out[at] = p ? TAG_BLOB_PACKED : TAG_BLOB;
  rec.hash.copy(out, at + PREFIX);
  let head = at + PREFIX + HASH_BYTES;
  if (p) {
    out.writeUInt8(p.codec, head);
    out.writeUInt32LE(p.rawLen, head + 1);
    head += PACKED_HEADER_BYTES;
  }
  rec.data.copy(out, head);
}

/**
 * Decodes a frame payload. Blob data is a view into `payload` (no copy): keep
 * `payload` alive or copy the data if it must outlive the read buffer.
 */
export function decodeRecord(payload: Buffer): JournalRecord {
  if (payload.length < PREFIX) throw new CorruptionError("record payload too short");
  const seq = payload.readDoubleLE(1);
  const ts = payload.readDoubleLE(9);
  if (payload[0] === TAG_BLOB) {
    const hash = payload.subarray(PREFIX, PREFIX + HASH_BYTES);
    const data = payload.subarray(PREFIX + HASH_BYTES);
    return { type: "blob", seq, ts, hash, data };
  }
  if (payload[0] === TAG_BLOB_PACKED) {
    const head = PREFIX + HASH_BYTES + PACKED_HEADER_BYTES;
    if (payload.length < head) throw new CorruptionError("packed blob payload too short");
    const codec = payload.readUInt8(PREFIX + HASH_BYTES);
    const rawLen = payload.readUInt32LE(PREFIX + HASH_BYTES + 1);
    if (!knownCodec(codec)) throw new CorruptionError(`unknown block codec ${codec}`);
    if (rawLen === 0 || rawLen > MAX_RAW_LEN)
      throw new CorruptionError(`packed blob raw length ${rawLen} is invalid`);
    const hash = payload.subarray(PREFIX, PREFIX + HASH_BYTES);
    const data = payload.subarray(head);
    return { type: "blob", seq, ts, hash, data, packed: { codec, rawLen } };
  }
  if (payload[0] !== TAG_MSGPACK) {
    throw new CorruptionError(`unknown record tag ${payload[0]}`);
  }
  const body = packr().unpack(payload.subarray(PREFIX)) as RecordBody;
  if (body === null || typeof body !== "object" || typeof body.type !== "string") {
    throw new CorruptionError("record body is not an object with a type");
  }
  // msgpackr decodes bin as Buffer (Node); hashes stay Buffers.
  return { ...body, seq, ts } as JournalRecord;
}

/** Bytes a blob's payload holds after its hash: what the index's `blobs.len` counts. */
export function storedBlobLen(rec: BlobRecord): number {
  return (rec.packed ? PACKED_HEADER_BYTES : 0) + rec.data.length;
}

/** Reads only seq and ts of a payload (cheap; used while scanning segments). */
export function peekSeqTs(payload: Buffer): { seq: number; ts: number } {
  return { seq: payload.readDoubleLE(1), ts: payload.readDoubleLE(9) };
}

/** Generic msgpack helpers for the stream wire format (kept here: one msgpackr importer). */
export function packValue(value: unknown): Buffer {
  return packr().pack(value);
}

/** Inverse of packValue. */
export function unpackValue(buf: Buffer): unknown {
  return packr().unpack(buf);
}
