/**
 * The replica's side of the jetstream transport: a StreamSource over a
 * durable pull consumer named by replica.id. Records messages are handed on
 * in stream order; a message the replica already has is skipped (the journal
 * skips records at or below its last seq, so a redelivery is harmless); acks
 * go to JetStream only after the replica's journal fsynced them (AckAll: one
 * ack covers every earlier message). A gap (the stream dropped messages this
 * replica lacks) is filled from the base in the Object Store first.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/transport-node";
import { CorruptionError, ErrorCode, PvjError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { readBase, readBaseInfo } from "./jetstream-base.js";
import { HDR_FIRST, HDR_JOURNAL, HDR_LAST } from "./jetstream-connect.js";
import { readHead } from "./jetstream-stream.js";
import type { StreamSource } from "./source.js";
import { FrameDecoder, type StreamMessage } from "./wire.js";

/** Messages per pull, and how long a pull waits when the stream is idle (ms, the client's minimum). */
const PULL_MESSAGES = 64;
const PULL_EXPIRES_MS = 1_000;
/** Unacknowledged messages the server hands out before waiting for acks. */
const MAX_ACK_PENDING = 256;
/** A message not acknowledged within this is delivered again (ms); a base install may take long. */
const ACK_WAIT_MS = 120_000;

/** Options of a JetStreamSource. */
export interface JetStreamSourceOptions {
  readonly stream: string;
  /** The durable consumer's name: replica.id. */
  readonly consumer: string;
  readonly servers: readonly string[];
  readonly logger: Logger;
}

/** Follows the journal's stream through a durable consumer. */
export class JetStreamSource implements StreamSource {
  readonly description: string;
  private js: JetStreamClient | null = null;
  private jsm: JetStreamManager | null = null;
  /** Delivered messages not yet acknowledged: the newest journal seq each carries. */
  private pending: { last: number; msg: JsMsg }[] = [];

  private nc: NatsConnection | null = null;

  constructor(
    /** The connection (made on first use when NATS was unreachable at start). */
    private readonly connection: () => Promise<NatsConnection>,
    private readonly opts: JetStreamSourceOptions,
  ) {
    this.description = `jetstream ${opts.stream} (${opts.servers.join(", ")}) as ${opts.consumer}`;
  }

  private async consumer(jsm: JetStreamManager) {
    const { stream, consumer } = this.opts;
    try {
      await jsm.consumers.info(stream, consumer);
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw err;
      this.opts.logger.info({ consumer }, "creating the durable consumer");
      await jsm.consumers.add(stream, {
        durable_name: consumer,
        ack_policy: AckPolicy.All,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: MAX_ACK_PENDING,
        ack_wait: nanos(ACK_WAIT_MS),
      });
    }
    return (this.js as JetStreamClient).consumers.get(stream, consumer);
  }

