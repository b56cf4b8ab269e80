/**
 * What changed between two points, as a pure function of the two trees.
 * Entries are matched by fileId (stable across renames), so a rename is a
 * rename and not a delete plus a create; the caller supplies the changed byte
 * count of each matched file (src/restore/diff-journal.ts reads it from the index).
 */

import { sortByPath } from "../journal/plan.js";
import type { EntryKind } from "../journal/records.js";

/** One entry of a tree at a point, as the diff compares it. */
export interface DiffEntry {
  /** Journal path: `<source>/<relative path>`. */
  readonly path: string;
  readonly fileId: number;
  readonly kind: EntryKind;
  /** File size in bytes; a symlink's target length; 0 for directories. */
  readonly size: number;
  readonly mode: number;
  readonly mtimeMs: number;
  /** Symlink target. */
  readonly target?: string;
}

/** A path that exists at `to` but not at `from`. */
export interface CreatedEntry {
  readonly path: string;
  readonly kind: EntryKind;
  /** Size at `to` (0 for directories, the target length for symlinks). */
  readonly bytes: number;
}

/** A path that existed at `from` and is gone at `to`. */
export interface DeletedEntry {
  readonly path: string;
  readonly kind: EntryKind;
}

/** The same file (by identity) at a new path. Entries moved along with a renamed directory are implied, not listed. */
export interface RenamedEntry {
  readonly from: string;
  readonly to: string;
  readonly kind: EntryKind;
}

/** A file whose content, size or attributes differ (path as at `to`). */
export interface ChangedEntry {
  readonly path: string;
  readonly kind: EntryKind;
  /** Bytes of changed blocks (journal block granularity), clipped to sizeAfter. */
  readonly changedBytes: number;
  readonly sizeBefore: number;
  readonly sizeAfter: number;
  readonly modeChanged: boolean;
  readonly mtimeChanged: boolean;
}

/** The four lists of a diff, each sorted by path (renames by their old path). */
export interface DiffLists {
  readonly created: CreatedEntry[];
  readonly deleted: DeletedEntry[];
  readonly renamed: RenamedEntry[];
  readonly changed: ChangedEntry[];
}

/**
 * Changed content bytes between a file as it was (`before`) and as it is
 * (`after`); they may have different fileIds when a file was replaced.
 */
export type ChangedBytesFn = (before: DiffEntry, after: DiffEntry) => number;

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * Diffs two trees. Matching, in order:
 * 1. same fileId and kind on both sides: the same file (renamed if its path moved);
 * 2. otherwise the same path and kind, each side unmatched: the file was
 *    replaced in place (an editor's write-to-temp-then-rename), reported as changed;
 * 3. anything left is deleted (before) or created (after).
 * Directories are reported as changed only when their mode changed: their
 * mtime moves whenever a child changes, and listing every parent would drown
 * the real changes. Pure.
 */
export function diffEntries(
  before: readonly DiffEntry[],
  after: readonly DiffEntry[],
  changedBytes: ChangedBytesFn,
): DiffLists {
  const beforeById = new Map<number, DiffEntry>();
  for (const e of before) beforeById.set(e.fileId, e);
  const pairs: [DiffEntry, DiffEntry][] = [];
  const matchedBefore = new Set<DiffEntry>();
  const unmatchedAfter: DiffEntry[] = [];
  for (const b of after) {
    const a = beforeById.get(b.fileId);
    if (a && a.kind === b.kind && !matchedBefore.has(a)) {
      pairs.push([a, b]);
      matchedBefore.add(a);
    } else unmatchedAfter.push(b);
  }
  const unmatchedBeforeByPath = new Map<string, DiffEntry>();
  for (const a of before) if (!matchedBefore.has(a)) unmatchedBeforeByPath.set(a.path, a);

  const created: CreatedEntry[] = [];
  for (const b of unmatchedAfter) {
    const a = unmatchedBeforeByPath.get(b.path);
    if (a && a.kind === b.kind) {
      pairs.push([a, b]);
      unmatchedBeforeByPath.delete(b.path);
    } else created.push({ path: b.path, kind: b.kind, bytes: b.kind === "dir" ? 0 : b.size });
  }
  const deleted: DeletedEntry[] = [...unmatchedBeforeByPath.values()].map((a) => ({
    path: a.path,
    kind: a.kind,
  }));

  const moves = new Map<string, string>();
  for (const [a, b] of pairs) if (a.path !== b.path) moves.set(a.path, b.path);
  const renamed: RenamedEntry[] = [];
  const changed: ChangedEntry[] = [];
  for (const [a, b] of pairs) {
    // A child that kept its name inside a renamed directory moved with it.
    if (
      a.path !== b.path &&
      !(baseOf(a.path) === baseOf(b.path) && moves.get(parentOf(a.path)) === parentOf(b.path))
    ) {
      renamed.push({ from: a.path, to: b.path, kind: b.kind });
    }
    const modeChanged = a.mode !== b.mode;
    const mtimeChanged = b.kind !== "dir" && a.mtimeMs !== b.mtimeMs;
    let bytes = 0;
    if (b.kind === "file") bytes = changedBytes(a, b);
    else if (b.kind === "symlink" && a.target !== b.target) bytes = b.size;
    if (bytes > 0 || a.size !== b.size || modeChanged || mtimeChanged) {
      changed.push({
        path: b.path,
        kind: b.kind,
        changedBytes: bytes,
        sizeBefore: a.size,
        sizeAfter: b.size,
        modeChanged,
        mtimeChanged,
      });
    }
  }
  sortByPath(created);
  sortByPath(deleted);
  sortByPath(changed);
  renamed.sort((x, y) => (x.from < y.from ? -1 : x.from > y.from ? 1 : 0));
  return { created, deleted, renamed, changed };
}

/** What changedBlockBytes needs to know about one file. */
export interface BlockChange {
  /** Blocks whose stored content differs between the points. */
  readonly changedBlocks: Iterable<number>;
  readonly sizeBefore: number;
  readonly sizeAfter: number;
  /** Smallest size the file was cut to between the points (null: never shrunk). */
  readonly minShrink: number | null;
  readonly blockSize: number;
}

/**
 * Bytes of changed content, counted in whole blocks and clipped to the new
 * size. Besides blocks whose stored version differs, every block at or past
 * the old size (new bytes) or past a shrink in between (cut, then grown again:
 * zeros or rewritten) counts as changed. Pure.
 */
export function changedBlockBytes(c: BlockChange): number {
  const bs = c.blockSize;
  const blocks = new Set<number>();
  for (const b of c.changedBlocks) blocks.add(b);
  const from = Math.min(c.sizeBefore, c.minShrink ?? Number.POSITIVE_INFINITY);
  if (from < c.sizeAfter) {
    for (let b = Math.floor(from / bs); b * bs < c.sizeAfter; b++) blocks.add(b);
  }
  let total = 0;
  for (const b of blocks) {
    const start = b * bs;
    if (start < c.sizeAfter) total += Math.min(start + bs, c.sizeAfter) - start;
  }
  return total;
}
