/**
 * The capture's view of every journaled path: what the journal holds (a
 * KnownEntry) plus what only the live filesystem can tell (inode, ctime, when
 * the contents were last read). Indexed by parent (subtree moves and removals
 * without a scan of every path) and by inode (rename detection). In memory only.
 */
import type { KnownEntry } from "../journal/state.js";

/** A journaled path as the capture tracks it. */
export interface Tracked extends KnownEntry {
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

/** Parent of a journal path (`data/a/b` -> `data/a`; a source root has none). */
export function parentOf(path: string): string | null {
  const i = path.lastIndexOf("/");
  return i < 0 ? null : path.slice(0, i);
}

function inodeKey(dev: number, ino: number): string {
  return `${dev}:${ino}`;
}

/** Path -> Tracked with parent and inode indexes. */
export class KnownTree {
  private readonly entries = new Map<string, Tracked>();
  private readonly children = new Map<string, Set<string>>();
  private readonly inodes = new Map<string, string>();
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
    return this.inodes.get(inodeKey(dev, ino));
  }

  /** Adds or replaces the entry at `path` (not its subtree). */
  set(path: string, entry: Tracked): void {
    const prev = this.entries.get(path);
    if (prev) this.unindex(path, prev);
    this.entries.set(path, entry);
    if (entry.kind === "file") this.fileBytes += entry.size;
    if (entry.ino !== undefined && entry.dev !== undefined)
      this.inodes.set(inodeKey(entry.dev, entry.ino), path);
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
    if (e.ino !== undefined && e.dev !== undefined) {
      const k = inodeKey(e.dev, e.ino);
      if (this.inodes.get(k) === path) this.inodes.delete(k);
    }
  }
}
