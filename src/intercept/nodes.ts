/**
 * The kernel's side of the mount: node ids and their lookup counts, and open
 * file and directory handles. A node is one backing inode; (nodeid,
 * generation) is never reused for another inode during the mount's life (the
 * kernel marks a reused one bad). Unlinked-but-open files live on through
 * their handles, which hold backing file descriptors, not paths.
 */
import type { Stats } from "node:fs";
import type { Rel } from "./namespace.js";
import type { Dirent } from "./protocol.js";

/** The root's node id, fixed by the protocol. */
export const ROOT_ID = 1;

/** What a node is. */
export type NodeKind = "file" | "dir" | "symlink" | "other";

/** One backing inode the kernel knows. */
export interface Node {
  readonly id: number;
  readonly ino: number;
  readonly kind: NodeKind;
  /** Current paths (one for directories and symlinks; several for hard links; none once unlinked). */
  readonly paths: Set<Rel>;
  lookups: number;
  opens: number;
  /** File size as the writes through the mount left it (bytes). */
  size: number;
}

/** An open file: a backing fd shared by nothing else. */
export interface FileHandle {
  readonly node: Node;
  readonly fd: number;
  /** Every write must be durable before it is answered (O_SYNC / O_DSYNC). */
  readonly sync: boolean;
  readonly writable: boolean;
}

/** An open directory: a listing taken at OPENDIR (offsets are indexes into it). */
export interface DirHandle {
  readonly node: Node;
  readonly entries: Dirent[];
}

/** The kind of a backing stat. */
export function kindOfStat(st: Stats): NodeKind {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  return "other";
}

/** See the module comment. */
export class NodeTable {
  private readonly byId = new Map<number, Node>();
  private readonly byIno = new Map<number, Node>();
  private readonly files = new Map<number, FileHandle>();
  private readonly dirs = new Map<number, DirHandle>();
  private nextId = ROOT_ID + 1;
  private nextFh = 1;

  constructor(rootIno: number) {
    const root: Node = {
      id: ROOT_ID,
      ino: rootIno,
      kind: "dir",
      paths: new Set([""]),
      lookups: 1,
      opens: 0,
      size: 0,
    };
    this.byId.set(ROOT_ID, root);
    this.byIno.set(rootIno, root);
  }

  get(id: number): Node | undefined {
    return this.byId.get(id);
  }

  /** Counts of what the kernel holds (status). */
  counts(): { nodes: number; openFiles: number; openDirs: number } {
    return { nodes: this.byId.size, openFiles: this.files.size, openDirs: this.dirs.size };
  }

  /**
   * The node for the inode at `rel`, created if the kernel does not know it;
   * `paths` gives every path of a new file node (hard links).
   */
  nodeFor(st: Stats, rel: Rel, paths: () => Set<Rel>): Node {
    const kind = kindOfStat(st);
    const known = this.byIno.get(st.ino);
    if (known && known.kind === kind) {
      known.paths.add(rel);
      return known;
    }
    const node: Node = {
      id: this.nextId++,
      ino: st.ino,
      kind,
      paths: kind === "file" ? paths() : new Set([rel]),
      lookups: 0,
      opens: 0,
      size: st.size,
    };
    node.paths.add(rel);
    this.byId.set(node.id, node);
    this.byIno.set(st.ino, node);
    return node;
  }

  /** The node that currently has path `rel`, if the kernel knows one. */
  nodeAt(rel: Rel): Node | undefined {
    for (const n of this.byId.values()) if (n.paths.has(rel)) return n;
    return undefined;
  }

  /** `rel` is no longer a path of its node; an inode with no path left can never be found again. */
  dropPath(rel: Rel): void {
    const n = this.nodeAt(rel);
    if (!n) return;
    n.paths.delete(rel);
    if (n.paths.size === 0 && this.byIno.get(n.ino) === n) this.byIno.delete(n.ino);
    this.maybeFree(n);
  }

  /** Every known path at or below `from` moves below `to` (rename). */
  movePaths(from: Rel, to: Rel): void {
    const prefix = `${from}/`;
    for (const n of this.byId.values()) {
      for (const p of [...n.paths]) {
        if (p === from || p.startsWith(prefix)) {
          n.paths.delete(p);
          n.paths.add(to + p.slice(from.length));
        }
      }
    }
  }

  /** FORGET: the kernel dropped `count` references. */
  forget(id: number, count: number): void {
    const n = this.byId.get(id);
    if (!n || id === ROOT_ID) return;
    n.lookups = Math.max(0, n.lookups - count);
    this.maybeFree(n);
  }

  openFile(h: FileHandle): number {
    const fh = this.nextFh++;
    this.files.set(fh, h);
    h.node.opens += 1;
    return fh;
  }

  file(fh: number): FileHandle | undefined {
    return this.files.get(fh);
  }

  /** Removes a file handle; returns it so the caller closes its fd. */
  closeFile(fh: number): FileHandle | undefined {
    const h = this.files.get(fh);
    if (!h) return undefined;
    this.files.delete(fh);
    h.node.opens -= 1;
    this.maybeFree(h.node);
    return h;
  }

  /** Any open fd of a node (attributes of an unlinked file). */
  anyFd(node: Node): number | null {
    if (node.opens === 0) return null;
    for (const h of this.files.values()) if (h.node === node) return h.fd;
    return null;
  }

  openDir(h: DirHandle): number {
    const fh = this.nextFh++;
    this.dirs.set(fh, h);
    return fh;
  }

  dir(fh: number): DirHandle | undefined {
    return this.dirs.get(fh);
  }

  closeDir(fh: number): void {
    this.dirs.delete(fh);
  }

  /** Every open file handle (shutdown closes their fds). */
  allFiles(): FileHandle[] {
    return [...this.files.values()];
  }

  private maybeFree(n: Node): void {
    if (n.id === ROOT_ID || n.lookups > 0 || n.opens > 0) return;
    this.byId.delete(n.id);
    if (this.byIno.get(n.ino) === n) this.byIno.delete(n.ino);
  }
}
