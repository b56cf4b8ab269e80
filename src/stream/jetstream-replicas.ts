/**
 * The sidecar's view of its JetStream replicas: every durable consumer of
 * the stream is a replica, and its ack floor is what is durable there. Polled
 * into the ReplicaTracker, so retention holds for the slowest replica that is
 * still on the stream and /v1/status shows every replica's position.
 *
 * A consumer whose ack floor is older than the stream's first message fell
 * off the end (stopped for longer than the stream's age limit): it holds
 * nothing, and bootstraps from the base this module keeps in the Object
 * Store whenever the stream no longer starts at journal seq 1.
 */
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Journal } from "../journal/journal.js";
import type { Logger } from "../log/logger.js";
import type { BlockHasher } from "../util/hash.js";
import { type BaseInfo, readBaseInfo, writeBase } from "./jetstream-base.js";
import { readHead, seqsAt } from "./jetstream-stream.js";
import type { ReplicaTracker } from "./replica-tracker.js";

/** How often consumer positions are read (ms): status freshness vs. API load. */
export const POLL_MS = 2_000;

/** One durable consumer as /v1/status shows it. */
export interface ConsumerPosition {
  readonly id: string;
  /** Newest journal seq durable at the replica (its ack floor); null when it fell off the end. */
  readonly ackedSeq: number | null;
  readonly behindSeq: number | null;
  /** Seconds since the oldest record it lacks was published; 0 when caught up. */
  readonly lagSeconds: number;
  /** True while the replica has a pull request waiting (it is connected). */
  readonly connected: boolean;
  /** Its position is older than the stream's first message: it must bootstrap from the base. */
  readonly fellOff: boolean;
  /** Its ack floor as a stream seq. */
  readonly ackStreamSeq: number;
}

/** Options of the poller. */
export interface JetStreamReplicasOptions {
  readonly stream: string;
  readonly replicas: number;
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly tracker: ReplicaTracker;
  readonly logger: Logger;
  /** Newest journal seq the stream acknowledged (the publisher's): where an emptied stream stands. */
  readonly publishedSeq: () => number;
  /** 0 = no timer (tests call poll()). */
  readonly intervalMs?: number;
}

