import { rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDir, writevAll } from "../util/fs.js";
import type { BlockHasher } from "../util/hash.js";
import { buildPlan } from "./build-plan.js";
import { encodeRecord, storedBlobLen } from "./codec.js";
import type { SegmentRow } from "./index-db.js";
import type { Journal } from "./journal.js";
import { serialMaintenance } from "./maintenance.js";
import type { JournalRecord, RecordBody } from "./records.js";
import {
  encodeFrame,
  FRAME_HEADER_BYTES,
  HEADER_BYTES,
  SegmentKind,
  segmentFileName,
} from "./segment-format.js";
import { createSegmentFile } from "./segment-io.js";

/** What one retention pass did. */
export interface RetentionResult {
  /** The new floor: the oldest restorable seq, or null when nothing was folded. */
  readonly baseSeq: number | null;
  readonly removedSegments: readonly string[];
  readonly reclaimedBytes: number;
  readonly reason?: string;
}

/** Inputs of a retention pass. */
export interface RetentionOptions {
  /** Restore window in ms. */
  readonly retention: number;
  readonly now: number;
  /** Records above this seq are kept whatever their age (unacknowledged by a replica). */
  readonly keepAfterSeq?: number;
  readonly hasher: BlockHasher;
}

/**
 * Chooses the fold point and the segments it frees. Pure. The cut is the
 * newest seq older than the window (capped by what replicas still need); a
 * pass only runs when it frees at least one whole log segment, because
 * writing a base costs the volume's size and must buy something.
 */
export function chooseRetention(input: {
  readonly cutoffByTime: number;
  readonly keepAfterSeq: number | undefined;
  readonly baseSeq: number;
  readonly activeSegmentId: number | null;
  readonly segments: readonly SegmentRow[];
}): { cutoff: number; drop: SegmentRow[] } | { reason: string } {
  const cutoff = Math.min(input.cutoffByTime, input.keepAfterSeq ?? Number.POSITIVE_INFINITY);
  if (cutoff <= input.baseSeq) return { reason: "nothing older than the window" };
  const logs = input.segments.filter(
    (s) => s.kind === SegmentKind.log && s.last_seq <= cutoff && s.id !== input.activeSegmentId,
  );
  if (logs.length === 0) return { reason: "no whole segment is older than the window" };
  const oldBases = input.segments.filter((s) => s.kind === SegmentKind.base);
  return { cutoff, drop: [...oldBases, ...logs] };
}

/**
 * The records that describe the whole state at `cutoff`: link, attr and size
 * of every entry, one write per live block, every blob `wantBlob` asks for
 * (blobs a base write needs, and blobs later writes still reference), and the
 * checkpoint at the cut if there is one. A block cut short by a later shrink
 * becomes a new, shorter blob. Streams: nothing but one block is in memory.
 */
export async function* baseBodies(
  journal: Journal,
  cutoff: number,
  hasher: BlockHasher,
  wantBlob: (hash: Buffer) => boolean,
  /** Blobs of later writes are included up to this seq (default: all); see runRetention. */
  upTo?: number,
  /** Hex hashes of blobs already emitted; shared so a later catch-up skips them. */
  sent: Set<string> = new Set(),
): AsyncGenerator<RecordBody> {
  const ix = journal.index;
  const ts = ix.tsAtSeq(cutoff) ?? journal.lastTs;
  const plan = buildPlan(journal, { seq: cutoff, ts, checkpoint: null });
  async function* blob(hash: Buffer, data?: Buffer): AsyncGenerator<RecordBody> {
    const key = hash.toString("hex");
    if (sent.has(key)) return;
    sent.add(key);
    if (data) yield { type: "blob", hash, data };
    // As stored: a compressed block is copied (and streamed) without a round trip through zstd.
    else if (wantBlob(hash)) yield await journal.readStoredBlob(hash);
  }
  for (const e of plan.entries) {
    yield {
      type: "link",
      fileId: e.fileId,
      path: e.path,
      kind: e.kind,
      ...(e.target !== undefined ? { target: e.target } : {}),
    };
    yield { type: "attr", fileId: e.fileId, mode: e.mode, mtimeMs: e.mtimeMs };
    if (e.kind !== "file") continue;
    yield { type: "size", fileId: e.fileId, size: e.size };
    for (const b of e.blocks) {
      let hash = b.hash;
      if (b.len < b.storedLen) {
        const data = Buffer.from((await journal.readBlob(b.hash)).subarray(0, b.len));
        hash = hasher.hash(data);
        yield* blob(hash, ix.hasBlob(hash) ? undefined : data);
      } else yield* blob(hash);
      yield {
        type: "write",
        fileId: e.fileId,
        block: b.offset / journal.blockSize,
        len: b.len,
        hash,
      };
    }
  }
  // An array, not an iterator: this generator is consumed across awaits (a
  // replica's bootstrap, retention) while appends go on.
  const later = ix.hashesWrittenBetween(cutoff, upTo ?? Number.MAX_SAFE_INTEGER);
  for (const hash of later) yield* blob(hash);
  for (const id of ix.checkpointIdsAt(cutoff)) {
    const row = ix.checkpoint(id)!;
    yield {
      type: "checkpoint",
      id: row.id,
      label: row.label,
      consistency: row.consistency,
      ...(row.hooks ? { hooks: row.hooks } : {}),
    };
  }
}

