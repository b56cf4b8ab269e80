/**
 * Reads one file block by block, hashes every block with one reused hasher,
 * and keeps the bytes of changed blocks only. Memory is bounded whatever the
 * file size: two read windows are reused across files, and changed blocks are
 * handed to the caller in chunks of at most `flushBytes` (which the caller
 * appends to the journal before the read goes on: backpressure).
 *
 * A file can change while it is read; the reader re-stats afterwards and
 * reads again (bounded) if size, mtime, ctime or inode moved.
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
import { lstat } from "node:fs/promises";
import { isErrno } from "../errors.js";
import { closeFd, fstatFd, openFd, readFd } from "../util/fd.js";
import type { BlockHasher } from "../util/hash.js";
import { BlockSlabs, releaseBlock } from "./block-slabs.js";
import { type BlockBaseline, blockNeedsWrite, type ReadBlock } from "./differ.js";

/** Read-only, and a final symlink is not followed (it is captured as a link). */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;
/**
 * readSync's flags: a FIFO swapped in for the file after its lstat would
 * block a plain open(2) until a writer came, with the event loop stuck in
 * it; O_NONBLOCK opens it at once (fstat then says it is no file) and
 * changes nothing for a regular file's reads.
 */
const READ_SYNC_FLAGS = READ_FLAGS | constants.O_NONBLOCK;

/** Read window: 1 MiB per read(2) call; two windows let hashing overlap the next read. */
export const DEFAULT_WINDOW_BYTES = 1024 * 1024;
/** Changed bytes buffered before they are handed on (and appended): bounds memory per file. */
export const DEFAULT_FLUSH_BYTES = 16 * 1024 * 1024;
/** Reads of a file that keeps changing before it is captured as read and marked dirty again. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/**
 * Files above this size are read once per pass even when they moved during
 * the read (16 MiB: a re-read costs ~3 ms below it; a 1 GiB file costs ~0.5 s
 * per read, and re-reading it three times made the capture fall behind).
 */
export const REREAD_LIMIT_BYTES = 16 * 1024 * 1024;
/** A file read to the end (possibly while it kept changing). */
export interface FileRead {
  readonly vanished: false;
  /** Bytes read: the file's size as captured. */
  readonly size: number;
  /** The stat taken after the last read (mode, mtime, inode...). */
  readonly stat: Stats;
  /** Hash of every block, in order. */
  readonly hashes: Buffer[];
  /** Changed blocks not yet handed to `onChunk` (the caller appends them with size/attr). */
  readonly pending: ReadBlock[];
  /** Wall-clock ms just before the last attempt started (for the racily-clean rule). */
  readonly readAt: number;
  /** False when the file was still changing after every attempt: capture it again later. */
  readonly stable: boolean;
  /** True when the path now names another inode or nothing: process the path again. */
  readonly identityChanged: boolean;
}

/** The path was gone (or no longer a regular file) when it was opened. */
export interface FileGone {
  readonly vanished: true;
}

/** Result of FileReader.read. */
export type ReadOutcome = FileRead | FileGone;

/** Options of a FileReader. */
export interface FileReaderOptions {
  readonly blockSize: number;
  readonly hasher: BlockHasher;
  readonly windowBytes?: number;
  readonly flushBytes?: number;
  readonly maxAttempts?: number;
  /** Where changed blocks are copied to; forks share their parent's. */
  readonly slabs?: BlockSlabs;
}

/** Reads and hashes files; one instance per capture loop (its buffers are reused, so not re-entrant). */
export class FileReader {
  private readonly bs: number;
  private readonly hasher: BlockHasher;
  private readonly opts: FileReaderOptions;
  private readonly windowBytes: number;
  /**
   * Allocated on first read and grown to the largest file read, up to
   * windowBytes: a forked reader that never reads costs nothing, and readers
   * of small files hold two blocks, not two 1 MiB windows each.
   */
  private windows: [Buffer, Buffer] | null = null;
  /**
   * Changed blocks are copied out of the read window into shared slabs, not
   * one Buffer each: a Buffer per block was ~3% of a 100k-file scan's main
   * thread, and the slabs are reused (block-slabs.ts).
   */
  private readonly slabs: BlockSlabs;
  private readonly zeros: Buffer;
  private readonly flushBytes: number;
  private readonly maxAttempts: number;

  constructor(opts: FileReaderOptions) {
    this.bs = opts.blockSize;
    this.hasher = opts.hasher;
    this.slabs = opts.slabs ?? new BlockSlabs();
    this.opts = { ...opts, slabs: this.slabs };
    this.windowBytes =
      Math.max(1, Math.floor((opts.windowBytes ?? DEFAULT_WINDOW_BYTES) / this.bs)) * this.bs;
    this.zeros = Buffer.alloc(this.bs);
    this.flushBytes = Math.max(this.bs, opts.flushBytes ?? DEFAULT_FLUSH_BYTES);
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  }

