/**
 * Restore jobs: the API's queue in front of the restore engine. Everything a
 * client can get wrong (point, target, paths) is checked in `submit`, before
 * the job exists, so a bad request is answered synchronously and writes
 * nothing; the copy then runs in the background with a small concurrency
 * limit, reports progress, and can be cancelled.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { ErrorCode, PvjError, RequestError } from "../errors.js";
import {
  outlinePlan,
  type PlanOutline,
  planChunkedInSlices,
  planInSlices,
} from "../journal/build-plan.js";
import { CHUNK_BLOCKS, chunkedOption } from "../journal/chunked-plan.js";
import type { Journal } from "../journal/journal.js";
import { pinPoint } from "../journal/pins.js";
import type { RestorePlan } from "../journal/plan.js";
import type { ResolvedPoint } from "../journal/points.js";
import type { Logger } from "../log/logger.js";
import type { BlockHasher } from "../util/hash.js";
import { type ApplyOptions, applyPlan, type RestoreProgress } from "./apply.js";
import { JobQueue, type QueuedJob } from "./job-queue.js";
import { prepareRestore, type RestoreRequest } from "./restore.js";
import {
  overlaps,
  removeEmptyChain,
  stalePartials,
  type TargetPolicy,
  targetPathError,
} from "./target.js";

type PreparedRestore = Awaited<ReturnType<typeof prepareRestore>>;

/** Job states of the contract. A cancelled job is `failed` with error code CANCELLED. */
export const JobState = {
  queued: "queued",
  running: "running",
  done: "done",
  failed: "failed",
} as const;
/** One of JobState. */
export type JobState = (typeof JobState)[keyof typeof JobState];

/**
 * What a running job is doing: planning (the index lookups of every block,
 * in slices off the event loop) or writing (then fsync and rename).
 */
export const JobPhase = { planning: "planning", writing: "writing" } as const;
/** One of JobPhase. */
export type JobPhase = (typeof JobPhase)[keyof typeof JobPhase];

/** The error code of a job that was cancelled (DELETE, or the daemon shutting down). */
export const CANCELLED = "CANCELLED";

/** Finished jobs kept for GET (oldest forgotten first): 100 answers "how did my restore go" for hours. */
export const DEFAULT_KEEP_FINISHED = 100;

/** Job ids: 16 lower-case hex digits (64 random bits: not guessable, not enumerable). */
export const JOB_ID_PATTERN = "^[0-9a-f]{16}$";

/** A job as the API shows it. Times are ISO 8601 UTC. */
export interface RestoreJobView {
  readonly id: string;
  readonly state: JobState;
  /** While running: planning or writing; null otherwise. */
  readonly phase: JobPhase | null;
  readonly point: { readonly seq: number; readonly ts: string; readonly checkpoint: number | null };
  /** Real absolute path of the target. */
  readonly target: string;
  readonly paths: readonly string[] | null;
  readonly bytesDone: number;
  /** File bytes of the point until planning ends, then the bytes to write (holes excluded). */
  readonly bytesTotal: number;
  /** Files restored so far. */
  readonly files: number;
  readonly filesTotal: number;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly error?: { readonly code: string; readonly message: string };
}

/** Materialises a plan into a target; the default writes through applyPlan. */
export type RestoreRunner = (input: {
  readonly plan: RestorePlan;
  readonly target: string;
  readonly signal: AbortSignal;
  readonly onProgress: (p: RestoreProgress) => void;
  /** Files the plan holds without blocks, planned while written (only to the default runner). */
  readonly chunked?: ApplyOptions["chunked"];
}) => Promise<void>;

/** What the job queue needs. */
export interface RestoreJobsOptions {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly policy: TargetPolicy;
  /** Restores running at once (restore.concurrency). */
  readonly concurrency: number;
  readonly logger: Logger;
  /** ms since epoch; `at` points later than this are out of range. */
  readonly clock?: () => number;
  readonly keepFinished?: number;
  /** Replaces applyPlan (a replica may clone its mirror instead). */
  readonly runner?: RestoreRunner;
  /** The daemon's one queue of restores and drills; default: a queue of `concurrency`. */
  readonly queue?: JobQueue;
}

