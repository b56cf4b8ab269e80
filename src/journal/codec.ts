import { Packr } from "msgpackr";
import { CorruptionError } from "../errors.js";
import { HASH_BYTES } from "../util/hash.js";
import type { JournalRecord, RecordBody } from "./records.js";

/**
 * Record payload encoding (the bytes inside a frame; framing and checksums are
 * in segment-format.ts). The only module that imports msgpackr.
 *
 *   blob:   [0x01][seq f64][ts f64][hash 16][data ...]    raw, so a restore reads
 *                                                         block bytes without a decode copy
 *   other:  [0x02][seq f64][ts f64][msgpack body]
 *
 * seq and ts are integers below 2^53, exact in a float64.
 */
const TAG_BLOB = 0x01;
const TAG_MSGPACK = 0x02;
const PREFIX = 1 + 8 + 8;

// Plain maps, no record-structure extension: the on-disk bytes must not depend
// on what a previous Packr instance has seen.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** Encodes one stamped record into a frame payload. */
export function encodeRecord(rec: JournalRecord): Buffer {
  if (rec.type === "blob") {
    const out = Buffer.allocUnsafe(PREFIX + HASH_BYTES + rec.data.length);
    out[0] = TAG_BLOB;
    out.writeDoubleLE(rec.seq, 1);
    out.writeDoubleLE(rec.ts, 9);
    rec.hash.copy(out, PREFIX);
    rec.data.copy(out, PREFIX + HASH_BYTES);
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
