/**
 * The FUSE kernel protocol, 7.38 (`/usr/include/linux/fuse.h`): opcodes,
 * flags, and the codec for the structures this filesystem exchanges with the
 * kernel. Pure: bytes in, values out, and back. No I/O, no filesystem logic.
 * All integers are little-endian (x86_64 and arm64 both are).
 */

/** Protocol version answered in INIT; the kernel offers 7.45 and accepts an older minor. */
export const FUSE_MAJOR = 7;
export const FUSE_MINOR = 38;

/** Request opcodes (enum fuse_opcode). */
export const Op = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  RENAME2: 45,
  LSEEK: 46,
} as const;

/** INIT flags we may ask for (always a subset of what the kernel offers). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  BIG_WRITES: 1 << 5,
  /** Never requested: the journal would see the kernel's writeback order, not the app's. */
  WRITEBACK_CACHE: 1 << 16,
  PARALLEL_DIROPS: 1 << 18,
  MAX_PAGES: 1 << 22,
} as const;

/** SETATTR `valid` bits. */
export const Fattr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
} as const;

/** OPEN reply flag: keep the page cache across opens (only we change the files). */
export const FOPEN_KEEP_CACHE = 1 << 1;
/** GETATTR flag: `fh` is valid. */
export const GETATTR_FH = 1 << 0;
/** FSYNC flag: data only (fdatasync). */
export const FSYNC_FDATASYNC = 1 << 0;
/** renameat2 flags. */
export const RENAME_NOREPLACE = 1 << 0;

/** Request header bytes (fuse_in_header). */
export const IN_HEADER_BYTES = 40;
/** Reply header bytes (fuse_out_header). */
export const OUT_HEADER_BYTES = 16;
/** fuse_write_in: WRITE payload starts at IN_HEADER_BYTES + this. */
export const WRITE_IN_BYTES = 40;
/** fuse_attr. */
export const ATTR_BYTES = 88;
/** fuse_entry_out. */
export const ENTRY_OUT_BYTES = 40 + ATTR_BYTES;
/** fuse_attr_out. */
export const ATTR_OUT_BYTES = 16 + ATTR_BYTES;
/** fuse_open_out. */
export const OPEN_OUT_BYTES = 16;
/** fuse_init_out. */
export const INIT_OUT_BYTES = 64;
/** fuse_dirent header, before the name (padded to 8). */
export const DIRENT_HEADER_BYTES = 24;

/** The request header of every message from the kernel. */
export interface RequestHeader {
  readonly len: number;
  readonly opcode: number;
  readonly unique: bigint;
  readonly nodeid: number;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
}

/** Decodes fuse_in_header. Node ids we hand out stay below 2^53, so they are numbers. */
export function decodeHeader(buf: Buffer): RequestHeader {
  return {
    len: buf.readUInt32LE(0),
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: Number(buf.readBigUInt64LE(16)),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
  };
}

/** The reply header: `error` is 0 or a negative errno. */
export function encodeOutHeader(unique: bigint, error: number, bodyLen: number): Buffer {
  const b = Buffer.allocUnsafe(OUT_HEADER_BYTES);
  b.writeUInt32LE(OUT_HEADER_BYTES + bodyLen, 0);
  b.writeInt32LE(error, 4);
  b.writeBigUInt64LE(unique, 8);
  return b;
}

/** The attributes the kernel caches for a node (a subset of struct stat). */
export interface Attr {
  readonly ino: number;
  readonly size: number;
  readonly blocks: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev: number;
  readonly blksize: number;
}

function writeTime(b: Buffer, secAt: number, nsecAt: number, ms: number): void {
  const sec = Math.floor(ms / 1000);
  b.writeBigUInt64LE(BigInt(Math.max(0, sec)), secAt);
  b.writeUInt32LE(Math.max(0, Math.round((ms - sec * 1000) * 1e6)) % 1e9, nsecAt);
}

