/**
 * The replica's follow loop: pull the change stream, append it to the
 * replica's own journal (durable before acknowledged), advance the mirror at
 * every checkpoint, reconnect with backoff and resume from the last durable
 * seq — no gap, no duplicate (the journal skips records it already has).
 */
import { randomUUID } from "node:crypto";
import { CorruptionError, ErrorCode, PvjError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import type { RecordBody } from "../journal/records.js";
import { installStreamedBase } from "../journal/retention.js";
import type { Logger } from "../log/logger.js";
import type { StreamSource } from "../stream/source.js";
import type { StreamMessage } from "../stream/wire.js";
import { backoffMs, sleep } from "../util/sleep.js";
import { Acker } from "./acker.js";
import type { Mirror } from "./mirror.js";
import type { Promotion, ReplicaHooks, ReplicaStatus } from "./status.js";

/** Reconnect backoff bounds (ms): quick after a blip, at most every 10 s when the sidecar is down. */
export const BACKOFF_MIN_MS = 250;
export const BACKOFF_MAX_MS = 10_000;

/**
 * A replica that cannot reach its sidecar for this long after starting is
 * reported ready anyway: at the recovery site the sidecar may be what is
 * gone, and restores and failover must stay reachable behind a Service.
 */
export const READY_WITHOUT_SOURCE_MS = 15_000;

export type { Promotion, ReplicaHooks, ReplicaStatus } from "./status.js";

/** Stable id of a replica, kept in its journal's index. */
export function replicaId(journal: Journal): string {
  let id = journal.index.getMeta("replicaId");
  if (!id) {
    id = randomUUID();
    journal.index.setMeta("replicaId", id);
  }
  return id;
}

/** Follows a StreamSource into a journal and a mirror. */
export class Replica {
  private abort: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private mirrorChain: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Set by a failover: never follow or update the mirror again in this process. */
  private halted = false;
  private connected = false;
  private ready = false;
  private startedAt = 0;
  private sourceLastSeq: number | null = null;
  private pendingSinceTs: number | null = null;
  private lastContact = 0;
  private lastError: { message: string; at: string } | null = null;
  private reconnects = 0;
  private readonly acker: Acker;
  private streamErrors = 0;
  private streamCorrupt = 0;
  private streamLastError: { message: string; at: string; corrupt: boolean } | null = null;

  constructor(
    private readonly journal: Journal,
    private readonly source: StreamSource,
    private readonly mirror: Mirror,
    private readonly log: Logger,
    private readonly hooks: ReplicaHooks = {},
  ) {
    this.acker = new Acker(source, log, hooks.onAckFailure);
  }

  /** True once a failover promoted this replica: it no longer applies the stream. */
  get promoted(): boolean {
    return this.journal.index.getMeta("promoted") !== null;
  }

  /**
   * The failover's record, or null while this replica follows its sidecar.
   * A record that does not parse is reported (JOURNAL_CORRUPT), never
   * replaced by a made-up one; the replica stays promoted either way.
   */
  get promotion(): Promotion | null {
    const raw = this.journal.index.getMeta("promoted");
    if (raw === null) return null;
    try {
      return JSON.parse(raw) as Promotion;
    } catch (err) {
      throw new CorruptionError(
        `the promotion record (journal meta "promoted") is not valid JSON: ${(err as Error).message}`,
        { hint: "the replica stays promoted; inspect the journal's index before starting over" },
        err,
      );
    }
  }

  /**
   * Stops following for good (a failover begins): the stream is closed and no
   * mirror update starts after this resolves, in this process. Persist the
   * promotion with markPromoted once the point is materialised.
   */
  async halt(): Promise<void> {
    this.halted = true;
    await this.stop();
  }

  /** Records the promotion durably: after a restart the replica still refuses the stream. */
  markPromoted(p: Promotion): void {
    this.halted = true;
    this.journal.index.setMeta("promoted", JSON.stringify(p));
  }

  /** Starts following (no-op when promoted). */
  start(): void {
    if (this.loop || this.promoted || this.halted) return;
    this.stopped = false;
    this.startedAt = Date.now();
    this.loop = this.follow();
  }

  /** Stops following and waits for the loop and any mirror update. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    if (this.loop) await this.loop;
    this.loop = null;
    await this.mirrorChain.catch(() => undefined);
    await this.acker.idle();
  }

  /** Waits until the mirror has applied everything queued so far. */
  async mirrorIdle(): Promise<void> {
    await this.mirrorChain.catch(() => undefined);
  }

  status(): ReplicaStatus {
    const behind = this.sourceLastSeq !== null && this.sourceLastSeq > this.journal.lastSeq;
    let lag = 0;
    if (!this.connected && this.lastContact > 0) lag = (Date.now() - this.lastContact) / 1000;
    else if (behind && this.pendingSinceTs !== null)
      lag = Math.max(0, (Date.now() - this.pendingSinceTs) / 1000);
    let promotion: Promotion | null = null;
    let promotionError: string | null = null;
    try {
      promotion = this.promotion;
    } catch (err) {
      promotionError = (err as Error).message;
    }
    return {
      connected: this.connected,
      ready:
        this.ready ||
        (!this.connected &&
          this.startedAt > 0 &&
          Date.now() - this.startedAt >= READY_WITHOUT_SOURCE_MS),
      caughtUp: this.ready,
      sourceLastSeq: this.sourceLastSeq,
      lastSeq: this.journal.lastSeq,
      mirrorSeq: this.mirror.seq,
      lagSeconds: lag,
      promoted: this.promoted,
      promotion,
      ...(promotionError !== null ? { promotionError } : {}),
      lastError: this.lastError,
      reconnects: this.reconnects,
      ack: this.acker.status(),
      stream: {
        lastError: this.streamLastError,
        errors: this.streamErrors,
        corrupt: this.streamCorrupt,
      },
    };
  }

  private async follow(): Promise<void> {
    // Attempts since the last session that worked: the reconnect delay doubles with each.
    let attempt = 1;
    // Catch the mirror up with what the journal already holds (after a restart).
    this.queueMirror(this.journal.index.lastCheckpoint()?.seq ?? 0);
    while (!this.stopped) {
      this.abort = new AbortController();
      try {
        await this.session(this.abort.signal);
        attempt = 1;
      } catch (err) {
        if (this.stopped) break;
        this.streamFailed(err, backoffMs(attempt, BACKOFF_MIN_MS, BACKOFF_MAX_MS));
      } finally {
        if (this.connected) this.lastContact = Date.now();
        this.connected = false;
      }
      if (this.stopped) break;
      this.reconnects += 1;
      await sleep(backoffMs(attempt, BACKOFF_MIN_MS, BACKOFF_MAX_MS), this.abort.signal);
      attempt += 1;
    }
  }

  /** One connection: runs until the stream ends or fails. */
  private async session(signal: AbortSignal): Promise<void> {
    const from = this.journal.lastSeq + 1;
    const it = this.source.open(from, signal)[Symbol.asyncIterator]();
    for (;;) {
      const { value: msg, done } = await it.next();
      if (done || this.stopped) return;
      this.lastContact = Date.now();
      await this.handle(msg, it);
    }
  }

  private async handle(msg: StreamMessage, it: AsyncIterator<StreamMessage>): Promise<void> {
    switch (msg.t) {
      case "hello": {
        const known = this.journal.index.getMeta("sourceJournalId");
        if (known && known !== msg.journalId) {
          throw new PvjError(
            ErrorCode.JOURNAL_CORRUPT,
            `${this.source.description} serves journal ${msg.journalId}, but this replica follows ${known}: refusing to mix histories`,
            {
              hint: "a sidecar whose journal was lost starts a new history: fail over, or start this replica with a new journal.dir",
            },
          );
        }
        if (msg.lastSeq < this.journal.lastSeq && msg.baseSeq <= this.journal.lastSeq) {
          throw new PvjError(
            ErrorCode.JOURNAL_CORRUPT,
            `${this.source.description} is at seq ${msg.lastSeq}, behind this replica (${this.journal.lastSeq})`,
          );
        }
        // Block numbers only mean something with the source's block size.
        this.journal.adoptBlockSize(msg.blockSize);
        if (!known) this.journal.index.setMeta("sourceJournalId", msg.journalId);
        this.connected = true;
        this.sourceLastSeq = msg.lastSeq;
        this.log.info(
          {
            source: this.source.description,
            from: this.journal.lastSeq + 1,
            sourceLastSeq: msg.lastSeq,
          },
          "following the stream",
        );
        return;
      }
      case "base": {
        this.log.warn(
          { baseSeq: msg.seq, lastSeq: this.journal.lastSeq },
          "sidecar folded history this replica lacks: installing its base",
        );
        // Waits for a running retention pass of this replica (both replace segments).
        await installStreamedBase(this.journal, msg.seq, msg.ts, baseBodiesFrom(it));
        this.queueMirror(msg.seq);
        this.ackSoon();
        return;
      }
      case "records": {
        if (msg.records.length === 0) return;
        if (this.halted || this.promoted) {
          throw new PvjError(
            ErrorCode.NOT_AVAILABLE,
            "this replica was promoted by a failover: it no longer applies the stream",
          );
        }
        await this.journal.appendStamped(msg.records);
        this.ackSoon();
        let cp = 0;
        for (const r of msg.records) if (r.type === "checkpoint") cp = r.seq;
        if (cp > 0) this.queueMirror(cp);
        if (this.sourceLastSeq !== null && this.journal.lastSeq > this.sourceLastSeq)
          this.sourceLastSeq = this.journal.lastSeq;
        return;
      }
      case "heartbeat":
        this.sourceLastSeq = msg.lastSeq;
        this.pendingSinceTs = msg.pendingSinceTs;
        if (this.journal.lastSeq >= msg.lastSeq && !this.ready) {
          this.ready = true;
          this.log.info({ seq: this.journal.lastSeq }, "caught up with the sidecar");
        }
        return;
      default:
        throw new PvjError(
          ErrorCode.JOURNAL_CORRUPT,
          `unexpected stream message ${(msg as { t: string }).t}`,
        );
    }
  }

  private queueMirror(seq: number): void {
    if (seq <= 0) return;
    this.mirrorChain = this.mirrorChain
      .then(() => (this.promoted || this.halted ? undefined : this.mirror.advanceTo(seq)))
      .catch((err: unknown) => {
        this.lastError = {
          message: `mirror: ${(err as Error).message}`,
          at: new Date().toISOString(),
        };
        this.log.error({ err, seq }, "mirror update failed; it will be rebuilt on the next update");
      });
  }

  /** Acknowledges the durable seq (coalesced; failures are logged, counted, in status). */
  private ackSoon(): void {
    this.acker.ack(this.journal.lastSeq);
  }

  /**
   * A failed session: corruption (a bad frame, a mixed-up history) is an
   * error, counted apart, because retrying will not fix it by itself; a
   * dropped connection is a warning. Both are retried with backoff.
   */
  private streamFailed(err: unknown, retryInMs: number): void {
    const message = err instanceof Error ? err.message : String(err);
    const corrupt = err instanceof PvjError && err.code === ErrorCode.JOURNAL_CORRUPT;
    const at = new Date().toISOString();
    this.lastError = { message, at };
    this.streamLastError = { message, at, corrupt };
    this.streamErrors += 1;
    if (corrupt) this.streamCorrupt += 1;
    this.hooks.onStreamError?.(corrupt ? "corrupt" : "connection");
    if (corrupt)
      this.log.error(
        { err, retryInMs, corrupt: this.streamCorrupt },
        "the stream is corrupt; nothing of it was appended; retrying",
      );
    else this.log.warn({ err, retryInMs }, "stream failed; reconnecting");
  }
}

/** Pulls base records from the stream until base-end. */
async function* baseBodiesFrom(it: AsyncIterator<StreamMessage>): AsyncGenerator<RecordBody> {
  for (;;) {
    const { value, done } = await it.next();
    if (done) throw new PvjError(ErrorCode.IO_ERROR, "stream ended in the middle of a base");
    if (value.t === "base-end") return;
    if (value.t !== "base-records")
      throw new PvjError(ErrorCode.JOURNAL_CORRUPT, `unexpected ${value.t} inside a base`);
    yield* value.bodies;
  }
}
