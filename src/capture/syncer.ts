/**
 * Brings the journal in line with the filesystem for a set of paths: stats
 * each, reads and diffs what may have changed, detects renames by inode,
 * unlinks what vanished (once per subtree), and appends the records. The
 * filesystem side of the capture; the differ (differ.ts) decides the records.
 *
 * The in-memory tree is updated as records are queued. If an append fails
 * the tree is ahead of the journal: the caller must rebuild it (resync).
 */
import type { Stats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { isErrno } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import { type EntryKind, isAtOrBelow } from "../journal/records.js";
import type { CaptureCounters } from "./append-batch.js";
import { headRecords, nextEntry, type Observed, tailRecords } from "./differ.js";
import { FileCapture, type FileVisit, RACY_MS } from "./file-capture.js";
import { InlineIo } from "./inline-io.js";
import { type KnownTree, parentOf } from "./known-tree.js";
import type { FileReader } from "./reader.js";
import type { SourceMap } from "./sources.js";
import { Pass, type SyncOptions, type SyncResult } from "./sync-pass.js";

export {
  BATCH_FLUSH_BYTES,
  type CaptureCounters,
  newCounters,
} from "./append-batch.js";
export { RACY_MS } from "./file-capture.js";
export type { SyncOptions, SyncResult } from "./sync-pass.js";

/**
 * How long the event path holds back the unlink of a vanished path, waiting
 * for the other half of a rename to show up (polling finds the new path one
 * poll interval or more later; one pass was not always enough). Checkpoints
 * do not wait for it: settle() passes run with deferVanish off.
 */
export const VANISH_HOLD_MS = 1500;

/**
 * Files read at once by one pass (each with its own 2 MiB of read windows):
 * small files are bound by syscall round trips through libuv's 4 threads,
 * so a few reads in flight per thread keep them busy.
 */
export const DEFAULT_READ_CONCURRENCY = 8;

/** Options of a Syncer. */
export interface SyncerOptions {
  readonly journal: Journal;
  readonly sources: SourceMap;
  readonly reader: FileReader;
  readonly tree: KnownTree;
  readonly counters: CaptureCounters;
  /** Files read at once (DEFAULT_READ_CONCURRENCY); 1 = one at a time. */
  readonly readConcurrency?: number;
  /** False: every call through the thread pool, none synchronous (inline-io.ts). Default true. */
  readonly inlineIo?: boolean;
}

function kindOf(st: Stats): EntryKind | null {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  return null; // sockets, fifos, devices: not captured
}

function isGone(err: unknown): boolean {
  return isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR");
}

/** See the module comment. Not re-entrant: the capture runs one pass at a time. */
export class Syncer {
  tree: KnownTree;
  private readonly journal: Journal;
  private readonly sources: SourceMap;
  private readonly counters: CaptureCounters;
  private readonly readers: FileReader[];
  /** Whether calls may be synchronous right now (shared by passes: a slow filesystem stays slow). */
  readonly inline: InlineIo;
  private readonly files: FileCapture;
  /** Vanished paths whose unlink is held back, with when it first vanished (see SyncOptions.deferVanish). */
  private readonly deferred = new Map<string, number>();

  constructor(opts: SyncerOptions) {
    this.journal = opts.journal;
    this.sources = opts.sources;
    this.tree = opts.tree;
    this.counters = opts.counters;
    this.readers = [opts.reader];
    for (let i = 1; i < (opts.readConcurrency ?? DEFAULT_READ_CONCURRENCY); i++)
      this.readers.push(opts.reader.fork());
    this.inline = new InlineIo(opts.inlineIo ?? true);
    this.files = new FileCapture({
      journal: this.journal,
      counters: this.counters,
      tree: () => this.tree,
      inline: this.inline,
      // Its own reader: a task's read windows may be mid-read when a small file is read inline.
      inlineReader: opts.reader.fork(),
    });
  }

  /** Syncs `paths` (journal paths), parents before children; appends before resolving. */
  async sync(paths: Iterable<string>, opts: SyncOptions): Promise<SyncResult> {
    const pass = new Pass(
      opts,
      this.journal,
      this.counters,
      this.readers,
      (p) => this.sources.toAbs(p),
      this.inline,
    );
    try {
      for (const p of [...new Set(paths)].sort().reverse()) pass.enqueue(p);
      for (let p = pass.next(); p !== undefined; p = pass.next()) {
        await this.visit(pass, p);
        await this.inline.maybeYield();
        if (opts.shouldYield?.()) pass.yieldRest();
      }
      await pass.drain();
      await this.unlinkVanished(pass);
      await pass.batch.flush();
    } finally {
      pass.close();
      // A failed pass must not leave reads running into the next one.
      await pass.drain().catch(() => undefined);
    }
    return pass.result;
  }

  private async visit(pass: Pass, path: string): Promise<void> {
    if (pass.done.has(path)) {
      pass.forget(path);
      return;
    }
    pass.done.add(path);
    const parent = parentOf(path);
    // A path whose directory is unknown (its event was missed) brings the directory first.
    if (parent !== null && !this.tree.has(parent)) await this.visit(pass, parent);
    try {
      await this.visitOne(pass, path);
    } catch (err) {
      this.failedVisit(pass, path, err);
    } finally {
      this.files.release();
    }
    this.counters.visited += 1;
    pass.opts.onVisit?.();
  }

  /** A visit (or its read task) failed: a journal failure ends the pass, anything else is noted. */
  private failedVisit(pass: Pass, path: string, err: unknown): void {
    if (pass.batch.failed) throw err;
    if (isGone(err)) pass.vanished.push(path);
    else pass.result.failures.push({ path, error: err });
  }

  private async visitOne(pass: Pass, path: string): Promise<void> {
    const { batch } = pass;
    const tracked = this.tree.get(path);
    if (this.sources.isIgnored(path)) {
      if (tracked) pass.vanished.push(path);
      return;
    }
    const abs = this.sources.toAbs(path);
    const opened =
      pass.regular.delete(path) && tracked === undefined ? this.files.openFirst(abs) : null;
    if (opened) pass.forget(path);
    let st: Stats;
    try {
      st = opened ?? (await pass.lstatOf(path));
    } catch (err) {
      if (!isGone(err)) throw err;
      if (tracked || this.tree.subtree(path).length > 0) pass.vanished.push(path);
      return;
    }
    const kind = kindOf(st);
    if (kind === null) {
      if (tracked) pass.vanished.push(path);
      return;
    }
    this.deferred.delete(path);
    let known = tracked ?? null;
    let same =
      known !== null &&
      known.kind === kind &&
      (known.ino === undefined || (known.ino === st.ino && known.dev === st.dev));
    let renamed = false;
    // Renames and replacements move or remove other paths: no read may be in flight.
    if (!same && (known !== null || this.tree.pathOfInode(st.dev, st.ino) !== undefined))
      await pass.drain();
    if (!same) {
      const from = await this.renameSource(path, kind, st);
      if (from !== null) {
        batch.add([{ type: "rename", from, to: path }]);
        this.tree.moveTree(from, path);
        // What the tree moved may hold paths whose unlink is still held back
        // under their old names: walk the moved subtree against the disk.
        if (kind === "dir") pass.walkBelow(path);
        this.deferred.delete(from);
        this.counters.renames += 1;
        known = this.tree.get(path)!;
        same = true;
        renamed = true;
      }
    }
    const replacing = known !== null && !same;
    const fresh = !same;
    const mode = st.mode & 0o7777;
    const ids = { dev: st.dev, ino: st.ino, ctimeMs: st.ctimeMs };

    if (kind !== "file") {
      const obs: Observed =
        kind === "symlink"
          ? { kind, mode, mtimeMs: st.mtimeMs, size: 0, target: await readlink(abs) }
          : { kind, mode, mtimeMs: st.mtimeMs, size: 0 };
      const fileId = fresh ? this.journal.allocateFileId() : known!.fileId;
      batch.add(headRecords(path, known, obs, fileId, replacing));
      batch.add(tailRecords(fresh ? null : known, obs, fileId, fresh));
      const changed =
        fresh || renamed || known!.mtimeMs !== st.mtimeMs || known!.ctimeMs !== st.ctimeMs;
      if (replacing) this.tree.removeTree(path);
      this.tree.set(path, { ...nextEntry(fileId, obs, []), ...ids, readAt: Date.now() });
      if (kind === "dir" && (pass.walks(path) || changed)) await this.listChildren(pass, path, abs);
      return;
    }

    const racy =
      known !== null &&
      st.mtimeMs >= known.readAt - RACY_MS &&
      !(pass.opts.freshSince !== undefined && known.readAt >= pass.opts.freshSince);
    const mustRead =
      fresh ||
      renamed ||
      racy ||
      known!.size !== st.size ||
      known!.mtimeMs !== st.mtimeMs ||
      (known!.ctimeMs !== undefined && known!.ctimeMs !== st.ctimeMs);
    if (!mustRead) {
      const obs: Observed = { kind, mode, mtimeMs: st.mtimeMs, size: st.size };
      batch.add(tailRecords(known, obs, known!.fileId, false));
      this.tree.set(path, { ...known!, mode, ...ids });
      return;
    }
    const read: FileVisit = { path, abs, st, known, fresh, replacing, mode };
    if (this.files.readInline(pass, read)) {
      await pass.flushBehind();
      return;
    }
    if (replacing) {
      await this.files.read(pass, this.readers[0]!, read);
      return;
    }
    await pass.spawn(
      (reader) => this.files.read(pass, reader, read),
      (err) => this.failedVisit(pass, path, err),
    );
  }

  /**
   * The tracked path this inode lived at, if that path no longer holds it:
   * then `path` is its new name (same source, same kind). Hard links (the old
   * name still holds the inode) are captured as independent files.
   */
  private async renameSource(path: string, kind: EntryKind, st: Stats): Promise<string | null> {
    const from = this.tree.pathOfInode(st.dev, st.ino);
    if (from === undefined || from === path) return null;
    if (this.sources.sourceOf(from) !== this.sources.sourceOf(path)) return null;
    if (this.tree.get(from)?.kind !== kind) return null;
    if (isAtOrBelow(path, from) || isAtOrBelow(from, path)) return null;
    try {
      const old = await lstat(this.sources.toAbs(from));
      return old.ino === st.ino && old.dev === st.dev ? null : from;
    } catch (err) {
      if (isGone(err)) return from;
      throw err;
    }
  }

  /** Queues new children (all children when walking) and tracked children that are no longer listed. */
  private async listChildren(pass: Pass, path: string, abs: string): Promise<void> {
    // Entry types only while calls are inline: where the filesystem gives
    // no d_type, Node lstat's every entry to find it (through the pool).
    const entries = this.inline.on
      ? await readdir(abs, { withFileTypes: true })
      : (await readdir(abs)).map((name) => ({ name, isFile: () => false }));
    const walk = pass.walks(path);
    const listed = new Set<string>();
    for (const e of entries) {
      const child = `${path}/${e.name}`;
      if (this.sources.isIgnored(child)) continue;
      listed.add(child);
      if (!walk && this.tree.has(child)) continue;
      pass.enqueue(child);
      if (e.isFile()) pass.regular.add(child);
    }
    for (const c of this.tree.childrenOf(path)) if (!listed.has(c)) pass.enqueue(c);
  }

  /** One unlink per vanished subtree (the topmost vanished ancestor), parents first. */
  private async unlinkVanished(pass: Pass): Promise<void> {
    const roots = new Set(this.sources.roots());
    const heldBack = new Set<string>();
    for (const p of [...new Set(pass.vanished)].sort()) {
      if (!this.tree.has(p) && this.tree.subtree(p).length === 0) continue;
      if (roots.has(p)) {
        pass.result.failures.push({
          path: p,
          error: new Error(`source root of "${p}" is missing (unmounted?)`),
        });
        continue;
      }
      let top = p;
      for (;;) {
        const parent = parentOf(top);
        if (parent === null || roots.has(parent) || !this.tree.has(parent)) break;
        if (await this.exists(parent)) break;
        top = parent;
      }
      if (heldBack.has(top)) continue;
      const since = this.deferred.get(top);
      if (pass.opts.deferVanish && (since === undefined || Date.now() - since < VANISH_HOLD_MS)) {
        if (since === undefined) this.deferred.set(top, Date.now());
        heldBack.add(top);
        pass.result.again.push(top);
        continue;
      }
      this.deferred.delete(top);
      pass.batch.add([{ type: "unlink", path: top }]);
      this.tree.removeTree(top);
      this.counters.unlinks += 1;
    }
  }

  private async exists(path: string): Promise<boolean> {
    try {
      await lstat(this.sources.toAbs(path));
      return true;
    } catch (err) {
      if (isGone(err)) return false;
      throw err;
    }
  }
}
