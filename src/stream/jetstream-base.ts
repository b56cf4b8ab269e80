/**
 * The base a replica bootstraps from, kept in a JetStream Object Store
 * bucket (`<stream>-base`, object `base`) by the sidecar: the state at a seq
 * as stream frames (base, base-records..., base-end). A replica that is new,
 * or fell behind the stream's first message, needs nothing but NATS.
 */
import { type ObjectStore, Objm, StorageType } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, PvjError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import type { RecordBody } from "../journal/records.js";
import { baseBodies } from "../journal/retention.js";
import type { BlockHasher } from "../util/hash.js";
import { baseBucket } from "./jetstream-connect.js";
import { encodeMessage, FrameDecoder, type StreamMessage } from "./wire.js";

/** Name of the one object in the bucket. */
const BASE_OBJECT = "base";
/** base-records frames are cut at this many bytes. */
const FRAME_BYTES = 1024 * 1024;

/** What the base object describes. */
export interface BaseInfo {
  readonly journalId: string;
  readonly seq: number;
  readonly ts: number;
}

async function bucket(nc: NatsConnection, stream: string, replicas: number): Promise<ObjectStore> {
  return new Objm(nc).create(baseBucket(stream), { replicas, storage: StorageType.File });
}

/** The stored base's description, or null when there is none. */
export async function readBaseInfo(nc: NatsConnection, stream: string): Promise<BaseInfo | null> {
  const os = await new Objm(nc).open(baseBucket(stream)).catch(() => null);
  if (os === null) return null;
  const info = await os.info(BASE_OBJECT);
  if (info === null || info.deleted) return null;
  try {
    const v = JSON.parse(info.description ?? "") as BaseInfo;
    return typeof v.seq === "number" && typeof v.journalId === "string" ? v : null;
  } catch {
    return null;
  }
}

/**
 * The state at `seq`, plus every blob the journal holds up to `seq`: a write
 * published later may de-duplicate against any of them.
 */
async function* bodiesAt(
  journal: Journal,
  seq: number,
  hasher: BlockHasher,
): AsyncGenerator<RecordBody> {
  const sent = new Set<string>();
  yield* baseBodies(journal, seq, hasher, () => true, undefined, sent);
  for await (const rec of journal.records(journal.baseSeq + 1)) {
    if (rec.seq > seq) break;
    if (rec.type !== "blob") continue;
    const key = rec.hash.toString("hex");
    if (sent.has(key)) continue;
    sent.add(key);
    // As stored, with its packing: a compressed blob that lost `packed` would
    // be installed as raw bytes and fail its hash on every read at the replica.
    yield rec.packed
      ? { type: "blob", hash: rec.hash, data: rec.data, packed: rec.packed }
      : { type: "blob", hash: rec.hash, data: rec.data };
  }
}

async function* baseFrames(
  journal: Journal,
  seq: number,
  ts: number,
  hasher: BlockHasher,
): AsyncGenerator<Uint8Array> {
  yield encodeMessage({ t: "base", seq, ts });
  let bodies: RecordBody[] = [];
  let bytes = 0;
  for await (const b of bodiesAt(journal, seq, hasher)) {
    bodies.push(b);
    bytes += b.type === "blob" ? b.data.length + 64 : 128;
    if (bytes >= FRAME_BYTES) {
      yield encodeMessage({ t: "base-records", bodies });
      bodies = [];
      bytes = 0;
    }
  }
  if (bodies.length > 0) yield encodeMessage({ t: "base-records", bodies });
  yield encodeMessage({ t: "base-end", seq });
}

/** Writes the state at `seq` as the bucket's base (replacing the old one once complete). */
export async function writeBase(
  nc: NatsConnection,
  opts: { stream: string; replicas: number; journal: Journal; hasher: BlockHasher; seq: number },
): Promise<BaseInfo> {
  const { journal, seq } = opts;
  // Retention must not fold past the base while it is read.
  const release = journal.pin(seq);
  try {
    const ts = journal.index.tsAtSeq(seq) ?? journal.lastTs;
    const info: BaseInfo = { journalId: journal.id, seq, ts };
    const frames = baseFrames(journal, seq, ts, opts.hasher);
    const rs = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await frames.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
    });
    const os = await bucket(nc, opts.stream, opts.replicas);
    await os.put({ name: BASE_OBJECT, description: JSON.stringify(info) }, rs);
    return info;
  } finally {
    release();
  }
}

/** Reads the stored base as stream messages (base, base-records..., base-end). */
export async function* readBase(nc: NatsConnection, stream: string): AsyncGenerator<StreamMessage> {
  const os = await new Objm(nc).open(baseBucket(stream));
  const res = await os.get(BASE_OBJECT);
  if (res === null)
    throw new PvjError(
      ErrorCode.NOT_AVAILABLE,
      `no base in the Object Store bucket ${baseBucket(stream)} yet`,
    );
  const decoder = new FrameDecoder();
  const reader = res.data.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    // A copy: decoded blobs are views of the chunk, and the client may reuse its memory.
    for (const msg of decoder.push(Buffer.from(value))) yield msg;
  }
  const err = await res.error;
  if (err)
    throw new PvjError(ErrorCode.IO_ERROR, `reading the base failed: ${err.message}`, {}, err);
  if (decoder.pending > 0)
    throw new PvjError(
      ErrorCode.JOURNAL_CORRUPT,
      "the base in the Object Store ends inside a frame",
    );
}
