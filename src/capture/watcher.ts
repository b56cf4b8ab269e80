/**
 * The capture's watcher: turns every event into "this path (and its
 * directory, whose mtime moved) is dirty". An event is a hint that starts a
 * re-read, never a description of the change.
 *
 * Two implementations, chosen by `usePolling`:
 * - native (default): one inotify watch per directory (dir-watcher.ts).
 *   chokidar adds an fs.watch per file as well (101k watches, ~260 MiB at
 *   100k files) and suppresses events ~50 ms after one (design.md), so it is
 *   not used for inotify;
 * - polling (network filesystems, where inotify sees nothing): chokidar's
 *   fs.watchFile polling, which is what it is good at. This is the only
 *   module that imports chokidar.
 */
import { basename, dirname, isAbsolute, join } from "node:path";
import { type FSWatcher, watch } from "chokidar";
import { DirWatcher } from "./dir-watcher.js";

/** Options of a Watcher. */
export interface WatcherOptions {
  /** Absolute directories to watch (the source roots). */
  readonly roots: readonly string[];
  /** Poll instead of inotify (network filesystems). */
  readonly usePolling: boolean;
  /** Poll interval in ms when polling. */
  readonly pollInterval: number;
  /** True for absolute paths that must not be watched (ignore globs). */
  readonly ignored: (absPath: string) => boolean;
  readonly onDirty: (absPath: string) => void;
  readonly onError: (err: Error) => void;
  /** Events may have been lost (native mode only; polling never promises events). */
  readonly onGap?: (reason: string) => void;
}

/** A started watcher over the source roots. */
export class Watcher {
  private constructor(
    private readonly fsw: FSWatcher | null,
    private readonly dirs: DirWatcher | null,
  ) {}

  /**
   * True when an event reaches the capture for every change made through the
   * kernel's write paths since `gapsSeen` (compare with `gaps`): native mode,
   * every directory watched. Polling sees changes only at its interval and
   * misses same-second rewrites, so it never is.
   */
  trusted(gapsSeen: number): boolean {
    return this.dirs?.complete === true && this.dirs.gaps === gapsSeen;
  }

  /** Moments events may have been lost so far (monotonic; 0 when polling). */
  get gaps(): number {
    return this.dirs?.gaps ?? 0;
  }

  /** Resolves once directories that appeared so far are watched (native mode). */
  async caughtUp(): Promise<void> {
    await this.dirs?.caughtUp();
  }

  /** Starts watching; resolves once every watch is set up. */
  static async start(opts: WatcherOptions): Promise<Watcher> {
    if (!opts.usePolling) {
      const dirs = await DirWatcher.start({
        roots: opts.roots,
        ignored: opts.ignored,
        onDirty: opts.onDirty,
        onError: opts.onError,
        ...(opts.onGap ? { onGap: opts.onGap } : {}),
      });
      return new Watcher(null, dirs);
    }
    const roots = new Set(opts.roots);
    const fsw = watch([...opts.roots], {
      persistent: true,
      ignoreInitial: true,
      followSymlinks: false,
      usePolling: opts.usePolling,
      interval: opts.pollInterval,
      binaryInterval: opts.pollInterval,
      atomic: false,
      awaitWriteFinish: false,
      ignorePermissionErrors: true,
      ignored: (p: string) => !roots.has(p) && opts.ignored(p),
    });
    fsw.on("all", (_event, path) => {
      opts.onDirty(path);
      if (!roots.has(path)) opts.onDirty(dirname(path));
    });
    // chokidar's own events miss some changes (a new symlink with followSymlinks
    // off, writes to a just-created file): the raw fs.watch / fs.watchFile
    // notifications mark the watched path and the named entry dirty too.
    fsw.on("raw", (_event, name, details) => {
      const watched = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
      if (typeof watched !== "string") {
        // polling (fs.watchFile): `name` is the absolute path whose stat changed
        if (typeof name === "string" && isAbsolute(name)) opts.onDirty(name);
        return;
      }
      opts.onDirty(watched);
      if (typeof name === "string" && name !== "" && basename(watched) !== name)
        opts.onDirty(join(watched, name));
    });
    fsw.on("error", (err) => opts.onError(err instanceof Error ? err : new Error(String(err))));
    await new Promise<void>((resolve) => fsw.once("ready", () => resolve()));
    return new Watcher(fsw, null);
  }

  /** Stops every watch. Idempotent. */
  async close(): Promise<void> {
    await this.fsw?.close();
    await this.dirs?.close();
  }
}