  /** Another reader with the same options and its own buffers (for reads in parallel). */
  fork(): FileReader {
    return new FileReader(this.opts);
  }

  /**
   * Reads `path` and compares each block with `base`. Changed blocks reach
   * `onChunk` whenever `flushBytes` of them accumulate (awaited), the rest are
   * returned in `pending`. Blocks handed on count as journaled for later
   * attempts.
   */
  async read(
    path: string,
    base: BlockBaseline,
    onChunk: (blocks: ReadBlock[]) => Promise<void>,
  ): Promise<ReadOutcome> {
    const s = newReadState(base);
    const flush = async () => {
      if (s.pending.size === 0) return;
      const blocks = [...s.pending.values()];
      s.pending.clear();
      s.pendingBytes = 0;
      await onChunk(blocks);
    };
    for (let attempt = 1; ; attempt++) {
      const readAt = Date.now();
      let fd: number;
      try {
        fd = await openFd(path, READ_FLAGS);
      } catch (err) {
        if (isGoneAtOpen(err)) return { vanished: true };
        throw err;
      }
      try {
        const pre = await fstatFd(fd);
        if (!pre.isFile()) return { vanished: true };
        s.hashes = [];
        const size = await this.readAll(fd, pre.size, async (index, data) => {
          this.takeBlock(s, base, index, data);
          if (s.pendingBytes >= this.flushBytes) await flush();
        });
        const now = await lstat(path).catch(nullIfGone);
        // The path still names the inode we read: its lstat is the fd's stat.
        const post = sameInode(now, pre) ? now : await fstatFd(fd);
        const identityChanged = !sameInode(now, pre);
        const done = this.outcome(s, attempt, { size, pre, post, identityChanged, readAt });
        if (done) return done;
      } finally {
        await closeFd(fd);
      }
    }
  }

  /**
   * `read` with synchronous calls, for a small page-cached file (see
   * inline-io.ts): one read(2) of the whole file. Returns null, having handed
   * nothing on, when the file is larger than `maxBytes` once opened: the
   * caller reads it with `read`. `opened` is a descriptor the caller opened
   * (openRegularSync) and hands over: the first attempt reads it, and it is
   * closed whatever happens.
   */
  readSync(
    path: string,
    base: BlockBaseline,
    maxBytes: number,
    opened?: OpenedFile,
  ): ReadOutcome | null {
    const s = newReadState(base);
    for (let attempt = 1; ; attempt++) {
      const first = attempt === 1 ? opened : undefined;
      const readAt = first ? first.openedAt : Date.now();
      let fd: number;
      if (first) fd = first.fd;
      else {
        try {
          fd = openSync(path, READ_SYNC_FLAGS);
        } catch (err) {
          if (isGoneAtOpen(err)) return { vanished: true };
          throw err;
        }
      }
      try {
        const pre = first ? first.st : fstatSync(fd);
        if (!pre.isFile()) return { vanished: true };
        if (pre.size > Math.min(maxBytes, this.windowBytes, this.flushBytes)) {
          for (const b of s.pending.values()) releaseBlock(b.data);
          return null;
        }
        s.hashes = [];
        const buf = this.windowsFor(pre.size)[0];
        let size = 0;
        while (size < pre.size) {
          const n = readSync(fd, buf, size, pre.size - size, size);
          if (n === 0) break;
          size += n;
        }
        for (let off = 0; off < size; off += this.bs)
          this.takeBlock(s, base, off / this.bs, buf.subarray(off, Math.min(off + this.bs, size)));
        let now: Stats | null;
        try {
          now = lstatSync(path);
        } catch (err) {
          now = nullIfGone(err);
        }
        const post = sameInode(now, pre) ? now : fstatSync(fd);
        const identityChanged = !sameInode(now, pre);
        const done = this.outcome(s, attempt, { size, pre, post, identityChanged, readAt });
        if (done) return done;
      } finally {
        closeSync(fd);
      }
    }
  }

  /** Hashes block `index` and keeps a copy of it when it must be journaled. */
  private takeBlock(s: ReadState, base: BlockBaseline, index: number, data: Buffer): void {
    const hash = this.hasher.hash(data);
    s.hashes.push(hash);
    // The zero test only matters where nothing is journaled (see blockNeedsWrite).
    const zero = s.local[index] === undefined && data.equals(this.zeros.subarray(0, data.length));
    if (!blockNeedsWrite({ size: base.size, blocks: s.local }, index, hash, zero)) return;
    s.local[index] = hash;
    const prev = s.pending.get(index);
    if (prev) {
      // Re-read before it was handed on: the newer bytes replace it.
      s.pendingBytes -= prev.data.length;
      releaseBlock(prev.data);
    }
    s.pending.set(index, { index, hash, zero, data: this.slabs.copy(data) });
    s.pendingBytes += data.length;
  }

