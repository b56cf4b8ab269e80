/**
 * The journal's JetStream stream: created when missing (its replication
 * factor, and an age limit equal to the journal's window), and read back as
 * journal positions: which journal seqs its first and last messages carry.
 */
import {
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { ErrorCode, PvjError } from "../errors.js";
import {
  formatIdentity,
  HDR_FIRST,
  HDR_JOURNAL,
  HDR_LAST,
  parseIdentity,
  recordsSubject,
  type StreamIdentity,
} from "./jetstream-connect.js";

/** Server error code "stream not found". */
const STREAM_NOT_FOUND = 10059;
/** Longest de-duplication window (ms): enough for a retried publish, small enough to be cheap. */
const DUPLICATE_WINDOW_MS = 120_000;

/** Journal seqs carried by one stream message. */
export interface MessageSeqs {
  readonly journalId: string;
  readonly first: number;
  readonly last: number;
}

/** Where the stream stands, in stream seqs and in journal seqs. */
export interface StreamHead {
  readonly identity: StreamIdentity | null;
  readonly firstStreamSeq: number;
  readonly lastStreamSeq: number;
  readonly messages: number;
  /** Journal seq of the first record the stream still holds; null when it holds none. */
  readonly firstJournalSeq: number | null;
  /** Journal seq of the newest record the stream holds; null when it holds none. */
  readonly lastJournalSeq: number | null;
  /** Journal seq of the first record of the newest message (its id is journal id + first-last). */
  readonly lastFirstJournalSeq: number | null;
  /** When the newest message was stored (ms), or null. */
  readonly lastTs: number | null;
}

/** Reads a message's journal seqs by stream seq; null when it is gone or not ours. */
export async function seqsAt(
  jsm: JetStreamManager,
  stream: string,
  streamSeq: number,
): Promise<(MessageSeqs & { ts: number }) | null> {
  if (streamSeq <= 0) return null;
  let m: Awaited<ReturnType<JetStreamManager["streams"]["getMessage"]>>;
  try {
    m = await jsm.streams.getMessage(stream, { seq: streamSeq });
  } catch (err) {
    if (err instanceof JetStreamApiError) return null;
    throw err;
  }
  if (m === null) return null;
  const first = Number(m.header.get(HDR_FIRST));
  const last = Number(m.header.get(HDR_LAST));
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first <= 0) return null;
  return { journalId: m.header.get(HDR_JOURNAL), first, last, ts: m.time.getTime() };
}

/** Stream info, or null when the stream does not exist. */
async function infoOrNull(jsm: JetStreamManager, stream: string) {
  try {
    return await jsm.streams.info(stream);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND) return null;
    throw err;
  }
}

/** The stream's position; null when the stream does not exist. */
export async function readHead(jsm: JetStreamManager, stream: string): Promise<StreamHead | null> {
  const info = await infoOrNull(jsm, stream);
  if (info === null) return null;
  const s = info.state;
  const first = s.messages > 0 ? await seqsAt(jsm, stream, s.first_seq) : null;
  const last = s.messages > 0 ? await seqsAt(jsm, stream, s.last_seq) : null;
  return {
    identity: parseIdentity(info.config.description),
    firstStreamSeq: s.first_seq,
    lastStreamSeq: s.last_seq,
    messages: s.messages,
    firstJournalSeq: first?.first ?? null,
    lastJournalSeq: last?.last ?? null,
    lastFirstJournalSeq: last?.first ?? null,
    lastTs: last?.ts ?? null,
  };
}

/**
 * Creates the stream when missing, or checks that it carries this journal.
 * A stream of another journal is refused (JOURNAL_CORRUPT): two histories must
 * never interleave. The age limit follows journal.retention.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  opts: { stream: string; replicas: number; maxAgeMs: number; identity: StreamIdentity },
): Promise<StreamHead> {
  const info = await infoOrNull(jsm, opts.stream);
  const maxAge = nanos(opts.maxAgeMs);
  if (info === null) {
    await jsm.streams.add({
      name: opts.stream,
      subjects: [recordsSubject(opts.stream)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      num_replicas: opts.replicas,
      max_age: maxAge,
      duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_MS, opts.maxAgeMs)),
      description: formatIdentity(opts.identity),
    });
  } else {
    const id = parseIdentity(info.config.description);
    if (id?.journalId !== opts.identity.journalId) {
      throw new PvjError(
        ErrorCode.JOURNAL_CORRUPT,
        `JetStream stream ${opts.stream} carries ${id ? `journal ${id.journalId}` : "something that is not a pvjournal journal"}, not this journal (${opts.identity.journalId}): refusing to interleave two histories`,
        {
          hint: "give every journal its own stream.nats.stream; after a site loss start the new history on a new stream",
        },
      );
    }
    if (info.config.max_age !== maxAge)
      await jsm.streams.update(opts.stream, {
        max_age: maxAge,
        duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_MS, opts.maxAgeMs)),
      });
  }
  const head = await readHead(jsm, opts.stream);
  if (head === null)
    throw new PvjError(ErrorCode.IO_ERROR, `stream ${opts.stream} vanished after creation`);
  return head;
}
