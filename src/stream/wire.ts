/**
 * The change stream's wire format: a sequence of frames, each
 *   u32 payloadLength | u32 crc32(payload) | payload (msgpack of a StreamMessage)
 * on a long-lived HTTP response. The checksum makes a truncated or damaged
 * frame an error the replica sees (and reconnects after), never a record
 * applied wrongly.
 */
import { crc32 } from "node:zlib";
import { CorruptionError } from "../errors.js";
import { packValue, unpackValue } from "../journal/codec.js";
import type { JournalRecord, RecordBody } from "../journal/records.js";

/** Every message a stream carries. */
export type StreamMessage =
  /** First message: which journal this is and where it stands. */
  | {
      readonly t: "hello";
      readonly journalId: string;
      readonly lastSeq: number;
      readonly baseSeq: number;
      readonly blockSize: number;
    }
  /** The reader asked for history that retention folded: the state at `seq` follows, then "base-end". */
  | { readonly t: "base"; readonly seq: number; readonly ts: number }
  | { readonly t: "base-records"; readonly bodies: readonly RecordBody[] }
  | { readonly t: "base-end"; readonly seq: number }
  /** Journal records, in seq order. */
  | { readonly t: "records"; readonly records: readonly JournalRecord[] }
  /** Sent when idle: the source's position and the age of the oldest record the reader lacks. */
  | {
      readonly t: "heartbeat";
      readonly lastSeq: number;
      readonly lastTs: number;
      readonly pendingSinceTs: number | null;
    };

/** Frame header bytes. */
export const WIRE_HEADER_BYTES = 8;
/** Largest frame accepted: a batch is cut at ~4 MiB, a single block is at most 16 MiB. */
export const MAX_WIRE_FRAME = 24 * 1024 * 1024;

/** The message types a stream carries (the `t` field). */
const MESSAGE_TYPES: ReadonlySet<string> = new Set([
  "hello",
  "base",
  "base-records",
  "base-end",
  "records",
  "heartbeat",
]);

/**
 * Unpacks a checksummed payload. A payload whose checksum holds but that is
 * not a message (a peer that frames garbage correctly) is corruption too,
 * never an exception of another kind, and never handed on.
 */
function decodePayload(payload: Buffer): StreamMessage {
  let value: unknown;
  try {
    value = unpackValue(payload);
  } catch (err) {
    throw new CorruptionError("stream frame payload does not decode", {}, err);
  }
  const t = (value as { t?: unknown } | null)?.t;
  if (typeof value !== "object" || value === null || typeof t !== "string" || !MESSAGE_TYPES.has(t))
    throw new CorruptionError("stream frame holds no known message");
  return value as StreamMessage;
}

/** Encodes one message as a frame. */
export function encodeMessage(msg: StreamMessage): Buffer {
  const payload = packValue(msg);
  const head = Buffer.allocUnsafe(WIRE_HEADER_BYTES);
  head.writeUInt32LE(payload.length, 0);
  head.writeUInt32LE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

/**
 * Incremental decoder: feed chunks, take complete messages. A bad length or
 * checksum throws CorruptionError; the caller drops the connection.
 */
export class FrameDecoder {
  // Chunks are kept as a list and joined only once a whole frame is there:
  // joining on every 64 KiB chunk of a 4 MiB frame would copy it 64 times.
  private chunks: Buffer[] = [];
  private length = 0;
  private need = WIRE_HEADER_BYTES;

  /** Adds bytes and returns every complete message they finish. */
  push(chunk: Buffer): StreamMessage[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const out: StreamMessage[] = [];
    while (this.length >= this.need) {
      const buf =
        this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
      this.chunks = [buf];
      const len = buf.readUInt32LE(0);
      if (len === 0 || len > MAX_WIRE_FRAME)
        throw new CorruptionError(`stream frame length ${len} is invalid`);
      if (buf.length < WIRE_HEADER_BYTES + len) {
        this.need = WIRE_HEADER_BYTES + len;
        break;
      }
      const payload = buf.subarray(WIRE_HEADER_BYTES, WIRE_HEADER_BYTES + len);
      if (crc32(payload) !== buf.readUInt32LE(4))
        throw new CorruptionError("stream frame checksum mismatch");
      out.push(decodePayload(payload));
      const rest = buf.subarray(WIRE_HEADER_BYTES + len);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.length = rest.length;
      this.need = WIRE_HEADER_BYTES;
    }
    return out;
  }

  /** Bytes of an incomplete frame still buffered (non-zero at end of stream = truncated frame). */
  get pending(): number {
    return this.length;
  }
}
