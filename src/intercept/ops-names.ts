/**
 * Namespace operations: lookup, attributes, create, mkdir, symlink, link,
 * unlink, rmdir, rename. Each applies the change to the backing volume, then
 * submits its records to the ordered write log, then answers: the journal's
 * order is the order the kernel delivered them in.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fchownSync,
  fstatSync,
  ftruncateSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  type Stats,
  symlinkSync,
  truncateSync,
  unlinkSync,
} from "node:fs";
import { dirname } from "node:path";
import { copyRecords, type ReadBlock, truncateRecords } from "./blocks.js";
import {
  ATTR_TTL_MS,
  abs,
  attrOf,
  attrRecords,
  entryReply,
  type FsContext,
  fdReader,
  lstatOrNull,
  pathOf,
  statNode,
  touchDir,
  withFile,
} from "./context.js";
import { childRel, type Rel } from "./namespace.js";
import type { Node } from "./nodes.js";
import {
  decodeSetattr,
  encodeAttrOut,
  Fattr,
  GETATTR_FH,
  RENAME_NOREPLACE,
  type RequestHeader,
  readCString,
} from "./protocol.js";

/** An errno error, as the fs calls throw. */
export function errno(code: string): Error {
  return Object.assign(new Error(code), { code });
}

/** The node of a request; ESTALE for an id the kernel should not have. */
export function nodeOf(ctx: FsContext, h: RequestHeader): Node {
  const n = ctx.nodes.get(h.nodeid);
  if (!n) throw errno("ESTALE");
  return n;
}

function name(body: Buffer, at = 0): string {
  const n = readCString(body, at).value;
  // Names come from the kernel as one path component; refuse anything else.
  if (n.length === 0 || n.includes(0x2f)) throw errno("EINVAL");
  if (n.length > 255) throw errno("ENAMETOOLONG");
  return n.toString("utf8");
}

function dirRel(ctx: FsContext, h: RequestHeader): Rel {
  const n = nodeOf(ctx, h);
  if (n.kind !== "dir") throw errno("ENOTDIR");
  return pathOf(n);
}

/** A path that exists on the volume but not in the journal was made behind the mount's back: journal it. */
export function adoptUnknown(ctx: FsContext, rel: Rel, st: Stats): void {
  if (ctx.ns.get(rel)) return;
  ctx.logger.warn(
    { path: ctx.ns.jpath(rel) },
    "intercept: a path was changed behind the mount (write through the mount point only); journaling it now",
  );
  const p = abs(ctx, rel);
  if (st.isFile()) {
    const { fileId, records } = ctx.ns.create(rel, "file");
    records.push(
      ...withFile(p, (read) => copyRecords(fileId, st.size, ctx.blockSize, read, ctx.hash)),
    );
    ctx.log.submit([...records, ...attrRecords(ctx, [rel], st)]);
  } else if (st.isDirectory() || st.isSymbolicLink()) {
    const kind = st.isDirectory() ? "dir" : "symlink";
    const target = kind === "symlink" ? readlinkSync(p, "utf8") : undefined;
    const { records } = ctx.ns.create(rel, kind, target);
    ctx.log.submit([...records, ...attrRecords(ctx, [rel], st)]);
  }
}

/** LOOKUP. */
export function lookup(ctx: FsContext, h: RequestHeader, body: Buffer): Buffer {
  const rel = childRel(dirRel(ctx, h), name(body));
  const st = lstatSync(abs(ctx, rel));
  adoptUnknown(ctx, rel, st);
  const node = ctx.nodes.nodeFor(st, rel, () => ctx.ns.pathsOf(st.ino, rel));
  if (node.kind === "file" && st.nlink > 1) ctx.ns.addLink(st.ino, rel);
  return entryReply(node, st);
}

/** GETATTR. */
export function getattr(ctx: FsContext, h: RequestHeader, body: Buffer): Buffer {
  const node = nodeOf(ctx, h);
  const flags = body.readUInt32LE(0);
  const fh = Number(body.readBigUInt64LE(8));
  const handle = flags & GETATTR_FH ? ctx.nodes.file(fh) : undefined;
  const st = handle ? fstatSync(handle.fd) : statNode(ctx, node);
  return encodeAttrOut(attrOf(st), ATTR_TTL_MS);
}

