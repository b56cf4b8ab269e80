/**
 * The block differ's pure core: given what the journal knows about a path and
 * what was just read from disk, which records must be appended. No I/O; the
 * reader (reader.ts) supplies block hashes and the bytes of changed blocks,
 * the capture (capture.ts) appends the result.
 */
import type { EntryKind, RecordBody } from "../journal/records.js";
import type { KnownEntry } from "../journal/state.js";

/** What the differ needs to know of a journaled entry (everything but its block hashes). */
export type EntryFacts = Omit<KnownEntry, "blocks">;

/** What was observed at a path: kind, mode bits, mtime, size (0 unless a file), symlink target. */
export interface Observed {
  readonly kind: EntryKind;
  /** Permission bits only (`st.mode & 0o7777`). */
  readonly mode: number;
  readonly mtimeMs: number;
  readonly size: number;
  readonly target?: string;
}

/** One block of a file as read: its hash, whether it is all zeros, and its bytes. */
export interface ReadBlock {
  readonly index: number;
  readonly hash: Buffer;
  /** Exactly the block's bytes (shorter than blockSize only for the last block). */
  readonly data: Buffer;
  readonly zero: boolean;
}

/** The block state a read is compared against: the journaled size and per-block hashes. */
export interface BlockBaseline {
  readonly size: number;
  /**
   * Hash per block as journaled. `null`: unknown contents (a hole or a block
   * cut by a shrink, see knownState) so it must be written; absent (past the
   * end): nothing journaled since the last shrink, so it reads back as zeros.
   */
  readonly blocks: readonly (Buffer | null | undefined)[];
}

/** The baseline of a path with no usable history (new file, replaced inode, kind change). */
export const EMPTY_BASELINE: BlockBaseline = { size: 0, blocks: [] };

/**
 * True when block `index` must be journaled: its hash differs from the
 * journaled one. An all-zero block past the journaled end with nothing
 * journaled for it is skipped: a restore leaves it a hole, which reads as
 * zeros, so sparse files stay cheap and sparse.
 */
export function blockNeedsWrite(
  base: BlockBaseline,
  index: number,
  hash: Buffer,
  zero: boolean,
): boolean {
  const known = base.blocks[index];
  if (known === undefined) return !zero;
  return known === null || !known.equals(hash);
}

/** blob + write for one changed block (the journal drops blobs it already holds). */
export function blockRecords(fileId: number, b: ReadBlock): RecordBody[] {
  return [
    { type: "blob", hash: b.hash, data: b.data },
    { type: "write", fileId, block: b.index, len: b.data.length, hash: b.hash },
  ];
}

/**
 * True when `known` cannot be updated in place and a new identity is needed:
 * no history, or the kind changed (a file replaced by a directory...).
 */
export function needsNewIdentity(known: EntryFacts | null, obs: Observed): boolean {
  return known === null || known.kind !== obs.kind;
}

/**
 * Namespace records that come before any content: a link for a new identity,
 * or a re-link when a symlink's target changed. `replacing` says an older
 * entry lives at the path and must be unlinked first (its subtree, if a
 * directory, must not survive under the new entry).
 */
export function headRecords(
  path: string,
  known: EntryFacts | null,
  obs: Observed,
  fileId: number,
  replacing: boolean,
): RecordBody[] {
  const out: RecordBody[] = [];
  const fresh = replacing || needsNewIdentity(known, obs);
  if (fresh && replacing) out.push({ type: "unlink", path });
  if (fresh || (obs.kind === "symlink" && known?.target !== obs.target)) {
    out.push({
      type: "link",
      fileId,
      path,
      kind: obs.kind,
      ...(obs.kind === "symlink" ? { target: obs.target ?? "" } : {}),
    });
  }
  return out;
}

/** size when it changed (always for a new file), attr when mode or mtime changed (always when new). */
export function tailRecords(
  known: EntryFacts | null,
  obs: Observed,
  fileId: number,
  fresh: boolean,
): RecordBody[] {
  const out: RecordBody[] = [];
  if (obs.kind === "file" && (fresh || known?.size !== obs.size))
    out.push({ type: "size", fileId, size: obs.size });
  if (fresh || known?.mode !== obs.mode || known?.mtimeMs !== obs.mtimeMs) {
    out.push({ type: "attr", fileId, mode: obs.mode, mtimeMs: obs.mtimeMs });
  }
  return out;
}

/** The entry the journal holds after the records for `obs` are appended. */
export function nextEntry(fileId: number, obs: Observed, hashes: readonly Buffer[]): KnownEntry {
  return {
    fileId,
    kind: obs.kind,
    mode: obs.mode,
    mtimeMs: obs.mtimeMs,
    size: obs.kind === "file" ? obs.size : 0,
    ...(obs.kind === "symlink" ? { target: obs.target ?? "" } : {}),
    blocks: obs.kind === "file" ? [...hashes] : [],
  };
}

/** Everything needed to diff one path in one go (small files, directories, symlinks, tests). */
export interface DiffInput {
  readonly path: string;
  readonly known: KnownEntry | null;
  readonly observed: Observed;
  /** Every block of the file, in order (data only needs to be real for changed blocks). */
  readonly blocks: readonly ReadBlock[];
  /** Identity to use when a new one is needed (from journal.allocateFileId()). */
  readonly newFileId: () => number;
  /** An older entry with a different identity lives at the path (e.g. a replaced inode). */
  readonly replacing?: boolean;
}

/** Records for one path and the entry the journal will hold afterwards. */
export interface DiffResult {
  readonly records: RecordBody[];
  readonly entry: KnownEntry;
}

/**
 * Diffs one path: link (new identity / changed symlink target), blob+write
 * for changed blocks only, size if changed, attr if mode or mtime changed.
 */
export function diffEntry(input: DiffInput): DiffResult {
  const { known, observed: obs } = input;
  const replacing = input.replacing === true && known !== null;
  const fresh = replacing || needsNewIdentity(known, obs);
  const fileId = fresh ? input.newFileId() : known!.fileId;
  const records = headRecords(input.path, known, obs, fileId, replacing);
  const base: BlockBaseline =
    fresh || known?.kind !== "file" ? EMPTY_BASELINE : { size: known.size, blocks: known.blocks };
  if (obs.kind === "file") {
    for (const b of input.blocks) {
      if (blockNeedsWrite(base, b.index, b.hash, b.zero)) records.push(...blockRecords(fileId, b));
    }
  }
  records.push(...tailRecords(fresh ? null : known, obs, fileId, fresh));
  return {
    records,
    entry: nextEntry(
      fileId,
      obs,
      input.blocks.map((b) => b.hash),
    ),
  };
}