interface Job {
  readonly id: string;
  /** Releases the journal pin that keeps the point restorable. */
  readonly unpin: () => void;
  state: JobState;
  phase: JobPhase | null;
  readonly point: ResolvedPoint;
  readonly target: string;
  readonly paths: string[] | null;
  /** What the point holds; planned into blocks when the job runs. */
  outline: PlanOutline | null;
  bytesDone: number;
  bytesTotal: number;
  files: number;
  readonly filesTotal: number;
  readonly createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  error: { code: string; message: string } | null;
  readonly abort: AbortController;
  /** Its place in the queue, until it settles. */
  queued: QueuedJob | null;
  /** Resolves when the job reached a final state and cleaned up. */
  settled: Promise<void>;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** The API's restore jobs. */
export class RestoreJobs {
  private readonly jobs = new Map<string, Job>();
  private readonly queue: JobQueue;
  private readonly finished: string[] = [];
  private closed = false;
  private readonly clock: () => number;
  private readonly runner: RestoreRunner;

  /** Creates an empty queue. */
  constructor(private readonly opts: RestoreJobsOptions) {
    this.clock = opts.clock ?? Date.now;
    this.runner = opts.runner ?? this.applyRunner();
    this.queue = opts.queue ?? new JobQueue(opts.concurrency);
  }

  /**
   * Validates a request (point, paths, target policy, no other live job at or
   * around the target, something to restore) and queues it. Throws a
   * RequestError, having written nothing, when any check fails.
   */
  async submit(req: RestoreRequest): Promise<RestoreJobView> {
    if (this.closed) throw new PvjError(ErrorCode.NOT_AVAILABLE, "restores are shutting down");
    const prepared = await prepareRestore(
      this.opts.journal,
      req,
      this.opts.policy,
      this.clock(),
    ).catch((err: unknown) => {
      throw targetPathError(err, req.target);
    });
    // No await from here on: the pin, the busy check and the registration are
    // atomic. The pin re-checks the point (retention may have folded it while
    // the target was checked) and is released by finish(), or here on refusal.
    const unpin = pinPoint(this.opts.journal, prepared.point.seq);
    let job: Job;
    try {
      job = this.newJob(prepared, unpin);
    } catch (err) {
      unpin();
      throw err;
    }
    this.jobs.set(job.id, job);
    job.queued = this.queue.add(() => this.run(job), "restore");
    job.settled = job.queued.done;
    this.opts.logger.info(
      { job: job.id, seq: job.point.seq, target: job.target, bytes: job.bytesTotal },
      "restore queued",
    );
    return this.view(job);
  }

  /**
   * Checks a prepared request against live jobs and outlines it (namespace
   * and sizes only: the block lookups, seconds at 100k files, run in the job);
   * throws a RequestError.
   */
  private newJob(prepared: PreparedRestore, unpin: () => void): Job {
    for (const other of this.jobs.values()) {
      if (
        (other.state === JobState.queued || other.state === JobState.running) &&
        overlaps(other.target, prepared.target)
      ) {
        throw new RequestError(
          ErrorCode.TARGET_NOT_EMPTY,
          `restore ${other.id} is already writing to ${other.target}`,
          { path: prepared.target, hint: "wait for it, cancel it, or choose another target" },
        );
      }
    }
    const outline = outlinePlan(this.opts.journal, prepared.point, prepared.paths);
    if (prepared.paths && outline.entries.length === 0) {
      throw new RequestError(
        ErrorCode.NOT_FOUND,
        `none of ${prepared.paths.join(", ")} existed at seq ${prepared.point.seq}`,
      );
    }
    return {
      id: randomBytes(8).toString("hex"),
      unpin,
      state: JobState.queued,
      phase: null,
      point: prepared.point,
      target: prepared.target,
      paths: prepared.paths,
      outline,
      bytesDone: 0,
      bytesTotal: outline.fileBytes,
      files: 0,
      filesTotal: outline.files,
      createdAt: this.clock(),
      startedAt: null,
      finishedAt: null,
      error: null,
      abort: new AbortController(),
      queued: null,
      settled: Promise.resolve(),
    };
  }

  /** A job's current view, or null for an unknown (or long forgotten) id. */
  get(id: string): RestoreJobView | null {
    const job = this.jobs.get(id);
    return job ? this.view(job) : null;
  }

  /** Every known job, newest first. */
  list(): RestoreJobView[] {
    return [...this.jobs.values()].reverse().map((j) => this.view(j));
  }

  /**
   * Cancels a queued or running job and resolves once nothing it wrote
   * remains (its temporary directory, and the target if it had just been
   * moved into place). A finished job is returned unchanged; null if unknown.
   */
  async cancel(id: string): Promise<RestoreJobView | null> {
    const job = this.jobs.get(id);
    if (!job) return null;
    if (job.state === JobState.queued && job.queued?.dequeue()) {
      this.finish(job, { code: CANCELLED, message: "restore cancelled before it started" });
    } else if (job.state === JobState.queued || job.state === JobState.running) {
      job.abort.abort();
      await job.settled;
    }
    return this.view(job);
  }

