/**
 * Data operations: open/create, read, write, fsync, release, directories and
 * statfs. Reads go to the backing file (the kernel caches them: FOPEN_KEEP_CACHE);
 * writes go to the volume, then their blocks into the ordered write log,
 * before the reply. fsync answers once both the journal and the volume are
 * durable; a plain close (FLUSH) does not wait, as on any filesystem.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fdatasync,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readdirSync,
  statfsSync,
  writeSync,
} from "node:fs";
import { promisify } from "node:util";
import { truncateRecords, writeRecords } from "./blocks.js";
import {
  abs,
  attrRecords,
  entryReply,
  type FsContext,
  fdReader,
  lstatOrNull,
  pathOf,
  touchDir,
} from "./context.js";
import { childRel } from "./namespace.js";
import { adoptUnknown, errno, nodeOf, ownerOf } from "./ops-names.js";
import {
  type Dirent,
  decodeIo,
  encodeDirents,
  encodeOpenOut,
  encodeStatfs,
  encodeWriteOut,
  FOPEN_KEEP_CACHE,
  FSYNC_FDATASYNC,
  type RequestHeader,
  readCString,
  WRITE_IN_BYTES,
} from "./protocol.js";

const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);

const ACCMODE = constants.O_RDONLY | constants.O_WRONLY | constants.O_RDWR;
// Flags the backing open must not see: the kernel resolved creation, truncation
// arrives as SETATTR, offsets are explicit, and we never require aligned buffers.
const STRIP =
  constants.O_CREAT |
  constants.O_EXCL |
  constants.O_TRUNC |
  constants.O_APPEND |
  constants.O_DIRECT |
  constants.O_NOCTTY;

function backingFlags(flags: number): { flags: number; writable: boolean; sync: boolean } {
  const acc = flags & ACCMODE;
  const writable = acc !== constants.O_RDONLY;
  // A writer needs read access too: partial blocks are read back to journal them whole.
  const mode = writable ? constants.O_RDWR : constants.O_RDONLY;
  const sync = (flags & (constants.O_SYNC | constants.O_DSYNC)) !== 0;
  const rest = flags & ~ACCMODE & ~STRIP & ~constants.O_SYNC & ~constants.O_DSYNC;
  return { flags: mode | rest | constants.O_NOFOLLOW, writable, sync };
}

/** OPEN. */
export function open(ctx: FsContext, h: RequestHeader, body: Buffer): Buffer {
  const node = nodeOf(ctx, h);
  const flags = body.readUInt32LE(0);
  const bf = backingFlags(flags);
  const fd = openSync(abs(ctx, pathOf(node)), bf.flags);
  node.size = fstatSync(fd).size;
  const fh = ctx.nodes.openFile({ node, fd, sync: bf.sync, writable: bf.writable });
  return encodeOpenOut(fh, FOPEN_KEEP_CACHE);
}

/** CREATE: flags, mode (umask applied by the kernel), umask, open_flags, then name. */
export function create(ctx: FsContext, h: RequestHeader, body: Buffer): Buffer {
  const dir = nodeOf(ctx, h);
  if (dir.kind !== "dir") throw errno("ENOTDIR");
  const flags = body.readUInt32LE(0);
  const mode = body.readUInt32LE(4) & 0o7777;
  const nm = readCString(body, 16).value;
  if (nm.length === 0 || nm.includes(0x2f)) throw errno("EINVAL");
  if (nm.length > 255) throw errno("ENAMETOOLONG");
  const rel = childRel(pathOf(dir), nm.toString("utf8"));
  const p = abs(ctx, rel);
  const bf = backingFlags(flags);
  const before = lstatOrNull(p);
  if (before) adoptUnknown(ctx, rel, before);
  const existed = before?.isFile() === true;
  const excl = flags & constants.O_EXCL ? constants.O_EXCL : 0;
  const fd = openSync(p, bf.flags | constants.O_CREAT | excl, 0o600);
  let st = fstatSync(fd);
  const records = [];
  if (!existed) {
    fchmodSync(fd, mode); // the daemon's own umask must not apply
    const o = ownerOf(abs(ctx, pathOf(dir)), h);
    fchownSync(fd, o.uid, o.gid);
    const made = ctx.ns.create(rel, "file");
    records.push(...made.records, { type: "size" as const, fileId: made.fileId, size: st.size });
    touchDir(ctx, rel);
  } else if (flags & constants.O_TRUNC && st.size > 0) {
    ftruncateSync(fd, 0);
    records.push(
      ...truncateRecords(ctx.ns.fileIds([rel]), 0, ctx.blockSize, fdReader(fd), ctx.hash),
    );
  }
  st = fstatSync(fd);
  ctx.log.submit([...records, ...attrRecords(ctx, [rel], st)]);
  const node = ctx.nodes.nodeFor(st, rel, () => ctx.ns.pathsOf(st.ino, rel));
  node.size = st.size;
  const fh = ctx.nodes.openFile({ node, fd, sync: bf.sync, writable: bf.writable });
  return Buffer.concat([entryReply(node, st), encodeOpenOut(fh, FOPEN_KEEP_CACHE)]);
}

