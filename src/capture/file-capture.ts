/**
 * One file whose contents may have changed, for a sync pass: read (by a
 * pass task's FileReader through the thread pool, or, small and while the
 * filesystem answers fast, with synchronous calls: inline-io.ts), diffed
 * against what the tree knows, its records queued and its entry tracked.
 */
import type { Stats } from "node:fs";
import { closeSync } from "node:fs";
import type { Journal } from "../journal/journal.js";
import type { CaptureCounters } from "./append-batch.js";
import {
  type BlockBaseline,
  blockRecords,
  EMPTY_BASELINE,
  headRecords,
  nextEntry,
  type Observed,
  tailRecords,
} from "./differ.js";
import { INLINE_READ_BYTES, type InlineIo } from "./inline-io.js";
import { type KnownTree, type Tracked, unpackHashes } from "./known-tree.js";
import { type FileRead, type FileReader, type OpenedFile, openRegularSync } from "./reader.js";
import type { Pass } from "./sync-pass.js";

/**
 * A file whose mtime is within this many ms of the moment it was read may
 * have been written again in the same timestamp tick (coarse kernel clock,
 * 1-10 ms; 50 ms leaves room for clock steps): it is "racily clean" and read again.
 */
export const RACY_MS = 50;

/** A file whose contents may have changed, as the syncer's visit found it. */
export interface FileVisit {
  readonly path: string;
  readonly abs: string;
  readonly st: Stats;
  readonly known: Tracked | null;
  readonly fresh: boolean;
  readonly replacing: boolean;
  readonly mode: number;
}

/** The block baseline of a tracked path (empty unless a file). */
function baselineOf(known: Tracked | null): BlockBaseline {
  if (known?.kind !== "file") return EMPTY_BASELINE;
  return { size: known.size, blocks: unpackHashes(known.hashes) };
}

/** What FileCapture works with; `tree` is asked each time (a resync replaces it). */
export interface FileCaptureDeps {
  readonly journal: Journal;
  readonly counters: CaptureCounters;
  readonly tree: () => KnownTree;
  readonly inline: InlineIo;
  /** Used for synchronous reads only (a task's windows may be mid-read meanwhile). */
  readonly inlineReader: FileReader;
}

/** See the module comment. */
export class FileCapture {
  /** The file openFirst opened for the visit under way, until readInline takes it or release closes it. */
  private held: { readonly abs: string; readonly file: OpenedFile } | null = null;

  constructor(private readonly d: FileCaptureDeps) {}

  /**
   * For a path the directory listing says is a regular file and the tree
   * does not know (it will be read: the first scan's every file), opens it
   * and returns its fstat, which stands for the visit's lstat: one path
   * lookup saved per file (lookups were the largest syscall cost of the
   * scan). Null when calls go through the pool, or the path is not a small
   * regular file now: the visit lstat's it. What it opened is read by
   * readInline or closed by release (the syncer calls it after every visit).
   */
  openFirst(abs: string): Stats | null {
    this.release();
    if (!this.d.inline.on) return null;
    const file = this.d.inline.timed(() => openRegularSync(abs));
    if (file === null) return null;
    if (file.st.size > INLINE_READ_BYTES) {
      closeSync(file.fd);
      return null;
    }
    this.held = { abs, file };
    return file.st;
  }

  /** Closes what openFirst opened and readInline did not take. */
  release(): void {
    if (this.held) closeSync(this.held.file.fd);
    this.held = null;
  }

  /** Reads, diffs and queues one file whose contents may have changed (see Syncer.visitOne). */
  async read(pass: Pass, reader: FileReader, f: FileVisit): Promise<void> {
    const { batch } = pass;
    const fileId = f.fresh ? this.d.journal.allocateFileId() : f.known!.fileId;
    const queueHead = this.headQueue(pass, f, fileId);
    const res = await reader.read(
      f.abs,
      f.fresh ? EMPTY_BASELINE : baselineOf(f.known),
      async (blocks) => {
        queueHead();
        for (const b of blocks) batch.add(blockRecords(fileId, b));
        await batch.flush();
      },
    );
    if (res.vanished) this.readVanished(pass, f);
    else this.queueRead(pass, f, fileId, queueHead, res);
    await batch.maybeFlush();
  }

  /**
   * `read` with synchronous calls (inline-io.ts), for a small file while the
   * filesystem answers fast. False when it does not apply (a replacement, a
   * large file, calls go through the pool for now) or the file turned out
   * larger once opened: nothing was queued, read it with `read`.
   */
  readInline(pass: Pass, f: FileVisit): boolean {
    if (f.replacing || f.st.size > INLINE_READ_BYTES || !this.d.inline.on) return false;
    const base = f.fresh ? EMPTY_BASELINE : baselineOf(f.known);
    const opened = this.held?.abs === f.abs ? this.held.file : undefined;
    this.held = null; // readSync closes it
    const res = this.d.inline.timed(() =>
      this.d.inlineReader.readSync(f.abs, base, INLINE_READ_BYTES, opened),
    );
    if (res === null) return false;
    if (res.vanished) {
      this.readVanished(pass, f);
      return true;
    }
    const fileId = f.fresh ? this.d.journal.allocateFileId() : f.known!.fileId;
    this.queueRead(pass, f, fileId, this.headQueue(pass, f, fileId), res);
    return true;
  }

  /** Queues a file's head records once (before its first blocks, or with its tail). */
  private headQueue(pass: Pass, f: FileVisit, fileId: number): () => void {
    const head = headRecords(
      f.path,
      f.known,
      { kind: "file", mode: f.mode, mtimeMs: f.st.mtimeMs, size: f.st.size },
      fileId,
      f.replacing,
    );
    let queued = false;
    return () => {
      if (queued) return;
      queued = true;
      if (f.replacing) this.d.tree().removeTree(f.path);
      pass.batch.add(head);
    };
  }

  /** Gone, or no longer a regular file, when opened: look again (a delete or a replacement). */
  private readVanished(pass: Pass, f: FileVisit): void {
    if (f.known) pass.vanished.push(f.path);
    else pass.result.again.push(f.path);
  }

  /** Queues the records of a file read to the end and tracks what was read. */
  private queueRead(
    pass: Pass,
    f: FileVisit,
    fileId: number,
    queueHead: () => void,
    res: FileRead,
  ): void {
    const { batch } = pass;
    const { path, known, fresh } = f;
    queueHead();
    const obs: Observed = {
      kind: "file",
      mode: res.stat.mode & 0o7777,
      mtimeMs: res.stat.mtimeMs,
      size: res.size,
    };
    for (const b of res.pending) batch.add(blockRecords(fileId, b));
    batch.add(tailRecords(fresh ? null : known, obs, fileId, fresh));
    this.d.tree().set(path, {
      ...nextEntry(fileId, obs, res.hashes),
      dev: res.stat.dev,
      ino: res.stat.ino,
      ctimeMs: res.stat.ctimeMs,
      // Captured while it kept changing: never trust its stat again until a stable read.
      readAt: res.stable ? res.readAt : Number.NEGATIVE_INFINITY,
    });
    this.d.counters.filesRead += 1;
    this.d.counters.bytesRead += res.size;
    if (!res.stable || res.identityChanged) pass.result.again.push(path);
    else if (obs.mtimeMs >= res.readAt - RACY_MS) pass.result.racy.push(path);
  }
}