/** Writes fuse_attr at `at`. */
export function writeAttr(b: Buffer, at: number, a: Attr): void {
  b.writeBigUInt64LE(BigInt(a.ino), at);
  b.writeBigUInt64LE(BigInt(a.size), at + 8);
  b.writeBigUInt64LE(BigInt(a.blocks), at + 16);
  writeTime(b, at + 24, at + 48, a.atimeMs);
  writeTime(b, at + 32, at + 52, a.mtimeMs);
  writeTime(b, at + 40, at + 56, a.ctimeMs);
  b.writeUInt32LE(a.mode >>> 0, at + 60);
  b.writeUInt32LE(a.nlink >>> 0, at + 64);
  b.writeUInt32LE(a.uid >>> 0, at + 68);
  b.writeUInt32LE(a.gid >>> 0, at + 72);
  b.writeUInt32LE(a.rdev >>> 0, at + 76);
  b.writeUInt32LE(a.blksize >>> 0, at + 80);
  b.writeUInt32LE(0, at + 84);
}

function writeValid(b: Buffer, at: number, ms: number): void {
  b.writeBigUInt64LE(BigInt(Math.floor(ms / 1000)), at);
}

/** fuse_entry_out: a node the kernel may cache for `entryMs` and its attributes for `attrMs`. */
export function encodeEntry(
  nodeid: number,
  generation: number,
  attr: Attr,
  entryMs: number,
  attrMs: number,
): Buffer {
  const b = Buffer.alloc(ENTRY_OUT_BYTES);
  b.writeBigUInt64LE(BigInt(nodeid), 0);
  b.writeBigUInt64LE(BigInt(generation), 8);
  writeValid(b, 16, entryMs);
  writeValid(b, 24, attrMs);
  b.writeUInt32LE((entryMs % 1000) * 1e6, 32);
  b.writeUInt32LE((attrMs % 1000) * 1e6, 36);
  writeAttr(b, 40, attr);
  return b;
}

/** fuse_attr_out. */
export function encodeAttrOut(attr: Attr, attrMs: number): Buffer {
  const b = Buffer.alloc(ATTR_OUT_BYTES);
  writeValid(b, 0, attrMs);
  b.writeUInt32LE((attrMs % 1000) * 1e6, 8);
  writeAttr(b, 16, attr);
  return b;
}

/** fuse_open_out. */
export function encodeOpenOut(fh: number, openFlags: number): Buffer {
  const b = Buffer.alloc(OPEN_OUT_BYTES);
  b.writeBigUInt64LE(BigInt(fh), 0);
  b.writeUInt32LE(openFlags, 8);
  return b;
}

/** fuse_write_out. */
export function encodeWriteOut(size: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(size, 0);
  return b;
}

/** What INIT offered. */
export interface InitIn {
  readonly major: number;
  readonly minor: number;
  readonly maxReadahead: number;
  readonly flags: number;
}

/** Decodes fuse_init_in (after the request header). */
export function decodeInit(body: Buffer): InitIn {
  return {
    major: body.readUInt32LE(0),
    minor: body.readUInt32LE(4),
    maxReadahead: body.readUInt32LE(8),
    flags: body.readUInt32LE(12),
  };
}

/** fuse_init_out: what we accept. `flags` must be a subset of the offer. */
export function encodeInitOut(o: {
  maxReadahead: number;
  flags: number;
  maxBackground: number;
  maxWrite: number;
  maxPages: number;
}): Buffer {
  const b = Buffer.alloc(INIT_OUT_BYTES);
  b.writeUInt32LE(FUSE_MAJOR, 0);
  b.writeUInt32LE(FUSE_MINOR, 4);
  b.writeUInt32LE(o.maxReadahead, 8);
  b.writeUInt32LE(o.flags >>> 0, 12);
  b.writeUInt16LE(o.maxBackground, 16);
  b.writeUInt16LE(Math.floor((o.maxBackground * 3) / 4), 18);
  b.writeUInt32LE(o.maxWrite, 20);
  b.writeUInt32LE(1, 24); // time_gran: 1 ns
  b.writeUInt16LE(o.maxPages, 28);
  return b;
}

