/**
 * Reads two points' trees and the blocks written between them from the index
 * and hands them to the pure diff (src/restore/diff.ts). Cost: one namespace
 * replay up to the later point, one attribute and size lookup per entry, and
 * two block lookups per block written in between.
 */
import { ErrorCode, RequestError } from "../errors.js";
import type { JournalIndex } from "../journal/index-db.js";
import type { Journal } from "../journal/journal.js";
import { type NsEntry, replayNamespace } from "../journal/namespace.js";
import { pinPoint } from "../journal/pins.js";
import { type BlockVersion, effectiveBlocks } from "../journal/plan.js";
import { type Point, type ResolvedPoint, resolvePoint } from "../journal/points.js";
import { changedBlockBytes, type DiffEntry, type DiffLists, diffEntries } from "./diff.js";

/** A diff between two resolved points. */
export interface PointDiff extends DiffLists {
  readonly from: ResolvedPoint;
  readonly to: ResolvedPoint;
}

function entriesAt(ix: JournalIndex, tree: Map<string, NsEntry>, seq: number): DiffEntry[] {
  const out: DiffEntry[] = [];
  for (const [path, e] of tree) {
    const attr = ix.attrAt(e.fileId, seq);
    const size =
      e.kind === "file"
        ? (ix.sizeAt(e.fileId, seq)?.size ?? 0)
        : e.kind === "symlink"
          ? Buffer.byteLength(e.target ?? "")
          : 0;
    out.push({
      path,
      fileId: e.fileId,
      kind: e.kind,
      size,
      mode: attr?.mode ?? 0,
      mtimeMs: attr?.mtime ?? 0,
      ...(e.target !== undefined ? { target: e.target } : {}),
    });
  }
  return out;
}

/** Block -> "hash:len" of a file's effective blocks at `seq` (what a restore would write). */
function blockKeys(ix: JournalIndex, fileId: number, size: number, seq: number, bs: number) {
  const versions: BlockVersion[] = [];
  for (let b = 0; b * bs < size; b++) {
    const v = ix.blockAt(fileId, b, seq);
    if (v) versions.push(v);
  }
  const keys = new Map<number, string>();
  for (const p of effectiveBlocks(versions, ix.shrinksUpTo(fileId, seq), size, bs))
    keys.set(p.offset / bs, `${p.hash.toString("hex")}:${p.len}`);
  return keys;
}

/**
 * Diffs the trees at two points of a journal. `from` must not be later than
 * `to` (BAD_REQUEST); either point out of the window is POINT_OUT_OF_RANGE.
 */
export function diffPoints(journal: Journal, from: Point, to: Point, now: number): PointDiff {
  const a = resolvePoint(journal, from, now);
  const b = resolvePoint(journal, to, now);
  if (a.seq > b.seq) {
    throw new RequestError(
      ErrorCode.BAD_REQUEST,
      `from (seq ${a.seq}) is later than to (seq ${b.seq}): give the older point as from`,
    );
  }
  // Synchronous today (nothing can fold in between), pinned anyway: one discipline for every reader.
  const unpin = pinPoint(journal, a.seq);
  try {
    return diffResolved(journal, a, b);
  } finally {
    unpin();
  }
}

function diffResolved(journal: Journal, a: ResolvedPoint, b: ResolvedPoint): PointDiff {
  const ix = journal.index;
  const bs = journal.blockSize;
  const treeA = replayNamespace(ix.nsUpTo(a.seq));
  const treeB = replayNamespace(ix.nsBetween(a.seq, b.seq), new Map(treeA));

  // Blocks written in (a, b], per file; rewrites of identical bytes are filtered below.
  const written = new Map<number, Set<number>>();
  for (const row of ix.blocksChangedBetween(a.seq, b.seq)) {
    const set = written.get(row.file_id) ?? new Set<number>();
    set.add(row.block);
    written.set(row.file_id, set);
  }

  const lists = diffEntries(entriesAt(ix, treeA, a.seq), entriesAt(ix, treeB, b.seq), (x, y) => {
    const shrinks = ix.shrinksUpTo(y.fileId, b.seq).filter((s) => s.seq > a.seq);
    const minShrink = shrinks.length > 0 ? Math.min(...shrinks.map((s) => s.size)) : null;
    const changedBlocks: number[] = [];
    if (x.fileId === y.fileId) {
      for (const block of written.get(y.fileId) ?? []) {
        const old = ix.blockAt(x.fileId, block, a.seq);
        const cur = ix.blockAt(y.fileId, block, b.seq);
        if (!old || !cur || !old.hash.equals(cur.hash) || old.len !== cur.len)
          changedBlocks.push(block);
      }
    } else {
      // Replaced in place: compare what a restore of each side would write.
      const oldKeys = blockKeys(ix, x.fileId, x.size, a.seq, bs);
      const newKeys = blockKeys(ix, y.fileId, y.size, b.seq, bs);
      for (let block = 0; block * bs < y.size; block++)
        if (oldKeys.get(block) !== newKeys.get(block)) changedBlocks.push(block);
    }
    return changedBlockBytes({
      changedBlocks,
      sizeBefore: x.size,
      sizeAfter: y.size,
      minShrink: x.fileId === y.fileId ? minShrink : null,
      blockSize: bs,
    });
  });
  return { from: a, to: b, ...lists };
}
