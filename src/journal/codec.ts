import { Packr } from "msgpackr";
import { CorruptionError } from "../errors.js";
import { HASH_BYTES } from "../util/hash.js";
import { knownCodec, PACKED_HEADER_BYTES } from "./block-codec.js";
import type { BlobRecord, JournalRecord, RecordBody } from "./records.js";

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

// Plain maps, no record-structure extension: the on-disk bytes must not depend
// on what a previous Packr instance has seen.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** Encodes one stamped record into a frame payload. */
export function encodeRecord(rec: JournalRecord): Buffer {
  if (rec.type === "blob") {
    const p = rec.packed;
    if (p && (!knownCodec(p.codec) || !(p.rawLen > 0 && p.rawLen <= MAX_RAW_LEN)))
      throw new CorruptionError(`blob has unknown codec ${p.codec} or raw length ${p.rawLen}`);
    const head = PREFIX + HASH_BYTES + (p ? PACKED_HEADER_BYTES : 0);
    const out = Buffer.allocUnsafe(head + rec.data.length);
    out[0] = p ? TAG_BLOB_PACKED : TAG_BLOB;
    out.writeDoubleLE(rec.seq, 1);
    out.writeDoubleLE(rec.ts, 9);
    rec.hash.copy(out, PREFIX);
    if (p) {
      out.writeUInt8(p.codec, PREFIX + HASH_BYTES);
      out.writeUInt32LE(p.rawLen, PREFIX + HASH_BYTES + 1);
    }
    rec.data.copy(out, head);
    return out;
  }
  const { seq, ts, ...body } = rec;
  const packed = packr.pack(body);
  const out = Buffer.allocUnsafe(PREFIX + packed.length);
  out[0] = TAG_MSGPACK;
  out.writeDoubleLE(seq, 1);
  out.writeDoubleLE(ts, 9);
  packed.copy(out, PREFIX);
  return out;
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
  const body = packr.unpack(payload.subarray(PREFIX)) as RecordBody;
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
  return packr.pack(value);
}

/** Inverse of packValue. */
export function unpackValue(buf: Buffer): unknown {
  return packr.unpack(buf);
}
