/**
 * The capture's view of every journaled path: what the journal holds (a
 * KnownEntry) plus what only the live filesystem can tell (inode, ctime, when
 * the contents were last read). Indexed by parent (subtree moves and removals
 * without a scan of every path) and by inode (rename detection). In memory only.
 *
 * Compact on purpose (a million files must fit in well under 1 GiB), measured
 * on Node 20 per 100k entries:
 * - a file's block hashes are one one-byte (latin1) string, HASH_BYTES chars
 *   per block: 40 bytes for one block, where a Uint8Array(16) costs 212 and a
 *   16-byte Buffer from the shared 8 KiB pool can pin its whole slab (one
 *   survivor per slab: 111 MiB at 100k files);
 * - every entry is built by one literal with the same fields in the same
 *   order (one hidden class): an entry made by object spread fell into
 *   dictionary mode, 489 bytes against 154;
 * - the inode index is keyed by the inode number, not a "dev:ino" string.
 */
import type { KnownEntry } from "../journal/state.js";
import { HASH_BYTES } from "../util/hash.js";

/** A journaled path as the capture tracks it. */
export interface Tracked extends Omit<KnownEntry, "blocks"> {
  /**
   * Block hashes as a latin1 string, HASH_BYTES chars each, in block order. A
   * block whose hash bytes are all zero is unknown (a hole or a block cut by
   * a shrink: KnownEntry's null); xxh3-128 gives all zeros with probability 2^-128.
   */
  readonly hashes: string;
  /** Device and inode when observed since start (absent for warm entries not yet stat'ed). */
  readonly dev?: number;
  readonly ino?: number;
  readonly ctimeMs?: number;
  /**
   * Wall-clock ms just before the contents were last read and hashed. A file
   * whose mtime is not safely older than this is "racily clean" and re-read.
   */
  readonly readAt: number;
}

/** What set() accepts: a Tracked, or the same with per-block hashes (packed on the way in). */
export type TrackedInput =
  | Tracked
  | (Omit<Tracked, "hashes"> & { readonly blocks: readonly (Uint8Array | null)[] });

/** Packs per-block hashes (null = unknown) into one string that shares no memory with them. */
export function packHashes(blocks: readonly (Uint8Array | null | undefined)[]): string {
  if (blocks.length === 0) return "";
  const out = Buffer.alloc(blocks.length * HASH_BYTES);
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    if (b) out.set(b.subarray(0, HASH_BYTES), i * HASH_BYTES);
  }
  return out.toString("latin1");
}

/** Per-block hashes of a packed string as Buffer views into one fresh Buffer (null = unknown). */
export function unpackHashes(packed: string): (Buffer | null)[] {
  const hashes = Buffer.from(packed, "latin1");
  const n = hashes.length / HASH_BYTES;
  const out: (Buffer | null)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const off = i * HASH_BYTES;
    let known = false;
    for (let j = off; j < off + HASH_BYTES; j++) {
      if (hashes[j] !== 0) {
        known = true;
        break;
      }
    }
    out[i] = known ? Buffer.from(hashes.buffer, hashes.byteOffset + off, HASH_BYTES) : null;
  }
  return out;
}

/** Parent of a journal path (`data/a/b` -> `data/a`; a source root has none). */
export function parentOf(path: string): string | null {
  const i = path.lastIndexOf("/");
  return i < 0 ? null : path.slice(0, i);
}

/** One literal, same fields in the same order, whatever the input's shape (see the module comment). */
function toTracked(e: TrackedInput): Tracked {
  return {
    fileId: e.fileId,
    kind: e.kind,
    mode: e.mode,
    mtimeMs: e.mtimeMs,
    size: e.size,
    target: e.target,
    hashes: "blocks" in e ? packHashes(e.blocks) : e.hashes,
    dev: e.dev,
    ino: e.ino,
    ctimeMs: e.ctimeMs,
    readAt: e.readAt,
  };
}

/** Path -> Tracked with parent and inode indexes. */
export class KnownTree {
  private readonly entries = new Map<string, Tracked>();
  private readonly children = new Map<string, Set<string>>();
  /** Inode number -> path (the device is checked on lookup). */
  private readonly inodes = new Map<number, string>();
  private fileBytes = 0;

  /** Number of tracked paths. */
  get count(): number {
    return this.entries.size;
  }

  /** Sum of tracked file sizes in bytes. */
  get bytes(): number {
    return this.fileBytes;
  }

  get(path: string): Tracked | undefined {
    return this.entries.get(path);
  }

  has(path: string): boolean {
    return this.entries.has(path);
  }

  /** Every tracked path (a snapshot, safe to mutate the tree while iterating it). */
  paths(): string[] {
    return [...this.entries.keys()];
  }

  /** Tracked children of `path` (full paths). */
  childrenOf(path: string): string[] {
    return [...(this.children.get(path) ?? [])];
  }

  /** The tracked path that has this inode, if any. */
  pathOfInode(dev: number, ino: number): string | undefined {
    const p = this.inodes.get(ino);
    if (p === undefined) return undefined;
    return this.entries.get(p)?.dev === dev ? p : undefined;
  }

  /** Adds or replaces the entry at `path` (not its subtree). */
  set(path: string, input: TrackedInput): void {
    const entry = toTracked(input);
    const prev = this.entries.get(path);
    if (prev) this.unindex(path, prev);
    this.entries.set(path, entry);
    if (entry.kind === "file") this.fileBytes += entry.size;
    if (entry.ino !== undefined && entry.dev !== undefined) this.inodes.set(entry.ino, path);
    if (prev) return; // already a child of its parent
    const parent = parentOf(path);
    if (parent !== null) {
      let set = this.children.get(parent);
      if (!set) {
        set = new Set();
        this.children.set(parent, set);
      }
      set.add(path);
    }
  }

  /** Removes `path` and everything below it; returns how many entries went. */
  removeTree(path: string): number {
    let n = 0;
    for (const p of this.subtree(path)) {
      const e = this.entries.get(p);
      if (!e) continue;
      this.unindex(p, e);
      this.entries.delete(p);
      const parent = parentOf(p);
      if (parent !== null) {
        const set = this.children.get(parent);
        set?.delete(p);
        if (set?.size === 0) this.children.delete(parent);
      }
      n++;
    }
    return n;
  }

  /** Moves `from` and its subtree to `to`, replacing whatever was at `to` (rename(2)). */
  moveTree(from: string, to: string): void {
    if (from === to) return;
    const moved = this.subtree(from).map(
      (p) => [to + p.slice(from.length), this.entries.get(p)!] as const,
    );
    this.removeTree(from);
    this.removeTree(to);
    for (const [p, e] of moved) this.set(p, e);
  }

  /** `path` and every tracked path below it, parents before children. */
  subtree(path: string): string[] {
    if (!this.entries.has(path) && !this.children.has(path)) return [];
    const out: string[] = [];
    const stack = [path];
    while (stack.length > 0) {
      const p = stack.pop()!;
      if (this.entries.has(p)) out.push(p);
      for (const c of this.children.get(p) ?? []) stack.push(c);
    }
    return out;
  }

  private unindex(path: string, e: Tracked): void {
    if (e.kind === "file") this.fileBytes -= e.size;
    if (e.ino !== undefined && e.dev !== undefined && this.inodes.get(e.ino) === path)
      this.inodes.delete(e.ino);
  }
}
