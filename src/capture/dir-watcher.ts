/**
 * One inotify watch per directory, through node:fs `watch` (non-recursive):
 * the kernel reports every change to a directory's entries and to the files
 * in it on the directory's watch, so memory and setup scale with the number
 * of directories, not files (chokidar adds a watch per file: 101k watches and
 * ~260 MiB at 100k files). Like every watcher here it only says "this path is
 * dirty"; the syncer finds out what changed.
 *
 * New directories (created or moved in) get a watch, and every entry below
 * them is marked dirty once the watch is up, so nothing written between the
 * mkdir/rename and the watch is missed. Directories that go away lose theirs.
 * inotify follows an inode, so a renamed directory's old watch would report
 * under the old name: it is closed and the new name watched afresh.
 *
 * What cannot be seen is counted: a watch that could not be added (inotify
 * watch limit, permissions) leaves the watcher incomplete; an event-loop stall
 * long enough that the kernel queue (fs.inotify.max_queued_events, 16384) may
 * have overflowed, which libuv drops silently, is a gap. The capture walks
 * everything on the next settle after either.
 */
import { type Dirent, type FSWatcher, watch } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { isErrno } from "../errors.js";

/** An event loop this late (ms) may have let the kernel's inotify queue overflow. */
export const STALL_GAP_MS = 1_000;
/** How often the stall detector looks (ms). */
const STALL_PROBE_MS = 250;

/** Options of a DirWatcher. */
export interface DirWatcherOptions {
  readonly roots: readonly string[];
  readonly ignored: (absPath: string) => boolean;
  readonly onDirty: (absPath: string) => void;
  readonly onError: (err: Error) => void;
  /** Called when events may have been lost (a gap); the reason is for the log. */
  readonly onGap?: (reason: string) => void;
}

interface DirWatch {
  readonly w: FSWatcher;
  readonly ino: number;
}

/** See the module comment. */
export class DirWatcher {
  private readonly watches = new Map<string, DirWatch>();
  /** Directories that could not be watched (their changes are only seen by walks). */
  private readonly unwatched = new Set<string>();
  private readonly roots: Set<string>;
  /** Watches being added for directories that just appeared. */
  private readonly pending = new Set<Promise<void>>();
  private gapCount = 0;
  private probe: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(private readonly opts: DirWatcherOptions) {
    this.roots = new Set(opts.roots);
  }

  /** Watches every directory below the roots; resolves once all watches are up. */
  static async start(opts: DirWatcherOptions): Promise<DirWatcher> {
    const dw = new DirWatcher(opts);
    for (const r of opts.roots) await dw.addTree(r, false);
    let last = Date.now();
    dw.probe = setInterval(() => {
      const now = Date.now();
      const late = now - last - STALL_PROBE_MS;
      last = now;
      if (late > STALL_GAP_MS) dw.gap(`event loop stalled ${late} ms`);
    }, STALL_PROBE_MS);
    dw.probe.unref();
    return dw;
  }

  /** Events possibly lost so far (monotonic). */
  get gaps(): number {
    return this.gapCount;
  }

  /** True when every directory seen has a watch. */
  get complete(): boolean {
    return this.unwatched.size === 0;
  }

  /** Number of directories watched. */
  get size(): number {
    return this.watches.size;
  }

  /** Resolves once the watches of directories that appeared so far are up (their entries marked). */
  async caughtUp(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** Closes every watch. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
    for (const d of this.watches.values()) d.w.close();
    this.watches.clear();
  }

  private gap(reason: string): void {
    this.gapCount += 1;
    this.opts.onGap?.(reason);
  }

  /** Watches `dir` and every directory below it; with `markAll`, every entry found is dirty. */
  private async addTree(dir: string, markAll: boolean): Promise<void> {
    const stack = [dir];
    while (stack.length > 0 && !this.closed) {
      const d = stack.pop()!;
      if (!this.roots.has(d) && this.opts.ignored(d)) continue;
      let ino: number;
      try {
        ino = (await lstat(d)).ino;
        if (!this.watchOne(d, ino)) continue;
      } catch (err) {
        if (!isErrno(err, "ENOENT") && !isErrno(err, "ENOTDIR")) this.cannotWatch(d, err);
        continue;
      }
      if (markAll) this.opts.onDirty(d);
      let entries: Dirent[];
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch (err) {
        if (!isErrno(err, "ENOENT") && !isErrno(err, "ENOTDIR")) this.cannotWatch(d, err);
        continue;
      }
      for (const e of entries) {
        const p = join(d, e.name);
        if (e.isDirectory()) stack.push(p);
        else if (markAll && !this.opts.ignored(p)) this.opts.onDirty(p);
      }
    }
  }

  /** Adds the watch of one directory; false when it already has one for the same inode. */
  private watchOne(dir: string, ino: number): boolean {
    const had = this.watches.get(dir);
    if (had?.ino === ino) return false;
    if (had) this.removeTree(dir);
    const w = watch(dir, { persistent: true }, (event, name) => this.onEvent(dir, event, name));
    w.on("error", () => {
      // The directory went away (or its watch broke): its parent's watch reports the rest.
      this.opts.onDirty(dir);
      if (this.watches.get(dir)?.w === w) this.removeTree(dir);
    });
    this.watches.set(dir, { w, ino });
    this.unwatched.delete(dir);
    return true;
  }

  private cannotWatch(dir: string, err: unknown): void {
    if (!this.unwatched.has(dir)) {
      this.unwatched.add(dir);
      this.gap(`cannot watch ${dir}`);
      this.opts.onError(
        new Error(`cannot watch ${dir}: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        }),
      );
    }
  }

  /** Closes the watches of `dir` and every directory below it. */
  private removeTree(dir: string): void {
    const prefix = `${dir}/`;
    for (const [d, w] of this.watches) {
      if (d === dir || d.startsWith(prefix)) {
        w.w.close();
        this.watches.delete(d);
      }
    }
    for (const d of this.unwatched) if (d === dir || d.startsWith(prefix)) this.unwatched.delete(d);
  }

  private onEvent(dir: string, event: string, name: string | Buffer | null): void {
    if (this.closed) return;
    this.opts.onDirty(dir);
    if (name === null || name === "") {
      // No name: something in the directory changed; only a walk can tell what.
      this.gap(`event without a name in ${dir}`);
      return;
    }
    const child = join(dir, name.toString());
    if (this.opts.ignored(child)) return;
    this.opts.onDirty(child);
    // Entries come and go with "rename"; a directory among them needs its watch added or dropped.
    if (event === "rename") {
      const p = this.recheckDir(child).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  private async recheckDir(path: string): Promise<void> {
    try {
      const st = await lstat(path);
      if (this.closed) return;
      if (st.isDirectory()) {
        if (this.watches.get(path)?.ino !== st.ino) await this.addTree(path, true);
      } else if (this.watches.has(path)) this.removeTree(path);
    } catch (err) {
      if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) {
        if (this.watches.has(path) || this.unwatched.has(path)) this.removeTree(path);
      } else this.opts.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