  /** The result of an attempt, or null when the file moved during it and is read again. */
  private outcome(
    s: ReadState,
    attempt: number,
    a: { size: number; pre: Stats; post: Stats; identityChanged: boolean; readAt: number },
  ): FileRead | null {
    const { size, pre, post, identityChanged } = a;
    const stable =
      size === pre.size &&
      post.size === pre.size &&
      post.mtimeMs === pre.mtimeMs &&
      post.ctimeMs === pre.ctimeMs;
    // A big file that moved while we read it (a database written
    // continuously) is not re-read at once: each re-read costs its whole
    // size, and the caller captures it again on the next pass anyway.
    const tooBigToRetry = pre.size > REREAD_LIMIT_BYTES;
    if (!(stable || identityChanged || attempt >= this.maxAttempts || tooBigToRetry)) return null;
    return {
      vanished: false,
      size,
      stat: post,
      hashes: s.hashes,
      pending: [...s.pending.values()],
      readAt: a.readAt,
      stable,
      identityChanged,
    };
  }

  /**
   * Reads up to `limit` bytes (stops early at EOF), calling `onBlock` per
   * block in order. The next window is read while the current one is hashed.
   * Returns the number of bytes read.
   */
  private async readAll(
    fd: number,
    limit: number,
    onBlock: (index: number, data: Buffer) => Promise<void>,
  ): Promise<number> {
    const bs = this.bs;
    const windows = this.windowsFor(limit);
    let pos = 0;
    let cur = 0;
    const start = (buf: Buffer, at: number) =>
      readFull(fd, buf, Math.min(buf.length, limit - at), at);
    let inflight: Promise<number> | null = limit > 0 ? start(windows[0], 0) : null;
    while (inflight) {
      const want = Math.min(windows[cur]!.length, limit - pos);
      const n = await inflight;
      const buf = windows[cur]!;
      const at = pos;
      pos += n;
      const more = n === want && pos < limit;
      cur ^= 1;
      inflight = more ? start(windows[cur]!, pos) : null;
      for (let off = 0; off < n; off += bs) {
        await onBlock((at + off) / bs, buf.subarray(off, Math.min(off + bs, n)));
      }
    }
    return pos;
  }

  /** Read windows for a file of `size` bytes: grown (never shrunk) up to windowBytes. */
  private windowsFor(size: number): [Buffer, Buffer] {
    const want = Math.min(this.windowBytes, Math.max(1, Math.ceil(size / this.bs)) * this.bs);
    if (this.windows === null || this.windows[0].length < want)
      this.windows = [Buffer.allocUnsafeSlow(want), Buffer.allocUnsafeSlow(want)];
    return this.windows;
  }
}

/** A regular file opened by openRegularSync, not read yet. */
export interface OpenedFile {
  readonly fd: number;
  /** The descriptor's fstat, taken right after the open. */
  readonly st: Stats;
  /** Wall-clock ms just before the open (the read's readAt). */
  readonly openedAt: number;
}

/**
 * Opens `path` as readSync does, if it is a regular file: its fstat then
 * stands for the lstat of the path (O_NOFOLLOW: the path itself was opened),
 * one path lookup instead of two. Null, with nothing left open, for anything
 * else and for any error: the caller lstat's the path and goes the usual way
 * (which reports the error, if it persists, as before).
 */
export function openRegularSync(path: string): OpenedFile | null {
  const openedAt = Date.now();
  let fd: number;
  try {
    fd = openSync(path, READ_SYNC_FLAGS);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (st.isFile()) return { fd, st, openedAt };
  } catch {
    // fall through: closed below
  }
  closeSync(fd);
  return null;
}

/** What one read keeps across its attempts. */
interface ReadState {
  /** The baseline's hashes, updated as changed blocks are taken. */
  readonly local: (Buffer | null | undefined)[];
  /** Changed blocks not handed on yet, by block index. */
  readonly pending: Map<number, ReadBlock>;
  pendingBytes: number;
  /** Hash of every block of the current attempt, in order. */
  hashes: Buffer[];
}

function newReadState(base: BlockBaseline): ReadState {
  return { local: [...base.blocks], pending: new Map(), pendingBytes: 0, hashes: [] };
}

function isGoneAtOpen(err: unknown): boolean {
  return isErrno(err, "ENOENT") || isErrno(err, "ELOOP") || isErrno(err, "ENOTDIR");
}

function nullIfGone(err: unknown): null {
  if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return null;
  throw err;
}

/** True when the path's lstat `now` names the inode read: then it is the descriptor's stat too. */
function sameInode(now: Stats | null, pre: Stats): now is Stats {
  return now !== null && now.ino === pre.ino && now.dev === pre.dev;
}

/** Reads `len` bytes at `position` unless EOF comes first; returns the bytes read. */
async function readFull(fd: number, buf: Buffer, len: number, position: number): Promise<number> {
  let done = 0;
  while (done < len) {
    const bytesRead = await readFd(fd, buf, done, len - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}