/** A base segment being written under its temporary name. */
interface BaseWriter {
  readonly name: string;
  readonly tmpPath: string;
  readonly fh: Awaited<ReturnType<typeof createSegmentFile>>;
  /** Where each record went; blob data is not kept in memory, the index only needs its location. */
  readonly written: ({ offset: number } & (
    | { rec: JournalRecord }
    | { blob: Buffer; len: number }
  ))[];
  offset: number;
}

async function openBase(journal: Journal, cutoff: number): Promise<BaseWriter> {
  const name = segmentFileName(SegmentKind.base, cutoff);
  const tmpPath = join(journal.dir, `${name}.tmp`);
  await unlink(tmpPath).catch(() => undefined);
  const fh = await createSegmentFile(tmpPath, SegmentKind.base, journal.blockSize);
  return { name, tmpPath, fh, written: [], offset: HEADER_BYTES };
}

/** Appends records (stamped cutoff/ts) to a base being written. */
async function appendBase(
  w: BaseWriter,
  cutoff: number,
  ts: number,
  bodies: AsyncIterable<RecordBody> | Iterable<RecordBody>,
): Promise<void> {
  for await (const body of bodies) {
    const rec = { ...body, seq: cutoff, ts } as JournalRecord;
    const payload = encodeRecord(rec);
    await writevAll(w.fh, encodeFrame(payload), w.offset);
    w.written.push(
      rec.type === "blob"
        ? { blob: rec.hash, len: storedBlobLen(rec), offset: w.offset }
        : { rec, offset: w.offset },
    );
    w.offset += FRAME_HEADER_BYTES + payload.length;
  }
}

async function abortBase(w: BaseWriter): Promise<void> {
  await w.fh.close().catch(() => undefined);
  await unlink(w.tmpPath).catch(() => undefined);
}

/**
 * Makes a written base the journal's: fsync, rename, one index transaction
 * that drops everything at or before the cut and the superseded segments,
 * then the files. Call with the journal's exclusive lock held.
 */
async function commitBase(
  journal: Journal,
  w: BaseWriter,
  cutoff: number,
  ts: number,
  drop: readonly SegmentRow[],
): Promise<{ bytes: number }> {
  const ix = journal.index;
  try {
    await w.fh.datasync();
  } finally {
    await w.fh.close();
  }
  await rename(w.tmpPath, join(journal.dir, w.name));
  await fsyncDir(journal.dir);
  ix.tx(() => {
    ix.dropHistory(
      cutoff,
      drop.map((s) => s.id),
    );
    const id = ix.insertSegment(w.name, SegmentKind.base, cutoff, cutoff, w.offset);
    w.written.forEach((r, ord) => {
      if ("blob" in r) ix.indexBlobLocation(r.blob, id, r.offset, r.len);
      else ix.indexRecord(r.rec, { segmentId: id, offset: r.offset }, ord);
    });
    ix.insertTime(cutoff, ts);
    ix.insertBatch(cutoff, cutoff, id, HEADER_BYTES, w.offset);
    ix.setMeta("baseSeq", String(cutoff));
  });
  for (const s of drop) await unlink(join(journal.dir, s.name)).catch(() => undefined);
  await fsyncDir(journal.dir);
  await journal.segmentsChanged();
  return { bytes: w.offset };
}

/**
 * Makes `bodies` the journal's base at `cutoff` (every record stamped
 * cutoff/ts) and drops `drop`: the base is written under a temporary name,
 * fsynced and renamed, then the index switches over in one transaction, then
 * the dropped files are removed. Crash-safe at every step (leftovers are
 * cleaned by Journal.open). Call inside journal.exclusive().
 */
export async function installBase(
  journal: Journal,
  cutoff: number,
  ts: number,
  bodies: AsyncIterable<RecordBody>,
  drop: readonly SegmentRow[],
): Promise<{ bytes: number }> {
  const w = await openBase(journal, cutoff);
  try {
    await appendBase(w, cutoff, ts, bodies);
  } catch (err) {
    await abortBase(w);
    throw err;
  }
  return commitBase(journal, w, cutoff, ts, drop);
}

/**
 * A replica's install of a base streamed from its source: replaces every
 * segment. Serialised with retention passes (maintenance.ts), then under the
 * exclusive lock like any segment change.
 */
export function installStreamedBase(
  journal: Journal,
  cutoff: number,
  ts: number,
  bodies: AsyncIterable<RecordBody>,
): Promise<{ bytes: number }> {
  return serialMaintenance(journal, () =>
    journal.exclusive(() => installBase(journal, cutoff, ts, bodies, journal.index.segments())),
  );
}

