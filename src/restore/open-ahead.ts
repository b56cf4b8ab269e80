/**
 * Opens the files of a materialisation ahead of the writer, in libuv's
 * thread pool. Creating a file is the main cost of a small-file restore
 * (a CPU profile of 2000 files: `openSync(path, "w")` took 1.1-1.2 s of
 * 1.5-2.0 s, ~0.55 ms each, in the kernel's directory and inode code): with
 * AHEAD creations in flight on the pool threads, the event loop decodes,
 * checks and writes the current file on the other core meanwhile.
 *
 * Files are opened as writeTask opens them (openFlags). Every descriptor
 * handed out is the caller's to close; `close()` closes those opened ahead
 * and never taken.
 */
import { closeFd, openFd } from "../util/fd.js";
import { type FileTask, openFlags } from "./write-files.js";

/** Creations in flight ahead of the writer: enough to keep the 4 pool threads busy. */
export const AHEAD = 8;

type Pending = Promise<number>;

export class OpenAhead {
  private readonly pending = new Map<number, Pending>();
  private next = 0;

  constructor(
    private readonly tasks: readonly FileTask[],
    private readonly ahead = AHEAD,
  ) {}

  /** The descriptor of task `i` (taken in order, once each); starts the next opens. */
  async take(i: number): Promise<number> {
    this.fill(i);
    const p = this.pending.get(i)!;
    this.pending.delete(i);
    this.fill(i + 1);
    return p;
  }

  /** Closes the descriptors opened ahead and not taken (after an error or a cancel). */
  async close(): Promise<void> {
    const left = [...this.pending.values()];
    this.pending.clear();
    await Promise.all(
      left.map((p) =>
        p.then(
          (fd) => closeFd(fd).catch(() => undefined),
          () => undefined,
        ),
      ),
    );
  }

  private fill(from: number): void {
    if (this.next < from) this.next = from;
    while (this.next < this.tasks.length && this.next < from + this.ahead) {
      const t = this.tasks[this.next]!;
      const p = openFd(t.path, openFlags(t), 0o600);
      // Observed by take() or close(); never an unhandled rejection meanwhile.
      p.catch(() => undefined);
      this.pending.set(this.next, p);
      this.next += 1;
    }
  }
}
