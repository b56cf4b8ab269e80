/**
 * Early writeback of a large file while it is still being written: an
 * fdatasync in the thread pool every WRITEBACK_BYTES, so the disk writes the
 * first megabytes while this thread decodes and checks the next ones. The
 * durable materialiser's final fdatasync of the file then waits only for
 * the tail. Without it, a 128 MiB file's whole writeback started after its
 * last block (the restore sat idle ~100-150 ms in that fdatasync; profile of
 * the peers-dbfile restore).
 *
 * An early fdatasync's error is kept and thrown by `finish()`: Linux reports
 * a writeback error once per descriptor, so the final fdatasync might not
 * see an error an early one consumed.
 */
import { fdatasync } from "node:fs";

/** Bytes written between two early fdatasyncs. */
export const WRITEBACK_BYTES = 16 * 1024 * 1024;

export class Writeback {
  private since = 0;
  private inflight: Promise<void> | null = null;
  private error: Error | null = null;

  constructor(
    private readonly fd: number,
    private readonly every = WRITEBACK_BYTES,
  ) {}

  /** Counts `bytes` written; starts an fdatasync when `every` have been since the last (one in flight at most). */
  wrote(bytes: number): void {
    this.since += bytes;
    if (this.since < this.every || this.inflight) return;
    this.since = 0;
    this.inflight = new Promise<void>((resolve) =>
      fdatasync(this.fd, (err) => {
        if (err && !this.error) this.error = err;
        this.inflight = null;
        resolve();
      }),
    );
  }

  /** Waits for the fdatasync in flight; throws the first error an early one reported. */
  async finish(): Promise<void> {
    await this.inflight;
    if (this.error) throw this.error;
  }

  /** Waits for the fdatasync in flight, ignoring errors (the descriptor is about to close after a failure). */
  async settle(): Promise<void> {
    await this.inflight;
  }
}