  async *open(from: number, signal: AbortSignal): AsyncGenerator<StreamMessage> {
    const { stream } = this.opts;
    this.nc ??= await this.connection();
    this.jsm ??= await jetstreamManager(this.nc);
    this.js ??= jetstream(this.nc);
    const head = await readHead(this.jsm, stream);
    if (head === null)
      throw new PvjError(ErrorCode.NOT_AVAILABLE, `JetStream stream ${stream} does not exist yet`, {
        hint: "the sidecar creates it when it starts with stream.transport: jetstream",
      });
    const identity = head.identity;
    if (identity === null)
      throw new PvjError(
        ErrorCode.JOURNAL_CORRUPT,
        `JetStream stream ${stream} does not carry a pvjournal journal`,
      );
    const sourceLast = head.lastJournalSeq ?? from - 1;
    yield {
      t: "hello",
      journalId: identity.journalId,
      lastSeq: sourceLast,
      baseSeq: head.firstJournalSeq !== null ? head.firstJournalSeq - 1 : 0,
      blockSize: identity.blockSize,
    };
    const consumer = await this.consumer(this.jsm);
    this.pending = [];
    let next = from;
    let lastTs = head.lastTs ?? Date.now();
    if (sourceLast < from)
      yield { t: "heartbeat", lastSeq: from - 1, lastTs, pendingSinceTs: null };
    while (!signal.aborted) {
      const batch = await consumer.fetch({ max_messages: PULL_MESSAGES, expires: PULL_EXPIRES_MS });
      const onAbort = () => void batch.stop();
      signal.addEventListener("abort", onAbort, { once: true });
      let got = 0;
      try {
        for await (const m of batch) {
          got += 1;
          const h = m.headers;
          const first = Number(h?.get(HDR_FIRST));
          const last = Number(h?.get(HDR_LAST));
          if (h?.get(HDR_JOURNAL) !== identity.journalId || !(first > 0) || !(last >= first))
            throw new CorruptionError(
              `stream ${stream} message ${m.info.streamSequence} is not a record batch of journal ${identity.journalId}`,
            );
          this.pending.push({ last, msg: m });
          if (last < next) continue;
          if (first > next) {
            next = yield* this.bootstrap(next, first, m.info.streamSequence, identity.journalId);
          }
          // A copy: decoded blobs are views of it, and the client may reuse the read buffer.
          const msgs = new FrameDecoder().push(Buffer.from(m.data));
          const rec = msgs[0];
          if (msgs.length !== 1 || rec?.t !== "records")
            throw new CorruptionError(
              `stream ${stream} message ${m.info.streamSequence} holds no records frame`,
            );
          lastTs = rec.records[rec.records.length - 1]?.ts ?? lastTs;
          yield rec;
          next = last + 1;
          yield {
            t: "heartbeat",
            lastSeq: m.info.pending === 0 ? last : Math.max(last, sourceLast),
            lastTs,
            pendingSinceTs: m.info.pending === 0 ? null : (rec.records[0]?.ts ?? null),
          };
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
      if (got === 0) yield { t: "heartbeat", lastSeq: next - 1, lastTs, pendingSinceTs: null };
    }
  }

  /**
   * The stream lacks journal seqs next..first-1: install the stored base if
   * it covers them, else wait for the sidecar to write one. Returns the next seq.
   */
  private async *bootstrap(
    next: number,
    first: number,
    streamSeq: number,
    journalId: string,
  ): AsyncGenerator<StreamMessage, number> {
    const { stream, consumer, logger } = this.opts;
    const nc = this.nc as NatsConnection;
    const info = await readBaseInfo(nc, stream);
    if (info !== null && info.journalId === journalId && info.seq >= first - 1) {
      logger.warn(
        { from: next, streamFirst: first, baseSeq: info.seq },
        "the stream no longer holds what this replica lacks: installing the base from the Object Store",
      );
      yield* readBase(nc, stream);
      return info.seq + 1;
    }
    // The consumer may be ahead of the stream's start (this replica's journal
    // was replaced): start it over from the stream's first message.
    const head = await readHead(this.jsm as JetStreamManager, stream);
    if (head !== null && streamSeq > head.firstStreamSeq) {
      logger.warn(
        { consumer, from: next },
        "the durable consumer is ahead of this replica's journal: recreating it at the stream's start",
      );
      await (this.jsm as JetStreamManager).consumers.delete(stream, consumer);
    }
    throw new PvjError(
      ErrorCode.NOT_AVAILABLE,
      `stream ${stream} no longer holds journal seq ${next} (its messages start at ${first}) and the base in the Object Store is ${info === null ? "missing" : `at seq ${info.seq}`}: waiting for the sidecar to write a newer base`,
    );
  }

  /** Acknowledges every delivered message whose records are all durable (seq and below). */
  async ack(seq: number): Promise<void> {
    let upTo = -1;
    for (let i = 0; i < this.pending.length; i++) if (this.pending[i]!.last <= seq) upTo = i;
    if (upTo < 0) return;
    const { msg } = this.pending[upTo]!;
    this.pending = this.pending.slice(upTo + 1);
    await msg.ackAck();
  }
}