/** fuse_kstatfs from statfs(2). */
export function encodeStatfs(s: {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
}): Buffer {
  const b = Buffer.alloc(80);
  b.writeBigUInt64LE(BigInt(s.blocks), 0);
  b.writeBigUInt64LE(BigInt(s.bfree), 8);
  b.writeBigUInt64LE(BigInt(s.bavail), 16);
  b.writeBigUInt64LE(BigInt(s.files), 24);
  b.writeBigUInt64LE(BigInt(s.ffree), 32);
  b.writeUInt32LE(s.bsize, 40);
  b.writeUInt32LE(255, 44); // namelen
  b.writeUInt32LE(s.bsize, 48); // frsize
  return b;
}

/** One directory entry for READDIR. */
export interface Dirent {
  readonly ino: number;
  readonly name: Buffer;
  /** DT_* type (mode >> 12). */
  readonly type: number;
}

/** Bytes one fuse_dirent takes (header + name, padded to 8). */
export function direntBytes(nameLen: number): number {
  return (DIRENT_HEADER_BYTES + nameLen + 7) & ~7;
}

/**
 * Packs entries from index `start` while they fit in `size` bytes; `off` of
 * each is the cookie of the next (its index + 1). Returns the bytes.
 */
export function encodeDirents(entries: readonly Dirent[], start: number, size: number): Buffer {
  let total = 0;
  let end = start;
  while (end < entries.length) {
    const n = direntBytes(entries[end]!.name.length);
    if (total + n > size) break;
    total += n;
    end++;
  }
  const b = Buffer.alloc(total);
  let at = 0;
  for (let i = start; i < end; i++) {
    const e = entries[i]!;
    b.writeBigUInt64LE(BigInt(e.ino || 1), at);
    b.writeBigUInt64LE(BigInt(i + 1), at + 8);
    b.writeUInt32LE(e.name.length, at + 16);
    b.writeUInt32LE(e.type, at + 20);
    e.name.copy(b, at + DIRENT_HEADER_BYTES);
    at += direntBytes(e.name.length);
  }
  return b;
}

/** A NUL-terminated string starting at `at`, and where the next one starts. */
export function readCString(buf: Buffer, at: number): { value: Buffer; next: number } {
  let end = buf.indexOf(0, at);
  if (end < 0) end = buf.length;
  return { value: buf.subarray(at, end), next: end + 1 };
}

/** Decoded fuse_setattr_in. */
export interface SetattrIn {
  readonly valid: number;
  readonly fh: number;
  readonly size: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

function readTime(b: Buffer, secAt: number, nsecAt: number): number {
  return Number(b.readBigUInt64LE(secAt)) * 1000 + b.readUInt32LE(nsecAt) / 1e6;
}

/** Decodes fuse_setattr_in (after the request header). */
export function decodeSetattr(body: Buffer): SetattrIn {
  return {
    valid: body.readUInt32LE(0),
    fh: Number(body.readBigUInt64LE(8)),
    size: Number(body.readBigUInt64LE(16)),
    atimeMs: readTime(body, 32, 56),
    mtimeMs: readTime(body, 40, 60),
    mode: body.readUInt32LE(68),
    uid: body.readUInt32LE(76),
    gid: body.readUInt32LE(80),
  };
}

/** Decoded fuse_read_in / fuse_write_in (same leading layout). */
export interface IoIn {
  readonly fh: number;
  readonly offset: number;
  readonly size: number;
}

/** Decodes the leading fh/offset/size of READ and WRITE bodies. */
export function decodeIo(body: Buffer): IoIn {
  return {
    fh: Number(body.readBigUInt64LE(0)),
    offset: Number(body.readBigUInt64LE(8)),
    size: body.readUInt32LE(16),
  };
}
