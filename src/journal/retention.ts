import { rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { buildPlan } from "../restore/build-plan.js";
import { fsyncDir } from "../util/fs.js";
import type { BlockHasher } from "../util/hash.js";
import { encodeRecord } from "./codec.js";
import type { SegmentRow } from "./index-db.js";
import type { Journal } from "./journal.js";
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
 * Folds everything at or before the cut into one base segment (the state at
 * the cut: one version per live block, plus every block a later write still
 * needs from a dropped segment), then deletes the segments it supersedes.
 * Every point from the cut to now still restores. Crash-safe: the base is
 * written under a temporary name, fsynced and renamed before the index
 * switches over in one transaction; leftovers are cleaned by Journal.open.
 */
export async function runRetention(
  journal: Journal,
  opts: RetentionOptions,
): Promise<RetentionResult> {
  return journal.exclusive(async () => {
    const ix = journal.index;
    const after = ix.firstSeqAfterTs(opts.now - opts.retention);
    const cutoffByTime = after === null ? journal.lastSeq : after - 1;
    const baseSeq = Number(ix.getMeta("baseSeq") ?? "0");
    const choice = chooseRetention({
      cutoffByTime,
      keepAfterSeq: opts.keepAfterSeq,
      baseSeq,
      activeSegmentId: journal.activeSegmentId(),
      segments: ix.segments(),
    });
    if ("reason" in choice)
      return { baseSeq: null, removedSegments: [], reclaimedBytes: 0, reason: choice.reason };
    const { cutoff, drop } = choice;
    const dropIds = new Set(drop.map((s) => s.id));
    const ts = ix.tsAtSeq(cutoff) ?? journal.lastTs;
    const plan = buildPlan(journal, { seq: cutoff, ts, checkpoint: null });

    const name = segmentFileName(SegmentKind.base, cutoff);
    const tmpName = `${name}.tmp`;
    const fh = await createSegmentFile(
      join(journal.dir, tmpName),
      SegmentKind.base,
      journal.blockSize,
    );
    // Blob data is not kept in memory: the index only needs its location.
    const written: ({ offset: number } & (
      | { rec: JournalRecord }
      | { blob: Buffer; len: number }
    ))[] = [];
    let offset = HEADER_BYTES;
    const copied = new Set<string>();
    const emit = async (body: RecordBody) => {
      const rec = { ...body, seq: cutoff, ts } as JournalRecord;
      const payload = encodeRecord(rec);
      const frames = encodeFrame(payload);
      await fh.writev(frames, offset);
      written.push(
        rec.type === "blob" ? { blob: rec.hash, len: rec.data.length, offset } : { rec, offset },
      );
      offset += FRAME_HEADER_BYTES + payload.length;
    };
    const keepBlob = async (hash: Buffer) => {
      const key = hash.toString("hex");
      if (copied.has(key)) return;
      const loc = ix.blob(hash);
      if (loc && !dropIds.has(loc.segment_id)) return;
      copied.add(key);
      await emit({ type: "blob", hash, data: await journal.readBlob(hash) });
    };
    try {
      for (const e of plan.entries) {
        await emit({
          type: "link",
          fileId: e.fileId,
          path: e.path,
          kind: e.kind,
          ...(e.target !== undefined ? { target: e.target } : {}),
        });
        await emit({ type: "attr", fileId: e.fileId, mode: e.mode, mtimeMs: e.mtimeMs });
        if (e.kind !== "file") continue;
        await emit({ type: "size", fileId: e.fileId, size: e.size });
        for (const b of e.blocks) {
          let hash = b.hash;
          if (b.len < b.storedLen) {
            // A block cut by a shrink becomes a new, shorter block.
            const data = Buffer.from((await journal.readBlob(b.hash)).subarray(0, b.len));
            hash = opts.hasher.hash(data);
            if (!copied.has(hash.toString("hex")) && !ix.hasBlob(hash)) {
              copied.add(hash.toString("hex"));
              await emit({ type: "blob", hash, data });
            } else await keepBlob(hash);
          } else await keepBlob(hash);
          await emit({
            type: "write",
            fileId: e.fileId,
            block: b.offset / journal.blockSize,
            len: b.len,
            hash,
          });
        }
      }
      for (const row of ix.iterate<{ hash: Buffer }>(
        "SELECT DISTINCT hash FROM blocks WHERE seq > ?",
        cutoff,
      )) {
        await keepBlob(row.hash);
      }
      for (const cp of ix.all<{ id: number }>("SELECT id FROM checkpoints WHERE seq = ?", cutoff)) {
        const row = ix.checkpoint(cp.id)!;
        await emit({
          type: "checkpoint",
          id: row.id,
          label: row.label,
          consistency: row.consistency,
          ...(row.hooks ? { hooks: row.hooks } : {}),
        });
      }
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(join(journal.dir, tmpName), join(journal.dir, name));
    await fsyncDir(journal.dir);

    ix.tx(() => {
      for (const table of ["ns", "attrs", "sizes", "blocks", "times", "checkpoints"]) {
        ix.exec(`DELETE FROM ${table} WHERE seq <= ?`, cutoff);
      }
      ix.exec("DELETE FROM batches WHERE last_seq <= ?", cutoff);
      for (const s of drop) {
        ix.exec("DELETE FROM blobs WHERE segment_id = ?", s.id);
        ix.exec("DELETE FROM batches WHERE segment_id = ?", s.id);
        ix.deleteSegment(s.id);
      }
      const id = ix.insertSegment(name, SegmentKind.base, cutoff, cutoff, offset);
      written.forEach((w, ord) => {
        if ("blob" in w) ix.indexBlobLocation(w.blob, id, w.offset, w.len);
        else ix.indexRecord(w.rec, { segmentId: id, offset: w.offset }, ord);
      });
      ix.exec("INSERT OR IGNORE INTO times (seq, ts) VALUES (?, ?)", cutoff, ts);
      ix.insertBatch(cutoff, cutoff, id, HEADER_BYTES, offset);
      ix.setMeta("baseSeq", String(cutoff));
    });
    for (const s of drop) await unlink(join(journal.dir, s.name)).catch(() => undefined);
    await fsyncDir(journal.dir);
    await journal.segmentsChanged();
    const reclaimed = drop.reduce((a, s) => a + s.bytes, 0) - offset;
    return { baseSeq: cutoff, removedSegments: drop.map((s) => s.name), reclaimedBytes: reclaimed };
  });
}
