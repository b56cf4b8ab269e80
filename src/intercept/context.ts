/**
 * What every filesystem operation shares: the backing directory, the node and
 * namespace tables, the ordered write log, and helpers that turn a backing
 * stat into the kernel's attributes and a node into journal attr records.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  type Stats,
} from "node:fs";
import { join } from "node:path";
import type { RecordBody } from "../journal/records.js";
import type { Logger } from "../log/logger.js";
import type { Hash, ReadBlock } from "./blocks.js";
import type { Namespace, Rel } from "./namespace.js";
import type { Node, NodeTable } from "./nodes.js";
import { type Attr, encodeEntry } from "./protocol.js";
import type { WriteLog } from "./write-log.js";

/**
 * How long the kernel may cache names and attributes, ms. Only this process
 * changes the volume (the kernel itself invalidates what a write through the
 * mount changes), so long caching is safe and saves a LOOKUP or GETATTR round
 * trip per open and stat; 10 s bounds the staleness of a change made behind
 * the mount's back (which the docs say not to do).
 */
export const ENTRY_TTL_MS = 10_000;
export const ATTR_TTL_MS = 10_000;

/** Everything an operation needs. One per mounted source. */
export interface FsContext {
  /** Absolute path of the backing directory (the source's `path`). */
  readonly root: string;
  readonly ns: Namespace;
  readonly nodes: NodeTable;
  readonly log: WriteLog;
  readonly blockSize: number;
  readonly hash: Hash;
  readonly logger: Logger;
  /** Files written since the last cut: their mtime is journaled at the next settle. */
  readonly dirtyFiles: Set<Node>;
  /** Directories whose entries changed since the last cut (their mtime, likewise). */
  readonly dirtyDirs: Set<Rel>;
}

/** Backing absolute path of `rel`. */
export function abs(ctx: FsContext, rel: Rel): string {
  return rel === "" ? ctx.root : join(ctx.root, rel);
}

/** One path of a node for I/O by name; ENOENT when it has none left (unlinked). */
export function pathOf(node: Node): Rel {
  for (const p of node.paths) return p;
  throw Object.assign(new Error("node has no path"), { code: "ENOENT" });
}

/** The kernel's attributes from a backing stat. */
export function attrOf(st: Stats): Attr {
  return {
    ino: st.ino,
    size: st.size,
    blocks: st.blocks,
    atimeMs: st.atimeMs,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    mode: st.mode,
    nlink: st.nlink,
    uid: st.uid,
    gid: st.gid,
    rdev: st.rdev,
    blksize: st.blksize,
  };
}

/** Current stat of a node: through an open fd when it has one (unlinked files), else by path. */
export function statNode(ctx: FsContext, node: Node): Stats {
  const fd = ctx.nodes.anyFd(node);
  return fd !== null ? fstatSync(fd) : lstatSync(abs(ctx, pathOf(node)));
}

/** An entry reply for `node` (the kernel's lookup count goes up by one). */
export function entryReply(node: Node, st: Stats): Buffer {
  node.lookups += 1;
  return encodeEntry(node.id, 0, attrOf(st), ENTRY_TTL_MS, ATTR_TTL_MS);
}

/** Reads a block range from an fd (for the partial blocks of a write). */
export function fdReader(fd: number): ReadBlock {
  return (offset, len) => {
    const b = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const n = readSync(fd, b, got, len - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return got === len ? b : b.subarray(0, got);
  };
}

/** Runs `fn` with a block reader over the file at `p` (opened read-only, never through a symlink). */
export function withFile<T>(p: string, fn: (read: ReadBlock) => T): T {
  const fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return fn(fdReader(fd));
  } finally {
    closeSync(fd);
  }
}

/** lstat, or null when nothing is there. */
export function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw err;
  }
}

/** attr records (mode bits and mtime) for every journal identity of the path(s) of a stat. */
export function attrRecords(ctx: FsContext, paths: Iterable<Rel>, st: Stats): RecordBody[] {
  const out: RecordBody[] = [];
  for (const p of paths) {
    const e = ctx.ns.get(p);
    if (e)
      out.push({ type: "attr", fileId: e.fileId, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
  }
  return out;
}

/** The parent directory of `rel` changed (entries added or removed): its mtime is journaled at the next cut. */
export function touchDir(ctx: FsContext, rel: Rel): void {
  const i = rel.lastIndexOf("/");
  ctx.dirtyDirs.add(i < 0 ? "" : rel.slice(0, i));
}

/**
 * attr records for everything written or changed since the last cut, read
 * now: mtimes are journaled once per checkpoint, not once per write.
 */
export function cutAttrs(ctx: FsContext): RecordBody[] {
  const out: RecordBody[] = [];
  for (const node of ctx.dirtyFiles) {
    if (node.paths.size === 0) continue;
    try {
      out.push(...attrRecords(ctx, node.paths, statNode(ctx, node)));
    } catch {
      // gone since: its unlink is journaled
    }
  }
  ctx.dirtyFiles.clear();
  for (const rel of ctx.dirtyDirs) {
    try {
      out.push(...attrRecords(ctx, [rel], lstatSync(abs(ctx, rel))));
    } catch {
      // removed since
    }
  }
  ctx.dirtyDirs.clear();
  return out;
}
