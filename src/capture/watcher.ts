/**
 * The only module that imports chokidar. Turns every event into "this path
 * (and its directory, whose mtime moved) is dirty". chokidar drops writes
 * that follow another within ~50 ms (design.md), so an event is a hint that
 * starts a re-read, never a description of the change.
 */
import { basename, dirname, isAbsolute, join } from "node:path";
import { type FSWatcher, watch } from "chokidar";

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
}

/** A started chokidar watcher over the source roots. */
export class Watcher {
  private constructor(private readonly fsw: FSWatcher) {}

  /** Starts watching; resolves once chokidar has set up every watch ("ready"). */
  static async start(opts: WatcherOptions): Promise<Watcher> {
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
    return new Watcher(fsw);
  }

  /** Stops every watch. Idempotent. */
  async close(): Promise<void> {
    await this.fsw.close();
  }
}
