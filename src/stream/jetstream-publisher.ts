/**
 * The sidecar's side of the jetstream transport: publishes every journal
 * record, in seq order, to the journal's stream. Each message is a batch of
 * records in the stream's wire frame (length, crc32, msgpack), with the
 * journal id and its first and last seq in the headers.
 *
 * - message id = journal id + seqs: a retried publish is de-duplicated;
 * - expected-last-sequence on every publish: a second writer, or a sidecar
 *   with another history, fails instead of interleaving;
 * - pipelined: up to MAX_INFLIGHT publishes wait for their acks at once;
 * - after any failure (or a restart) it re-reads the stream's last message
 *   and resumes right after it.
 */
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, PvjError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import type { JournalRecord } from "../journal/records.js";
import type { Logger } from "../log/logger.js";
import { sleep } from "../util/sleep.js";
import { HDR_FIRST, HDR_JOURNAL, HDR_LAST, recordsSubject } from "./jetstream-connect.js";
import { ensureStream, type StreamHead } from "./jetstream-stream.js";
import { encodeMessage } from "./wire.js";

/** Publishes awaiting their ack at once: enough to fill an R3 round trip, bounded memory. */
export const MAX_INFLIGHT = 32;
/** A batch is cut at this many bytes, or at 3/4 of the server's max_payload if smaller. */
const BATCH_BYTES = 4 * 1024 * 1024;
/** An unacknowledged publish fails after this (ms); the publisher then re-syncs. */
const PUBLISH_TIMEOUT_MS = 10_000;
/** Retry delay bounds after a failure (ms). */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;
/** How long the sidecar's start waits for the stream to answer (ms). */
const OPEN_RETRY_MS = 60_000;
/** The published position is noted in the journal's meta at most this often (ms). */
const NOTE_EVERY_MS = 1_000;
/** Journal meta key: the newest journal seq the stream acknowledged. */
const META_PUBLISHED = "jetstream:publishedSeq";

/** What /v1/status shows about publishing. */
export interface PublisherStatus {
  readonly stream: string;
  /** publishing, refused (another history: stopped for good), retrying. */
  readonly state: "starting" | "publishing" | "retrying" | "refused";
  /** Newest journal seq the stream acknowledged. */
  readonly publishedSeq: number;
  readonly inflight: number;
  readonly errors: number;
  readonly lastError: { readonly message: string; readonly at: string } | null;
}

/** Options of a publisher. */
export interface PublisherOptions {
  readonly stream: string;
  readonly replicas: number;
  /** The stream's age limit (ms): journal.retention. */
  readonly maxAgeMs: number;
  readonly journal: Journal;
  readonly logger: Logger;
  /** Called on every failed publish session (metrics). */
  readonly onError?: () => void;
}

function recordBytes(r: JournalRecord): number {
  return r.type === "blob" ? r.data.length + 64 : 128;
}

