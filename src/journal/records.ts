/**
 * The journal's record vocabulary. Every change a volume can undergo is one of
 * these; the sidecar produces them, the replica receives them over the stream,
 * and the restore planner folds them into a tree. Paths are journal paths:
 * `<source>/<relative path>` with `/` separators, the source root being
 * `<source>` itself, so a restore lays out `TARGET/<source>/...` naturally.
 */

/** What a path is. Hard links are captured as independent files. */
export const EntryKind = { file: "file", dir: "dir", symlink: "symlink" } as const;
/** One of EntryKind. */
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/**
 * What a checkpoint promises (design.md "Capture modes"): "app" when the pre
 * hook ran and succeeded; "crash" when intercept capture cut the ordered write
 * stream (what a power cut leaves); "fuzzy" when watch capture re-read files at
 * different moments. Journals written before 0.2 label watch checkpoints "crash".
 */
export type Consistency = "app" | "crash" | "fuzzy";

/** Outcome of a checkpoint hook, kept in the checkpoint record. */
export interface HookOutcome {
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly error?: string;
  readonly output?: string;
}

/** How a blob's data is compressed (block-codec.ts). */
export interface BlobPacking {
  /** A BlockCodec id. */
  readonly codec: number;
  /** Bytes of the block itself. */
  readonly rawLen: number;
}

/**
 * Block contents, stored once per distinct hash (deduplication). `hash` is
 * always over the block itself; `data` is the block, or with `packed` its
 * compressed form, which the stream and a replica carry as it is. Readers get
 * the block through Journal.readBlob, which decompresses.
 */
export interface BlobRecord {
  readonly type: "blob";
  readonly hash: Buffer;
  readonly data: Buffer;
  readonly packed?: BlobPacking;
}
/** A path now exists as `kind`, identified by `fileId` (stable across renames). */
export interface LinkRecord {
  readonly type: "link";
  readonly fileId: number;
  readonly path: string;
  readonly kind: EntryKind;
  /** Symlink target, verbatim. */
  readonly target?: string;
}
/** A path and everything below it are gone. */
export interface UnlinkRecord {
  readonly type: "unlink";
  readonly path: string;
}
/** A path (and everything below it) moved; an existing `to` is replaced. */
export interface RenameRecord {
  readonly type: "rename";
  readonly from: string;
  readonly to: string;
}
/** Mode bits and mtime of a file, directory or symlink. */
export interface AttrRecord {
  readonly type: "attr";
  readonly fileId: number;
  readonly mode: number;
  readonly mtimeMs: number;
}
/** A file's size changed (grow or shrink). */
export interface SizeRecord {
  readonly type: "size";
  readonly fileId: number;
  readonly size: number;
}
/** Block `block` of a file now holds the `len` bytes whose hash is `hash`. */
export interface WriteRecord {
  readonly type: "write";
  readonly fileId: number;
  readonly block: number;
  readonly len: number;
  readonly hash: Buffer;
}
/** A restore point. Ids are small integers, kept across replication. */
export interface CheckpointRecord {
  readonly type: "checkpoint";
  readonly id: number;
  readonly label: string | null;
  readonly consistency: Consistency;
  readonly hooks?: { readonly pre?: HookOutcome; readonly post?: HookOutcome };
}

/** A record body, before the journal stamps it with seq and ts. */
export type RecordBody =
  | BlobRecord
  | LinkRecord
  | UnlinkRecord
  | RenameRecord
  | AttrRecord
  | SizeRecord
  | WriteRecord
  | CheckpointRecord;

/** Type tag of a record. */
export type RecordType = RecordBody["type"];

/** A record as stored: body plus its position (seq) and time (ms since epoch). */
export type JournalRecord = RecordBody & { readonly seq: number; readonly ts: number };

/** True for records that change the namespace (what exists where). */
export function isNamespaceRecord(r: RecordBody): r is LinkRecord | UnlinkRecord | RenameRecord {
  return r.type === "link" || r.type === "unlink" || r.type === "rename";
}

/** True when `path` is `prefix` itself or lies below it. */
export function isAtOrBelow(path: string, prefix: string): boolean {
  return (
    path === prefix ||
    (path.length > prefix.length && path.startsWith(prefix) && path[prefix.length] === "/")
  );
}