/** Polls consumer positions and keeps the bootstrap base fresh. */
export class JetStreamReplicas {
  private jsm: JetStreamManager | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private positions: ConsumerPosition[] = [];
  private polled = false;
  private stream: Record<string, number | null> | null = null;
  private base: BaseInfo | null = null;
  private baseWrite: Promise<void> | null = null;
  private readonly fell = new Set<string>();
  private lastError: { message: string; at: string } | null = null;
  /** Journal seq of each stream seq's last record (ack floors repeat: read each once). */
  private readonly lastOf = new Map<number, { last: number; ts: number }>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: JetStreamReplicasOptions,
  ) {}

  start(): void {
    const ms = this.opts.intervalMs ?? POLL_MS;
    if (ms <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.poll(), ms);
    this.timer.unref();
    void this.poll();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    await this.baseWrite;
  }

  status(): {
    consumers: ConsumerPosition[];
    streamState: Record<string, number | null> | null;
    base: BaseInfo | null;
    lastError: { message: string; at: string } | null;
  } {
    return {
      consumers: this.positions,
      streamState: this.stream,
      base: this.base,
      lastError: this.lastError,
    };
  }

  /**
   * Newest seq every durable consumer still on the stream has (retention
   * keeps everything after it); undefined when there is none; null before
   * the first successful poll (the caller then falls back to the positions
   * the tracker persisted). A deleted consumer holds nothing.
   */
  keepAfterSeq(): number | undefined | null {
    if (!this.polled) return null;
    const on = this.positions.filter((c) => c.ackedSeq !== null).map((c) => c.ackedSeq as number);
    return on.length === 0 ? undefined : Math.min(...on);
  }

  /** One poll (skipped while one runs). */
  poll(): Promise<void> {
    this.running ??= this.pollOnce()
      .catch((err: unknown) => {
        this.lastError = { message: (err as Error).message, at: new Date().toISOString() };
        this.opts.logger.warn({ err }, "reading JetStream consumer positions failed; retrying");
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async journalSeqAt(streamSeq: number): Promise<{ last: number; ts: number } | null> {
    const hit = this.lastOf.get(streamSeq);
    if (hit) return hit;
    const m = await seqsAt(this.jsm as JetStreamManager, this.opts.stream, streamSeq);
    if (m === null) return null;
    if (this.lastOf.size > 4096) this.lastOf.clear();
    const v = { last: m.last, ts: m.ts };
    this.lastOf.set(streamSeq, v);
    return v;
  }

  private async pollOnce(): Promise<void> {
    const { journal, tracker, stream, logger } = this.opts;
    this.jsm ??= await jetstreamManager(this.nc);
    const head = await readHead(this.jsm, stream);
    if (head === null) return;
    // Journal seq just before the first record the stream still holds. A
    // stream whose every message aged out holds none: it stands at what the
    // publisher last had acknowledged (0 only when nothing was ever published),
    // or every caught-up replica would hold retention from seq 1 for good.
    const floor =
      head.firstJournalSeq !== null
        ? head.firstJournalSeq - 1
        : (head.lastJournalSeq ?? (head.lastStreamSeq > 0 ? this.opts.publishedSeq() : 0));
    const out: ConsumerPosition[] = [];
    for (const ci of await this.jsm.consumers.list(stream).next()) {
      const ackStream = ci.ack_floor.stream_seq;
      let acked: number | null;
      if (ackStream >= head.firstStreamSeq && ackStream > 0)
        acked = (await this.journalSeqAt(ackStream))?.last ?? null;
      else if (ackStream === head.firstStreamSeq - 1 && (ackStream > 0 || floor === 0))
        acked = floor;
      else acked = null;
      const fellOff = acked === null;
      if (fellOff && !this.fell.has(ci.name))
        logger.warn(
          { replica: ci.name, streamFirstSeq: floor + 1 },
          "replica fell off the end of the stream: it will bootstrap from the base",
        );
      if (fellOff) this.fell.add(ci.name);
      else this.fell.delete(ci.name);
      // A replica that fell off holds nothing: it bootstraps from the base.
      tracker.ack(ci.name, acked ?? floor);
      let lag = 0;
      if (acked !== null && acked < journal.lastSeq) {
        const since = journal.index.tsAfterSeq(acked);
        if (since !== null) lag = Math.max(0, (Date.now() - since) / 1000);
      }
      out.push({
        id: ci.name,
        ackedSeq: acked,
        behindSeq: acked === null ? null : Math.max(0, journal.lastSeq - acked),
        lagSeconds: lag,
        connected: ci.num_waiting > 0,
        fellOff,
        ackStreamSeq: ackStream,
      });
    }
    this.positions = out;
    this.polled = true;
    this.stream = {
      firstSeq: head.firstStreamSeq,
      lastSeq: head.lastStreamSeq,
      messages: head.messages,
      firstJournalSeq: head.firstJournalSeq,
    };
    this.lastError = null;
    if (floor > 0) await this.keepBase(floor, head.lastJournalSeq ?? floor);
  }

  /** Writes a new base when the stored one is older than what the stream lost. */
  private async keepBase(need: number, newest: number): Promise<void> {
    const { journal, stream, logger } = this.opts;
    if (this.base === null || this.base.seq < need) this.base = await readBaseInfo(this.nc, stream);
    const ok = this.base !== null && this.base.journalId === journal.id && this.base.seq >= need;
    if (ok || this.baseWrite) return;
    // The newest published seq: the base then stays useful for the stream's whole age limit.
    const seq = Math.min(journal.lastSeq, Math.max(newest, journal.baseSeq));
    logger.info({ seq, need }, "writing the bootstrap base to the JetStream Object Store");
    this.baseWrite = writeBase(this.nc, {
      stream,
      replicas: this.opts.replicas,
      journal,
      hasher: this.opts.hasher,
      seq,
    })
      .then((info) => {
        this.base = info;
        logger.info({ seq }, "bootstrap base written");
      })
      .catch((err: unknown) =>
        logger.error({ err, seq }, "writing the bootstrap base failed; retrying at the next poll"),
      )
      .finally(() => {
        this.baseWrite = null;
      });
  }
}
