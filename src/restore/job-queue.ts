/**
 * The one job queue of restores and drills: FIFO with a limit on jobs
 * running at once (restore.concurrency: each job is an I/O burst), and a
 * per-lane limit on top (drills run one at a time, so a drill never competes
 * with another drill). A daemon builds one and hands it to both; without
 * one, each owner makes its own.
 */

/** A queued job. */
export interface QueuedJob {
  /** Settles when the job ran (with its outcome) or was removed before it started. */
  readonly done: Promise<void>;
  /** Removes the job if it has not started; true when removed. */
  dequeue(): boolean;
}

interface Entry {
  readonly fn: () => Promise<void>;
  readonly lane: string;
  readonly laneLimit: number;
  started: boolean;
  removed: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** FIFO with a global and a per-lane concurrency limit. */
export class JobQueue {
  private readonly waiting: Entry[] = [];
  private running = 0;
  private readonly perLane = new Map<string, number>();

  /** `concurrency` jobs at once (at least one). */
  constructor(private readonly concurrency: number) {}

  /** Jobs running now. */
  get active(): number {
    return this.running;
  }

  /** Queues `fn` in `lane` (at most `laneLimit` of the lane at once). */
  add(fn: () => Promise<void>, lane = "default", laneLimit = Number.POSITIVE_INFINITY): QueuedJob {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: Entry = { fn, lane, laneLimit, started: false, removed: false, resolve, reject };
    this.waiting.push(entry);
    this.pump();
    return {
      done,
      dequeue: () => {
        if (entry.started || entry.removed) return false;
        entry.removed = true;
        this.waiting.splice(this.waiting.indexOf(entry), 1);
        entry.resolve();
        return true;
      },
    };
  }

  private pump(): void {
    while (this.running < Math.max(1, this.concurrency)) {
      const i = this.waiting.findIndex((e) => (this.perLane.get(e.lane) ?? 0) < e.laneLimit);
      if (i < 0) return;
      const e = this.waiting.splice(i, 1)[0]!;
      e.started = true;
      this.running += 1;
      this.perLane.set(e.lane, (this.perLane.get(e.lane) ?? 0) + 1);
      // The slot is free before `done` settles: whoever awaits it sees the queue move on.
      const release = () => {
        this.running -= 1;
        this.perLane.set(e.lane, (this.perLane.get(e.lane) ?? 1) - 1);
        this.pump();
      };
      e.fn().then(
        () => {
          release();
          e.resolve();
        },
        (err: unknown) => {
          release();
          e.reject(err);
        },
      );
    }
  }
}