/** Publishes a journal to its stream. */
export class JetStreamPublisher {
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: AbortController = new AbortController();
  private state: PublisherStatus["state"] = "starting";
  private published = 0;
  private notedAt = 0;
  private inflight = 0;
  private errors = 0;
  private lastError: PublisherStatus["lastError"] = null;
  /** Next journal seq to publish and the stream seq the next publish expects last. */
  private next = 1;
  private expected = 0;
  /** Newest stream seq this process saw acknowledged, and the ids of publishes since. */
  private ackedStreamSeq = 0;
  private readonly sent = new Set<string>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: PublisherOptions,
  ) {
    this.js = jetstream(nc, { timeout: PUBLISH_TIMEOUT_MS });
  }

  /**
   * Creates or checks the stream and finds where to resume. Throws when the
   * stream belongs to another history (the sidecar must not start).
   */
  async open(): Promise<void> {
    // A cluster that just lost or regained a node answers API requests with
    // timeouts until its stream leader is elected: retry those for a while.
    const deadline = Date.now() + OPEN_RETRY_MS;
    for (let wait = RETRY_MIN_MS; ; wait = Math.min(RETRY_MAX_MS, wait * 2)) {
      try {
        this.jsm ??= await jetstreamManager(this.nc, { timeout: PUBLISH_TIMEOUT_MS });
        this.resumeAt(await this.head());
        return;
      } catch (err) {
        if (err instanceof PvjError || Date.now() + wait > deadline) throw err;
        this.opts.logger.warn(
          { err, retryInMs: wait },
          "the JetStream stream does not answer yet; retrying",
        );
        await sleep(wait);
      }
    }
  }

  /** Starts the publishing loop (after open). */
  start(): void {
    if (this.loop || this.stopped) return;
    this.state = "publishing";
    this.loop = this.run();
  }

  /** Stops publishing and waits for the acks in flight. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.abort();
    if (this.loop) await this.loop;
  }

  status(): PublisherStatus {
    return {
      stream: this.opts.stream,
      state: this.state,
      publishedSeq: this.published,
      inflight: this.inflight,
      errors: this.errors,
      lastError: this.lastError,
    };
  }

  private head(): Promise<StreamHead> {
    const { journal } = this.opts;
    return ensureStream(this.jsm as JetStreamManager, {
      stream: this.opts.stream,
      replicas: this.opts.replicas,
      maxAgeMs: this.opts.maxAgeMs,
      identity: { journalId: journal.id, blockSize: journal.blockSize },
    });
  }

  /** Where to go on from what the stream holds; refuses a stream ahead of this journal. */
  private resumeAt(head: StreamHead, resync = false): void {
    const { journal } = this.opts;
    // After a failed publish the stream may hold more than we saw acknowledged:
    // fine if it is a publish of ours whose ack was lost, a second writer if not.
    if (resync && head.lastStreamSeq > this.ackedStreamSeq && head.lastJournalSeq !== null) {
      const id = `${journal.id}:${head.lastFirstJournalSeq}-${head.lastJournalSeq}`;
      if (!this.sent.has(id))
        throw new PvjError(
          ErrorCode.JOURNAL_CORRUPT,
          `JetStream stream ${this.opts.stream} got stream seq ${head.lastStreamSeq} from another writer (journal seqs ${head.lastFirstJournalSeq}-${head.lastJournalSeq}): refusing to interleave`,
          { hint: "run one sidecar per journal and stream" },
        );
    }
    this.sent.clear();
    this.ackedStreamSeq = head.lastStreamSeq;
    let last: number;
    if (head.lastJournalSeq !== null) last = head.lastJournalSeq;
    else if (head.lastStreamSeq === 0) last = journal.baseSeq;
    // Every message aged out: go on after what this journal noted as acknowledged.
    else last = Math.max(journal.baseSeq, Number(journal.index.getMeta(META_PUBLISHED) ?? 0));
    if (last > journal.lastSeq) {
      throw new PvjError(
        ErrorCode.JOURNAL_CORRUPT,
        `JetStream stream ${this.opts.stream} holds journal seq ${last}, but this journal ends at ${journal.lastSeq}: another writer, or another copy of this journal, publishes to it; refusing to interleave`,
        {
          seq: last,
          hint: "run one sidecar per journal and stream; after a site loss start a new stream",
        },
      );
    }
    this.next = last + 1;
    this.expected = head.lastStreamSeq;
    this.published = Math.max(this.published, last);
  }

  private async run(): Promise<void> {
    let retry = RETRY_MIN_MS;
    let resync = false;
    while (!this.stopped) {
      try {
        if (resync) this.resumeAt(await this.head(), true);
        this.state = "publishing";
        await this.pump();
        retry = RETRY_MIN_MS;
      } catch (err) {
        if (this.stopped) break;
        const refused = err instanceof PvjError && err.code === ErrorCode.JOURNAL_CORRUPT;
        this.errors += 1;
        this.lastError = { message: (err as Error).message, at: new Date().toISOString() };
        this.opts.onError?.();
        if (refused) {
          this.state = "refused";
          this.opts.logger.error(
            { err },
            "publishing to JetStream stopped: the stream has another history",
          );
          return;
        }
        this.state = "retrying";
        this.opts.logger.warn(
          { err, retryInMs: retry },
          "publishing to JetStream failed; re-syncing with the stream",
        );
        await sleep(retry, this.wake.signal);
        retry = Math.min(RETRY_MAX_MS, retry * 2);
      }
      resync = true;
    }
  }

  /** Publishes until stopped; throws on the first failed publish (after the rest settle). */
  private async pump(): Promise<void> {
    const { journal } = this.opts;
    const maxPayload = this.nc.info?.max_payload ?? 1024 * 1024;
    const cut = Math.min(BATCH_BYTES, Math.floor(maxPayload * 0.75));
    const pending: Promise<void>[] = [];
    let failed: unknown = null;
    const settle = async (all: boolean) => {
      while (pending.length > (all ? 0 : MAX_INFLIGHT - 1)) await pending.shift();
    };
    const send = (batch: JournalRecord[]) => {
      const p = this.publish(batch, maxPayload).catch((err: unknown) => {
        failed ??= err;
      });
      pending.push(p);
      return settle(false);
    };
    try {
      while (!this.stopped && failed === null) {
        let batch: JournalRecord[] = [];
        let bytes = 0;
        for await (const rec of journal.records(this.next)) {
          if (batch.length > 0 && bytes + recordBytes(rec) > cut) {
            await send(batch);
            batch = [];
            bytes = 0;
            if (failed !== null || this.stopped) break;
          }
          batch.push(rec);
          bytes += recordBytes(rec);
          this.next = rec.seq + 1;
        }
        if (batch.length > 0 && failed === null) await send(batch);
        if (failed !== null || this.stopped) break;
        if (journal.lastSeq < this.next) await journal.waitForAppend(this.next - 1, 1000);
      }
    } finally {
      await settle(true);
    }
    if (failed !== null) throw failed;
  }

  private async publish(batch: JournalRecord[], maxPayload: number): Promise<void> {
    const { journal } = this.opts;
    const first = batch[0]!.seq;
    const last = batch[batch.length - 1]!.seq;
    const data = encodeMessage({ t: "records", records: batch });
    if (data.length > maxPayload)
      throw new PvjError(
        ErrorCode.JOURNAL_CORRUPT,
        `journal seq ${first} needs a ${data.length}-byte message, above the NATS servers' max_payload (${maxPayload})`,
        {
          seq: first,
          hint: "raise max_payload on the NATS servers above journal.blockSize plus 64 KiB",
        },
      );
    const h = headers();
    h.set(HDR_JOURNAL, journal.id);
    h.set(HDR_FIRST, String(first));
    h.set(HDR_LAST, String(last));
    const expect = this.expected;
    const msgID = `${journal.id}:${first}-${last}`;
    this.sent.add(msgID);
    this.expected += 1;
    this.inflight += 1;
    try {
      const ack = await this.js.publish(recordsSubject(this.opts.stream), data, {
        msgID,
        expect: { lastSequence: expect },
        headers: h,
        timeout: PUBLISH_TIMEOUT_MS,
      });
      if (!ack.duplicate && ack.seq !== expect + 1)
        throw new PvjError(
          ErrorCode.IO_ERROR,
          `stream stored seq ${first} at ${ack.seq}, expected ${expect + 1}`,
        );
      this.acked(ack.seq, last);
    } finally {
      this.inflight -= 1;
    }
  }

  private acked(streamSeq: number, last: number): void {
    const { journal } = this.opts;
    if (streamSeq > this.ackedStreamSeq) this.ackedStreamSeq = streamSeq;
    if (last > this.published) this.published = last;
    if (Date.now() - this.notedAt >= NOTE_EVERY_MS) {
      this.notedAt = Date.now();
      journal.index.setMeta(META_PUBLISHED, String(this.published));
    }
  }
}