/** SETATTR: truncate, chmod, chown, utimens; each journaled (ownership is not part of the journal). */
export function setattr(ctx: FsContext, h: RequestHeader, body: Buffer): Buffer {
  const node = nodeOf(ctx, h);
  const a = decodeSetattr(body);
  const handle = a.valid & Fattr.FH ? ctx.nodes.file(a.fh) : undefined;
  const fd = handle?.fd ?? ctx.nodes.anyFd(node);
  const p = node.paths.size > 0 ? abs(ctx, pathOf(node)) : null;
  if (a.valid & Fattr.SIZE) {
    if (node.kind !== "file") throw errno(node.kind === "dir" ? "EISDIR" : "EINVAL");
    if (fd !== null) ftruncateSync(fd, a.size);
    else if (p !== null) truncateSync(p, a.size);
    else throw errno("ENOENT");
    node.size = a.size;
    const records = (read: ReadBlock) =>
      truncateRecords(ctx.ns.fileIds(node.paths), a.size, ctx.blockSize, read, ctx.hash);
    ctx.log.submit(fd !== null ? records(fdReader(fd)) : withFile(p!, records));
    ctx.dirtyFiles.add(node);
  }
  if (a.valid & Fattr.MODE && p !== null) chmodSync(p, a.mode & 0o7777);
  if (a.valid & (Fattr.UID | Fattr.GID) && p !== null) {
    lchownSync(p, a.valid & Fattr.UID ? a.uid : -1, a.valid & Fattr.GID ? a.gid : -1);
  } else if (a.valid & (Fattr.UID | Fattr.GID) && fd !== null) {
    fchownSync(fd, a.valid & Fattr.UID ? a.uid : -1, a.valid & Fattr.GID ? a.gid : -1);
  }
  if (a.valid & (Fattr.ATIME | Fattr.MTIME | Fattr.ATIME_NOW | Fattr.MTIME_NOW)) {
    const cur = statNode(ctx, node);
    const now = Date.now();
    const at = a.valid & Fattr.ATIME_NOW ? now : a.valid & Fattr.ATIME ? a.atimeMs : cur.atimeMs;
    const mt = a.valid & Fattr.MTIME_NOW ? now : a.valid & Fattr.MTIME ? a.mtimeMs : cur.mtimeMs;
    if (p !== null) lutimesSync(p, at / 1000, mt / 1000);
    else if (fd !== null) futimesSync(fd, at / 1000, mt / 1000);
  }
  const st = statNode(ctx, node);
  if (a.valid & (Fattr.MODE | Fattr.ATIME | Fattr.MTIME | Fattr.ATIME_NOW | Fattr.MTIME_NOW)) {
    ctx.log.submit(attrRecords(ctx, node.paths, st));
  }
  return encodeAttrOut(attrOf(st), ATTR_TTL_MS);
}

/** READLINK. */
export function readlink(ctx: FsContext, h: RequestHeader): Buffer {
  return readlinkSync(abs(ctx, pathOf(nodeOf(ctx, h))), "buffer");
}

/** The set-group-ID mode bit (not in node:fs constants). */
const S_ISGID = 0o2000;

/**
 * Owner of a new entry: the calling process, as on any filesystem, except
 * that a set-group-ID directory gives its group (and, to subdirectories, the
 * bit itself) as the kernel does on the volume (Kubernetes fsGroup relies on it).
 */
export function ownerOf(
  parentAbs: string,
  h: RequestHeader,
): { uid: number; gid: number; setgid: boolean } {
  const parent = lstatSync(parentAbs);
  const setgid = (parent.mode & S_ISGID) !== 0;
  return { uid: h.uid, gid: setgid ? parent.gid : h.gid, setgid };
}

function own(p: string, h: RequestHeader): void {
  const o = ownerOf(dirname(p), h);
  lchownSync(p, o.uid, o.gid);
  const st = lstatSync(p);
  if (o.setgid && st.isDirectory()) chmodSync(p, (st.mode & 0o7777) | S_ISGID);
}

function finishNew(
  ctx: FsContext,
  rel: Rel,
  records: ReturnType<FsContext["ns"]["create"]>["records"],
) {
  const st = lstatSync(abs(ctx, rel));
  ctx.log.submit([...records, ...attrRecords(ctx, [rel], st)]);
  touchDir(ctx, rel);
  const node = ctx.nodes.nodeFor(st, rel, () => new Set([rel]));
  return { st, node };
}

/** MKDIR: mode (the kernel applied the umask), then name. */
export function mkdir(ctx: FsContext, h: RequestHeader, body: Buffer): Buffer {
  const mode = body.readUInt32LE(0) & 0o7777;
  const rel = childRel(dirRel(ctx, h), name(body, 8));
  const p = abs(ctx, rel);
  mkdirSync(p);
  chmodSync(p, mode); // the daemon's own umask must not apply
  own(p, h);
  const { records } = ctx.ns.create(rel, "dir");
  const { st, node } = finishNew(ctx, rel, records);
  return entryReply(node, st);
}

