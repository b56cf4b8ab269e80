/**
 * One FUSE connection: a reader thread (reader-worker.ts) hands over the
 * kernel's requests; this answers INIT, routes every other opcode to the
 * filesystem operations and writes one reply per request (none for FORGET,
 * BATCH_FORGET and INTERRUPT). Requests that wait (fsync) do not hold up the
 * others. Mutations are applied synchronously on this thread, so overlapping
 * writes never interleave and the journal's order is the volume's.
 */
import { writevSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { Worker } from "node:worker_threads";
import type { FsContext } from "./context.js";
import { MAX_WRITE } from "./mount.js";
import * as files from "./ops-files.js";
import * as names from "./ops-names.js";
import {
  decodeHeader,
  decodeInit,
  encodeInitOut,
  encodeOutHeader,
  IN_HEADER_BYTES,
  InitFlag,
  Op,
  type RequestHeader,
  WRITE_IN_BYTES,
} from "./protocol.js";

const BUFFER_BYTES = IN_HEADER_BYTES + WRITE_IN_BYTES + MAX_WRITE;

type Reply = Buffer | null;

/** Counters for status and metrics. */
export interface SessionStats {
  requests: number;
  errors: number;
  writes: number;
  bytesWritten: number;
  reads: number;
  bytesRead: number;
}

/** See the module comment. */
export class FuseSession {
  readonly stats: SessionStats = {
    requests: 0,
    errors: 0,
    writes: 0,
    bytesWritten: 0,
    reads: 0,
    bytesRead: 0,
  };
  private stopped = false;
  private initialised = false;
  private endResolve: (() => void) | null = null;
  readonly ended: Promise<void>;
  /** 1 once stopped: the reader thread ends after its next read (reader-worker.ts). */
  private readonly stopFlag = new Int32Array(new SharedArrayBuffer(4));
  private exitedResolve: (() => void) | null = null;
  /** The reader thread has ended. */
  readonly exited: Promise<void>;
  /** A directory held open on the mount: closing it wakes the reader on stop. */
  private waker: FileHandle | null = null;

  constructor(
    private readonly fd: number,
    private readonly ctx: FsContext,
    private readonly onFatal: (err: Error) => void,
  ) {
    this.ended = new Promise((resolve) => {
      this.endResolve = resolve;
    });
    this.exited = new Promise((resolve) => {
      this.exitedResolve = resolve;
    });
  }

  /** True once the kernel's INIT was answered: the mount serves. */
  get serving(): boolean {
    return this.initialised && !this.stopped;
  }

  /** Starts the reader thread. */
  start(): void {
    const w = new Worker(new URL("./reader-worker.js", import.meta.url), {
      workerData: { fd: this.fd, bufferBytes: BUFFER_BYTES, stop: this.stopFlag },
    });
    w.on("exit", () => this.exitedResolve?.());
    w.on("message", (msg: { buf: ArrayBuffer; n: number } | { end: string }) => {
      if ("buf" in msg) {
        // Each request owns its buffer: writes may hand slices of it to the journal.
        if (msg.n >= IN_HEADER_BYTES) void this.handle(Buffer.from(msg.buf, 0, msg.n));
        return;
      }
      const clean = msg.end === "ENODEV" || msg.end === "STOPPED";
      this.finish(clean ? null : new Error(`reading /dev/fuse: ${msg.end}`));
    });
    w.on("error", (err) => this.finish(err));
    w.unref();
  }

  private finish(err: Error | null): void {
    if (this.stopped) return;
    this.stopped = true;
    if (err) this.onFatal(err);
    this.endResolve?.();
  }

  /**
   * Holds the mount's root directory open, so that stop() can wake the
   * reader (call once the mount is made; the open is answered by this
   * session, so it must not block this thread).
   */
  async holdWaker(mountPoint: string): Promise<void> {
    this.waker = await open(mountPoint, "r");
  }

  /**
   * Marks the session over and ends the reader thread: after an unmount
   * with an aborted connection its read ends with ENODEV; otherwise closing
   * the waker sends it a RELEASEDIR. Resolves when the thread has ended, or
   * after `timeoutMs` (ms) when it could not be woken.
   */
  async stop(timeoutMs = 5_000): Promise<boolean> {
    Atomics.store(this.stopFlag, 0, 1);
    this.finish(null);
    const waker = this.waker;
    this.waker = null;
    // Not awaited: with the reader gone, the close is answered only when the device closes.
    void waker?.close().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const ended = await Promise.race([this.exited.then(() => true as const), late]);
    clearTimeout(timer);
    return ended;
  }

  private handle(req: Buffer): Promise<void> | void {
    const h = decodeHeader(req);
    const body = req.subarray(IN_HEADER_BYTES, h.len);
    this.stats.requests += 1;
    if (h.opcode === Op.FORGET) {
      this.ctx.nodes.forget(h.nodeid, Number(body.readBigUInt64LE(0)));
      return;
    }
    if (h.opcode === Op.BATCH_FORGET) {
      const count = body.readUInt32LE(0);
      for (let i = 0; i < count; i++) {
        const at = 8 + i * 16;
        this.ctx.nodes.forget(
          Number(body.readBigUInt64LE(at)),
          Number(body.readBigUInt64LE(at + 8)),
        );
      }
      return;
    }
    if (h.opcode === Op.INTERRUPT) return; // every request is answered anyway, promptly
    let result: Reply | Promise<Reply>;
    try {
      result = this.dispatch(h, body);
    } catch (err) {
      this.replyError(h, err);
      return;
    }
    if (result instanceof Promise) {
      return result.then(
        (r) => this.reply(h, r),
        (err: unknown) => this.replyError(h, err),
      );
    }
    this.reply(h, result);
  }

  private dispatch(h: RequestHeader, body: Buffer): Reply | Promise<Reply> {
    const c = this.ctx;
    switch (h.opcode) {
      case Op.INIT:
        return this.init(body);
      case Op.DESTROY:
        return Buffer.alloc(0);
      case Op.LOOKUP:
        return names.lookup(c, h, body);
      case Op.GETATTR:
        return names.getattr(c, h, body);
      case Op.SETATTR:
        return names.setattr(c, h, body);
      case Op.READLINK:
        return names.readlink(c, h);
      case Op.SYMLINK:
        return names.symlink(c, h, body);
      case Op.MKNOD:
        return names.mknod(c, h, body);
      case Op.MKDIR:
        return names.mkdir(c, h, body);
      case Op.UNLINK:
        return names.unlink(c, h, body);
      case Op.RMDIR:
        return names.rmdir(c, h, body);
      case Op.RENAME:
        return names.rename(c, h, body, false);
      case Op.RENAME2:
        return names.rename(c, h, body, true);
      case Op.LINK:
        return names.link(c, h, body);
      case Op.OPEN:
        return files.open(c, h, body);
      case Op.CREATE:
        return files.create(c, h, body);
      case Op.READ: {
        const r = files.read(c, body);
        this.stats.reads += 1;
        this.stats.bytesRead += r.length;
        return r;
      }
      case Op.WRITE:
        this.stats.writes += 1;
        this.stats.bytesWritten += body.readUInt32LE(16);
        return files.write(c, body);
      case Op.FLUSH:
        return Buffer.alloc(0);
      case Op.RELEASE:
        return files.release(c, body);
      case Op.FSYNC:
        return files.fsyncFile(c, body);
      case Op.OPENDIR:
        return files.opendir(c, h);
      case Op.READDIR:
        return files.readdir(c, body);
      case Op.RELEASEDIR:
        return files.releasedir(c, body);
      case Op.FSYNCDIR:
        return files.fsyncdir(c, h);
      case Op.STATFS:
        return files.statfs(c);
      default:
        // xattrs, ACCESS (default_permissions checks in the kernel), fallocate,
        // lseek, locks, ioctl, poll: ENOSYS makes the kernel fall back or
        // answer EOPNOTSUPP; Node.js has no fallocate or xattr calls.
        throw names.errno("ENOSYS");
    }
  }

  private init(body: Buffer): Buffer {
    const offer = decodeInit(body);
    const want = InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.MAX_PAGES;
    this.initialised = true;
    return encodeInitOut({
      maxReadahead: offer.maxReadahead,
      flags: offer.flags & want,
      maxBackground: 64,
      maxWrite: MAX_WRITE,
      maxPages: MAX_WRITE / 4096,
    });
  }

  private reply(h: RequestHeader, body: Reply): void {
    if (body === null) return;
    this.send([encodeOutHeader(h.unique, 0, body.length), body]);
  }

  private replyError(h: RequestHeader, err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code ?? "EIO";
    const n = (osConstants.errno as Record<string, number>)[code] ?? osConstants.errno.EIO;
    if (code !== "ENOENT" && code !== "ENOSYS" && code !== "EEXIST") {
      this.stats.errors += 1;
      if (code === "EIO" || code === "ENOSPC" || !(code in osConstants.errno)) {
        this.ctx.logger.warn({ err, opcode: h.opcode }, "intercept: operation failed");
      }
    }
    this.send([encodeOutHeader(h.unique, -n, 0)]);
  }

  private send(parts: Buffer[]): void {
    try {
      writevSync(this.fd, parts);
    } catch (err) {
      // ENOENT: the request was interrupted and is gone; ENODEV: unmounted.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENODEV") {
        this.ctx.logger.error({ err }, "intercept: reply to the kernel failed");
      }
    }
  }
}
