import type { EntryKind } from "./records.js";
import { isAtOrBelow } from "./records.js";

/** The newest stored version of one block at or before the point. */
export interface BlockVersion {
  readonly block: number;
  readonly seq: number;
  readonly len: number;
  readonly hash: Buffer;
  /** Where its blob is stored, when the planner looked it up (carried to the PlannedBlock). */
  readonly loc?: BlobLocation;
}

/** A size record that shrank the file: it cuts block versions older than itself. */
export interface Shrink {
  readonly seq: number;
  readonly size: number;
}

/** Where a blob's record was stored when the plan was made (the index's blobs row). */
export interface BlobLocation {
  readonly segmentId: number;
  /** The segment's file name: ids are reused after retention, names identify the file. */
  readonly segment: string;
  /** Offset of the record's frame in the segment, and its stored length after the hash. */
  readonly offset: number;
  readonly len: number;
}

/** One range to write: `len` bytes at `offset`, taken from the start of blob `hash`. */
export interface PlannedBlock {
  readonly offset: number;
  readonly len: number;
  readonly hash: Buffer;
  /** Full length of the stored blob (what its hash covers). */
  readonly storedLen: number;
  /**
   * Where the blob was stored at planning time, so a restore reads it without
   * an index lookup per block; a read that finds it moved (retention) looks
   * it up again. Absent: look it up.
   */
  readonly loc?: BlobLocation;
}

/** One entry of the restored tree. */
export interface PlannedEntry {
  /** Journal path: `<source>/<relative path>`. */
  readonly path: string;
  readonly kind: EntryKind;
  readonly fileId: number;
  readonly mode: number;
  readonly mtimeMs: number;
  readonly target?: string;
  /** File size (0 for directories and symlinks). */
  readonly size: number;
  /** Ranges to write, in offset order; holes are absent. */
  readonly blocks: readonly PlannedBlock[];
}

/** Everything a restore writes for one point. */
export interface RestorePlan {
  readonly seq: number;
  readonly ts: number;
  /** Sorted by path, so parents precede children. */
  readonly entries: readonly PlannedEntry[];
  /** Bytes of file content to write (holes excluded). */
  readonly bytesTotal: number;
}

/**
 * Cuts block versions by later shrinks and by the final size. A version written
 * at seq s keeps only the bytes that survived every shrink in (s, point]; the
 * rest of the block reads as zeros (a hole), exactly as the file did.
 * Pure; `shrinks` oldest first.
 */
export function effectiveBlocks(
  versions: readonly BlockVersion[],
  shrinks: readonly Shrink[],
  size: number,
  blockSize: number,
): PlannedBlock[] {
  const out: PlannedBlock[] = [];
  for (const v of versions) {
    const offset = v.block * blockSize;
    let limit = Math.min(v.len, size - offset);
    for (const s of shrinks) if (s.seq > v.seq) limit = Math.min(limit, s.size - offset);
    if (limit <= 0) continue;
    // One object per block, with its location when known: a 128 MiB file of
    // 4 KiB blocks plans 32k of them, and every extra copy is GC work.
    out.push(
      v.loc
        ? { offset, len: limit, hash: v.hash, storedLen: v.len, loc: v.loc }
        : { offset, len: limit, hash: v.hash, storedLen: v.len },
    );
  }
  return out;
}

/**
 * Keeps the entries at or below any of `paths` (journal paths); null keeps all.
 * The ancestors of a kept entry are created by the applier without attributes.
 */
export function selectEntries<T extends { readonly path: string }>(
  entries: readonly T[],
  paths: readonly string[] | null,
): T[] {
  if (paths === null) return [...entries];
  return entries.filter((e) => paths.some((p) => isAtOrBelow(e.path, p)));
}

/** Orders entries so every parent precedes its children (plain string order breaks on "a-b" < "a/b"). */
export function sortByPath<T extends { readonly path: string }>(entries: T[]): T[] {
  const key = (p: string) => p.split("/");
  return entries.sort((a, b) => {
    const ka = key(a.path);
    const kb = key(b.path);
    for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
      const x = ka[i]!;
      const y = kb[i]!;
      if (x !== y) return x < y ? -1 : 1;
    }
    return ka.length - kb.length;
  });
}

/** Sum of bytes a plan writes. */
export function planBytes(entries: readonly PlannedEntry[]): number {
  let total = 0;
  for (const e of entries) for (const b of e.blocks) total += b.len;
  return total;
}