/** MKNOD: regular files only (Node.js has no mknod: fifos, sockets and devices get EPERM). */
export function mknod(ctx: FsContext, h: RequestHeader, body: Buffer): Buffer {
  const mode = body.readUInt32LE(0);
  if ((mode & constants.S_IFMT) !== constants.S_IFREG) throw errno("EPERM");
  const rel = childRel(dirRel(ctx, h), name(body, 16));
  const p = abs(ctx, rel);
  closeSync(openSync(p, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
  chmodSync(p, mode & 0o7777);
  own(p, h);
  const { fileId, records } = ctx.ns.create(rel, "file");
  records.push({ type: "size", fileId, size: 0 });
  const { st, node } = finishNew(ctx, rel, records);
  return entryReply(node, st);
}

/** SYMLINK: name, then target. */
export function symlink(ctx: FsContext, h: RequestHeader, body: Buffer): Buffer {
  const first = readCString(body, 0);
  const rel = childRel(dirRel(ctx, h), name(body));
  const target = readCString(body, first.next).value.toString("utf8");
  const p = abs(ctx, rel);
  symlinkSync(target, p);
  own(p, h);
  const { records } = ctx.ns.create(rel, "symlink", target);
  const { st, node } = finishNew(ctx, rel, records);
  return entryReply(node, st);
}

/** LINK: a new name for an existing file; the journal keeps it as its own identity with the same blocks. */
export function link(ctx: FsContext, h: RequestHeader, body: Buffer): Buffer {
  const old = ctx.nodes.get(Number(body.readBigUInt64LE(0)));
  if (!old) throw errno("ESTALE");
  if (old.kind !== "file") throw errno("EPERM");
  const rel = childRel(dirRel(ctx, h), name(body, 8));
  const from = pathOf(old);
  linkSync(abs(ctx, from), abs(ctx, rel));
  const st = lstatSync(abs(ctx, rel));
  const { fileId, records } = ctx.ns.create(rel, "file");
  records.push(
    ...withFile(abs(ctx, rel), (read) =>
      copyRecords(fileId, st.size, ctx.blockSize, read, ctx.hash),
    ),
  );
  for (const p of old.paths) ctx.ns.addLink(st.ino, p);
  ctx.ns.addLink(st.ino, rel);
  old.paths.add(rel);
  ctx.log.submit([...records, ...attrRecords(ctx, [rel], st)]);
  touchDir(ctx, rel);
  return entryReply(old, st);
}

/** UNLINK. An open file lives on through its handles; the journal forgets the path now. */
export function unlink(ctx: FsContext, h: RequestHeader, body: Buffer): Buffer {
  return remove(ctx, h, body, unlinkSync);
}

/** RMDIR. */
export function rmdir(ctx: FsContext, h: RequestHeader, body: Buffer): Buffer {
  return remove(ctx, h, body, rmdirSync);
}

function remove(ctx: FsContext, h: RequestHeader, body: Buffer, fn: (p: string) => void): Buffer {
  const rel = childRel(dirRel(ctx, h), name(body));
  fn(abs(ctx, rel));
  ctx.log.submit(ctx.ns.remove(rel));
  ctx.nodes.dropPath(rel);
  touchDir(ctx, rel);
  return Buffer.alloc(0);
}

/** RENAME (newdir, names) and RENAME2 (newdir, flags, names). */
export function rename(ctx: FsContext, h: RequestHeader, body: Buffer, v2: boolean): Buffer {
  const newDir = ctx.nodes.get(Number(body.readBigUInt64LE(0)));
  if (!newDir) throw errno("ESTALE");
  if (newDir.kind !== "dir") throw errno("ENOTDIR");
  const flags = v2 ? body.readUInt32LE(8) : 0;
  // Node.js has no renameat2: RENAME_EXCHANGE and RENAME_WHITEOUT cannot be done atomically.
  if (flags & ~RENAME_NOREPLACE) throw errno("EINVAL");
  const at = v2 ? 16 : 8;
  const first = readCString(body, at);
  const from = childRel(dirRel(ctx, h), name(body, at));
  const to = childRel(pathOf(newDir), name(body, first.next));
  const src = lstatSync(abs(ctx, from));
  const dst = lstatOrNull(abs(ctx, to));
  if (dst && flags & RENAME_NOREPLACE) throw errno("EEXIST");
  // rename(2) of two links of one inode does nothing and succeeds.
  if (dst && dst.ino === src.ino && dst.dev === src.dev) return Buffer.alloc(0);
  renameSync(abs(ctx, from), abs(ctx, to));
  ctx.log.submit(ctx.ns.rename(from, to));
  if (dst) ctx.nodes.dropPath(to);
  ctx.nodes.movePaths(from, to);
  touchDir(ctx, from);
  touchDir(ctx, to);
  return Buffer.alloc(0);
}
