/**
 * The journal's one cache of open segment descriptors: a bounded LRU with a
 * reference count per entry, so eviction never closes a descriptor a read is
 * still using (the last release closes it instead).
 */
import { closeSync, openSync } from "node:fs";
import { closeFd, openFd } from "../util/fd.js";

/**
 * Default bound on cached read descriptors. 64: a restore or the stream reads
 * one segment at a time in seq order and a blob lookup touches the few
 * segments its blocks live in, so 64 covers 4 GiB of hot journal (64 MiB
 * segments) while staying far below the common soft RLIMIT_NOFILE of 1024,
 * which the intercept mode also spends on the application's open files.
 */
export const DEFAULT_MAX_READ_HANDLES = 64;

/** A descriptor held for one read; call release() exactly once when done. */
export interface ReadLease {
  readonly fd: number;
  release(): void;
}

interface Entry {
  /** Set once open() finished; undefined while opening. */
  fd: number | undefined;
  opening: Promise<number> | undefined;
  refs: number;
  /** Dropped from the cache (evicted or invalidated) while in use: close at the last release. */
  dropped: boolean;
}

/** What a descriptor is cached under: a key unique per open file (segment-readers.ts uses id and file name). */
type Key = string | number;

/** Bounded LRU of read-only descriptors. */
export class ReadHandles {
  private readonly entries = new Map<Key, Entry>();
  /** Entries clear() dropped while a read still held them. */
  private readonly draining = new Set<Entry>();
  /** The key last moved to (or inserted at) the end of `entries`. */
  private mru: Key | undefined;

  constructor(private readonly max = DEFAULT_MAX_READ_HANDLES) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be >= 1, got ${max}`);
  }

  /** Descriptors open right now, cached or held by a read (tests and status). */
  get openCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.fd !== undefined) n++;
    for (const e of this.draining) if (e.fd !== undefined) n++;
    return n;
  }

  /** Leases the descriptor of `key`, opening `path` (read-only) when it is not cached. */
  async acquire(key: Key, path: string): Promise<ReadLease> {
    let e = this.touch(key);
    if (!e) {
      e = { fd: undefined, opening: undefined, refs: 0, dropped: false };
      const entry = e;
      e.opening = openFd(path, "r");
      this.entries.set(key, e);
      this.mru = key;
      e.opening.then(
        (fd) => {
          entry.fd = fd;
          entry.opening = undefined;
          // Dropped while opening with nobody waiting: nothing will release it.
          if (entry.dropped && entry.refs === 0) closeSync(fd);
        },
        () => {
          if (this.entries.get(key) === entry) this.entries.delete(key);
        },
      );
    }
    const entry = e;
    entry.refs++;
    try {
      const fd = entry.fd ?? (await entry.opening!);
      return this.lease(entry, fd);
    } catch (err) {
      entry.refs--;
      throw err;
    }
  }

  /** acquire() without the thread pool; a descriptor still being opened is not waited for. */
  acquireSync(key: Key, path: string): ReadLease {
    let e = this.touch(key);
    if (e && e.fd === undefined) {
      // An async open of this key is in flight: read on a private descriptor.
      const fd = openSync(path, "r");
      return { fd, release: () => closeSync(fd) };
    }
    if (!e) {
      e = { fd: openSync(path, "r"), opening: undefined, refs: 0, dropped: false };
      this.entries.set(key, e);
      this.mru = key;
    }
    e.refs++;
    return this.lease(e, e.fd!);
  }

  /** Drops every cached descriptor; ones in use close when their last read releases them. */
  async clear(): Promise<void> {
    const pending: Promise<unknown>[] = [];
    for (const e of this.entries.values()) {
      e.dropped = true;
      if (e.refs > 0) {
        this.draining.add(e);
        continue;
      }
      if (e.fd !== undefined) pending.push(closeAsync(e.fd));
      // Still opening with no reader: the open's own callback closes it.
    }
    this.entries.clear();
    await Promise.all(pending);
  }

  private lease(e: Entry, fd: number): ReadLease {
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      e.refs--;
      if (e.refs > 0) return;
      if (e.dropped) {
        this.draining.delete(e);
        closeSync(fd);
        return;
      }
      this.trim();
    };
    this.trim();
    return { fd, release };
  }

  /** Moves `key` to the most recently used end. */
  private touch(key: Key): Entry | undefined {
    const e = this.entries.get(key);
    // A restore reads thousands of blocks in a row from one segment: a key
    // already at the end stays there without a delete and re-insert.
    if (e && key !== this.mru) {
      this.entries.delete(key);
      this.entries.set(key, e);
      this.mru = key;
    }
    return e;
  }

  /** Evicts least recently used idle descriptors until the bound holds (or only busy ones remain). */
  private trim(): void {
    if (this.entries.size <= this.max) return;
    for (const [key, e] of this.entries) {
      if (this.entries.size <= this.max) return;
      if (e.refs > 0 || e.fd === undefined) continue;
      this.entries.delete(key);
      closeSync(e.fd);
    }
  }
}

/** Closes without failing: a descriptor the cache drops has nothing left to report to. */
function closeAsync(fd: number): Promise<void> {
  return closeFd(fd).catch(() => undefined);
}