/** READ: from the backing file; the kernel keeps what it read in its page cache. */
export function read(ctx: FsContext, body: Buffer): Buffer {
  const io = decodeIo(body);
  const hd = ctx.nodes.file(io.fh);
  if (!hd) throw errno("EBADF");
  return fdReader(hd.fd)(io.offset, io.size);
}

/**
 * WRITE: volume first, then the whole touched blocks into the log, then the
 * reply. Synchronous unless the write must wait (O_SYNC, or the log is over
 * its high-water mark).
 */
export function write(ctx: FsContext, body: Buffer): Buffer | Promise<Buffer> {
  const io = decodeIo(body);
  const hd = ctx.nodes.file(io.fh);
  if (!hd) throw errno("EBADF");
  if (!hd.writable) throw errno("EBADF");
  const refused = ctx.log.refusal();
  if (refused) throw errno(refused);
  const data = body.subarray(WRITE_IN_BYTES, WRITE_IN_BYTES + io.size);
  let done = 0;
  while (done < data.length) {
    done += writeSync(hd.fd, data, done, data.length - done, io.offset + done);
  }
  const node = hd.node;
  const records = writeRecords(
    ctx.ns.fileIds(node.paths),
    io.offset,
    data,
    node.size,
    ctx.blockSize,
    fdReader(hd.fd),
    ctx.hash,
  );
  node.size = Math.max(node.size, io.offset + data.length);
  const ticket = ctx.log.submit(records);
  ctx.dirtyFiles.add(node);
  const reply = encodeWriteOut(data.length);
  if (hd.sync) {
    return Promise.all([ctx.log.durable(ticket), fdatasyncAsync(hd.fd)]).then(() => reply);
  }
  if (ctx.log.overHighWater) return ctx.log.drained().then(() => reply);
  return reply;
}

/** FSYNC / FSYNCDIR on a file: journal durable (group commit), then the volume. */
export async function fsyncFile(ctx: FsContext, body: Buffer): Promise<Buffer> {
  const fh = Number(body.readBigUInt64LE(0));
  const flags = body.readUInt32LE(8);
  const hd = ctx.nodes.file(fh);
  if (!hd) throw errno("EBADF");
  // Both must be durable before the answer; neither depends on the other, so
  // the journal's group commit and the volume's flush run at the same time.
  await Promise.all([
    ctx.log.durable(),
    flags & FSYNC_FDATASYNC ? fdatasyncAsync(hd.fd) : fsyncAsync(hd.fd),
  ]);
  return Buffer.alloc(0);
}

/** RELEASE: closes the backing fd. */
export function release(ctx: FsContext, body: Buffer): Buffer {
  const hd = ctx.nodes.closeFile(Number(body.readBigUInt64LE(0)));
  if (hd) closeSync(hd.fd);
  return Buffer.alloc(0);
}

/** OPENDIR: the listing is taken now; READDIR offsets index into it. */
export function opendir(ctx: FsContext, h: RequestHeader): Buffer {
  const node = nodeOf(ctx, h);
  if (node.kind !== "dir") throw errno("ENOTDIR");
  const rel = pathOf(node);
  const p = abs(ctx, rel);
  const self = lstatSync(p);
  const entries: Dirent[] = [
    { ino: self.ino, name: Buffer.from("."), type: 4 },
    { ino: 1, name: Buffer.from(".."), type: 4 },
  ];
  for (const d of readdirSync(p, { withFileTypes: true })) {
    const st = lstatOrNull(abs(ctx, childRel(rel, d.name)));
    if (!st) continue;
    entries.push({ ino: st.ino, name: Buffer.from(d.name), type: (st.mode >> 12) & 0xf });
  }
  const fh = ctx.nodes.openDir({ node, entries });
  return encodeOpenOut(fh, 0);
}

/** READDIR. */
export function readdir(ctx: FsContext, body: Buffer): Buffer {
  const io = decodeIo(body);
  const d = ctx.nodes.dir(io.fh);
  if (!d) throw errno("EBADF");
  return encodeDirents(d.entries, io.offset, io.size);
}

/** RELEASEDIR. */
export function releasedir(ctx: FsContext, body: Buffer): Buffer {
  ctx.nodes.closeDir(Number(body.readBigUInt64LE(0)));
  return Buffer.alloc(0);
}

/** FSYNCDIR: the journal (names are journaled), then the backing directory. */
export async function fsyncdir(ctx: FsContext, h: RequestHeader): Promise<Buffer> {
  const node = nodeOf(ctx, h);
  await ctx.log.durable();
  const fd = openSync(abs(ctx, pathOf(node)), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return Buffer.alloc(0);
}

/** STATFS: the backing filesystem's numbers. */
export function statfs(ctx: FsContext): Buffer {
  const s = statfsSync(ctx.root);
  return encodeStatfs({
    blocks: s.blocks,
    bfree: s.bfree,
    bavail: s.bavail,
    files: s.files,
    ffree: s.ffree,
    bsize: s.bsize,
  });
}