  /** Cancels every queued and running job and waits for their cleanup. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const live = [...this.jobs.values()].filter(
      (j) => j.state === JobState.queued || j.state === JobState.running,
    );
    await Promise.all(live.map((j) => this.cancel(j.id)));
  }

  private async run(job: Job): Promise<void> {
    job.state = JobState.running;
    job.startedAt = this.clock();
    job.phase = JobPhase.planning;
    try {
      // An earlier restore into this target killed mid-way left its work directory.
      for (const p of await stalePartials(job.target)) {
        this.opts.logger.warn(
          { job: job.id, path: p },
          "removing an interrupted restore's work directory",
        );
        await rm(p, { recursive: true, force: true });
      }
      const journal = this.opts.journal;
      // The default runner writes large files while it plans them, chunk by
      // chunk (chunked-plan.ts); a runner passed in gets whole plans.
      const { plan, chunked } = this.opts.runner
        ? { plan: await planInSlices(journal, job.outline!, job.abort.signal), chunked: null }
        : await planChunkedInSlices(journal, job.outline!, CHUNK_BLOCKS, job.abort.signal);
      job.outline = null;
      job.bytesTotal = plan.bytesTotal;
      job.phase = JobPhase.writing;
      await this.runner({
        plan,
        target: job.target,
        signal: job.abort.signal,
        onProgress: (p) => {
          job.bytesDone = p.bytesDone;
          job.files = p.filesDone;
        },
        ...(chunked ? { chunked: chunkedOption(journal, job.point, chunked) } : {}),
      });
      if (job.abort.signal.aborted) {
        // Cancelled as the last rename landed: the contract says the target goes.
        await rm(job.target, { recursive: true, force: true });
        this.finish(job, { code: CANCELLED, message: "restore cancelled; target removed" });
        return;
      }
      this.finish(job, null);
    } catch (err) {
      if (job.abort.signal.aborted) {
        this.finish(job, { code: CANCELLED, message: "restore cancelled; nothing was kept" });
        return;
      }
      const code = err instanceof PvjError ? err.code : ErrorCode.IO_ERROR;
      const message = err instanceof Error ? err.message : String(err);
      this.opts.logger.error({ err, job: job.id, target: job.target }, "restore failed");
      this.finish(job, { code, message });
    }
  }

  private finish(job: Job, error: { code: string; message: string } | null): void {
    job.state = error ? JobState.failed : JobState.done;
    job.phase = null;
    job.error = error;
    job.finishedAt = this.clock();
    job.outline = null;
    job.unpin();
    this.opts.logger.info(
      { job: job.id, state: job.state, code: error?.code, bytes: job.bytesDone },
      "restore finished",
    );
    this.finished.push(job.id);
    const keep = this.opts.keepFinished ?? DEFAULT_KEEP_FINISHED;
    while (this.finished.length > keep) this.jobs.delete(this.finished.shift()!);
  }

  /** The default runner: creates missing parents (removed again on failure) and applies the plan. */
  private applyRunner(): RestoreRunner {
    return async ({ plan, target, signal, onProgress, chunked }) => {
      const parent = dirname(target);
      const created = await mkdir(parent, { recursive: true });
      try {
        await applyPlan({
          journal: this.opts.journal,
          plan,
          target,
          hasher: this.opts.hasher,
          onProgress,
          signal,
          // checkTarget answered a real path: its parent must stay what was checked.
          realTarget: true,
          ...(chunked ? { chunked } : {}),
        });
      } catch (err) {
        if (created !== undefined) await removeEmptyChain(parent, created);
        throw err;
      }
    };
  }

  private view(job: Job): RestoreJobView {
    return {
      id: job.id,
      state: job.state,
      phase: job.phase,
      point: {
        seq: job.point.seq,
        ts: new Date(job.point.ts).toISOString(),
        checkpoint: job.point.checkpoint,
      },
      target: job.target,
      paths: job.paths,
      bytesDone: job.bytesDone,
      bytesTotal: job.bytesTotal,
      files: job.files,
      filesTotal: job.filesTotal,
      createdAt: new Date(job.createdAt).toISOString(),
      startedAt: iso(job.startedAt),
      finishedAt: iso(job.finishedAt),
      ...(job.error ? { error: job.error } : {}),
    };
  }
}