/**
 * Whether the segments a pass chose to drop are still the journal's, as
 * chosen (same id and name: SQLite reuses the ids of deleted rows) and the
 * base is the one the pass folded onto. False when something else replaced
 * segments meanwhile; committing then would drop rows the pass never saw.
 */
function planStillHolds(journal: Journal, baseSeq: number, drop: readonly SegmentRow[]): boolean {
  if (journal.baseSeq !== baseSeq) return false;
  const now = new Map(journal.index.segments().map((s) => [s.id, s.name]));
  return drop.every((s) => now.get(s.id) === s.name);
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/**
 * Folds everything at or before the cut into one base segment (the state at
 * the cut, plus every block a later write still needs from a dropped
 * segment), then deletes the segments it supersedes. Every point from the cut
 * to now still restores.
 *
 * Three phases, so capture and checkpoints do not stall for the base's
 * write (as large as the volume): (1) under the journal's exclusive lock,
 * choose the cut and note the newest seq S; (2) without the lock, write the
 * base: records at or before the cut never change, and the dropped segments
 * stay until phase 3; (3) under the lock again, add the blobs that writes
 * after S still need from dropped segments (a write that deduplicated
 * against one of them), give up if a reader pinned a point before the cut
 * meanwhile, then switch the index over and delete the old segments.
 */
export function runRetention(journal: Journal, opts: RetentionOptions): Promise<RetentionResult> {
  return serialMaintenance(journal, () => retentionPass(journal, opts));
}

async function retentionPass(journal: Journal, opts: RetentionOptions): Promise<RetentionResult> {
  const ix = journal.index;
  const chosen = await journal.exclusive(async () => {
    const after = ix.firstSeqAfterTs(opts.now - opts.retention);
    const choice = chooseRetention({
      cutoffByTime: after === null ? journal.lastSeq : after - 1,
      // Replicas' unacknowledged records and running readers' points stay.
      keepAfterSeq: minDefined(opts.keepAfterSeq, journal.minPinnedSeq()),
      baseSeq: journal.baseSeq,
      activeSegmentId: journal.activeSegmentId(),
      segments: ix.segments(),
    });
    return { choice, snapshotSeq: journal.lastSeq, baseSeq: journal.baseSeq };
  });
  const { choice, snapshotSeq, baseSeq } = chosen;
  if ("reason" in choice)
    return { baseSeq: null, removedSegments: [], reclaimedBytes: 0, reason: choice.reason };
  const { cutoff, drop } = choice;
  const dropIds = new Set(drop.map((s) => s.id));
  // Copy a blob only when its current home is about to be deleted.
  const wantBlob = (hash: Buffer) => {
    const loc = ix.blob(hash);
    return !loc || dropIds.has(loc.segment_id);
  };
  const ts = ix.tsAtSeq(cutoff) ?? journal.lastTs;
  const sent = new Set<string>();
  const w = await openBase(journal, cutoff);
  try {
    await appendBase(
      w,
      cutoff,
      ts,
      baseBodies(journal, cutoff, opts.hasher, wantBlob, snapshotSeq, sent),
    );
    return await journal.exclusive(async () => {
      // Defence in depth behind serialMaintenance: never commit a stale plan.
      if (!planStillHolds(journal, baseSeq, drop)) {
        await abortBase(w);
        return {
          baseSeq: null,
          removedSegments: [],
          reclaimedBytes: 0,
          reason: "the journal's segments were replaced while the base was written; next pass",
        };
      }
      const pinned = journal.minPinnedSeq();
      if (pinned !== undefined && pinned < cutoff) {
        await abortBase(w);
        return {
          baseSeq: null,
          removedSegments: [],
          reclaimedBytes: 0,
          reason: `a reader pinned seq ${pinned}, before the cut ${cutoff}, while the base was written; next pass`,
        };
      }
      await appendBase(w, cutoff, ts, lateBlobs(journal, snapshotSeq, wantBlob, sent));
      const { bytes } = await commitBase(journal, w, cutoff, ts, drop);
      const reclaimed = drop.reduce((a, s) => a + s.bytes, 0) - bytes;
      return {
        baseSeq: cutoff,
        removedSegments: drop.map((s) => s.name),
        reclaimedBytes: reclaimed,
      };
    });
  } catch (err) {
    await abortBase(w);
    throw err;
  }
}

/** Blobs that writes after `afterSeq` reference and that live only in segments about to go. */
async function* lateBlobs(
  journal: Journal,
  afterSeq: number,
  wantBlob: (hash: Buffer) => boolean,
  sent: Set<string>,
): AsyncGenerator<RecordBody> {
  const hashes = journal.index.hashesWrittenBetween(afterSeq, Number.MAX_SAFE_INTEGER);
  for (const hash of hashes) {
    const key = hash.toString("hex");
    if (sent.has(key) || !wantBlob(hash)) continue;
    sent.add(key);
    yield await journal.readStoredBlob(hash);
  }
}
