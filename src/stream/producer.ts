/**
 * The change-stream producer: what a replica is sent, in what order, with
 * what backpressure, independent of the transport that carries it (HTTP today,
 * http/routes/stream.ts; a second transport implements {@link StreamSink}).
 */
import { unpacked } from "../journal/block-codec.js";
import type { Journal } from "../journal/journal.js";
import type { JournalRecord, RecordBody } from "../journal/records.js";
import { baseBodies } from "../journal/retention.js";
import type { Logger } from "../log/logger.js";
import type { BlockHasher } from "../util/hash.js";
import type { ReplicaTracker } from "./replica-tracker.js";
import type { StreamMessage } from "./wire.js";

/** A records message is cut at this many bytes (bounded memory per stream). */
const BATCH_BYTES = 4 * 1024 * 1024;
/** Idle heartbeat interval: how quickly a replica learns it is caught up (and its lag). */
const HEARTBEAT_MS = 1000;

/** What the producer needs from the sidecar. */
export interface StreamProducerDeps {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly tracker: ReplicaTracker;
  readonly logger: Logger;
}

/** Where the producer's messages go: one replica's connection, whatever carries it. */
export interface StreamSink {
  /** Resolves once the message may be followed by the next (the transport's backpressure). */
  send(msg: StreamMessage): Promise<void>;
  /** True once the replica has gone; the producer stops at the next message. */
  readonly closed: boolean;
}

/** Which replica asks, and the first seq it lacks (its durable seq + 1). */
export interface StreamRequest {
  readonly replica: string;
  readonly from: number;
  /**
   * Block codecs the replica reads, comma-separated ("zstd"). Compressed
   * blocks go out as stored to a replica that reads their codec, decompressed
   * to one that announced none (a replica from before compression).
   */
  readonly codecs?: string;
}

function recordBytes(r: JournalRecord | RecordBody): number {
  return r.type === "blob" ? r.data.length + 64 : 128;
}

/**
 * Serves one replica until its sink closes: hello, a base when it is behind the
 * retention window, then records as they are appended, with heartbeats.
 * Never throws: errors end the stream and are logged.
 */
export async function produceStream(
  deps: StreamProducerDeps,
  request: StreamRequest,
  sink: StreamSink,
): Promise<void> {
  const { journal, tracker } = deps;
  const { from, replica } = request;
  const log = deps.logger.child({ replica });
  const send = (msg: StreamMessage) => (sink.closed ? Promise.resolve() : sink.send(msg));
  const asStored = (request.codecs ?? "").split(",").includes("zstd");
  const out = <R extends RecordBody>(r: R): R => (asStored ? r : unpacked(r));
  tracker.connected(replica, from);
  log.info({ from }, "replica connected to the stream");
  try {
    await send({
      t: "hello",
      journalId: journal.id,
      lastSeq: journal.lastSeq,
      baseSeq: journal.baseSeq,
      blockSize: journal.blockSize,
    });
    let next = from;
    const base = journal.baseSeq;
    if (base > 0 && from <= base) {
      // The replica needs history retention folded: send the state at the base.
      log.info({ from, base }, "replica is behind the retention window: sending a base");
      // Pinned (before the first await): retention must not fold past the base while it is sent.
      const release = journal.pin(base);
      try {
        await send({
          t: "base",
          seq: base,
          ts: journal.index.tsAtSeq(base) ?? journal.lastTs,
        });
        let bodies: RecordBody[] = [];
        let bytes = 0;
        for await (const body of baseBodies(journal, base, deps.hasher, () => true)) {
          bodies.push(out(body));
          bytes += recordBytes(body);
          if (bytes >= BATCH_BYTES) {
            await send({ t: "base-records", bodies });
            bodies = [];
            bytes = 0;
          }
          if (sink.closed) return;
        }
        if (bodies.length > 0) await send({ t: "base-records", bodies });
        await send({ t: "base-end", seq: base });
      } finally {
        release();
      }
      next = base + 1;
    }
    let lastBeat = 0;
    while (!sink.closed) {
      let batch: JournalRecord[] = [];
      let bytes = 0;
      for await (const rec of journal.records(next)) {
        batch.push(out(rec));
        bytes += recordBytes(rec);
        next = rec.seq + 1;
        if (bytes >= BATCH_BYTES) {
          await send({ t: "records", records: batch });
          batch = [];
          bytes = 0;
          if (sink.closed) break;
        }
      }
      if (batch.length > 0) await send({ t: "records", records: batch });
      if (Date.now() - lastBeat >= HEARTBEAT_MS || journal.lastSeq < next) {
        const acked = tracker.list().find((r) => r.id === replica);
        await send({
          t: "heartbeat",
          lastSeq: journal.lastSeq,
          lastTs: journal.lastTs,
          pendingSinceTs: acked?.pendingSince ? Date.parse(acked.pendingSince) : null,
        });
        lastBeat = Date.now();
      }
      await journal.waitForAppend(next - 1, HEARTBEAT_MS);
    }
  } catch (err) {
    log.warn({ err }, "stream ended with an error");
  } finally {
    tracker.disconnected(replica);
    log.info("replica disconnected from the stream");
  }
}

/** A replica acknowledges that everything up to seq is durable; answers its acked seq. */
export function acknowledge(tracker: ReplicaTracker, replica: string, seq: number): number {
  tracker.ack(replica, seq);
  return tracker.list().find((r) => r.id === replica)?.ackedSeq ?? 0;
}
