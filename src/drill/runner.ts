/**
 * Runs drills one at a time: resolve the point (at request time, so a bad
 * one is a 4xx), materialise it into a fresh sandbox under
 * drills.sandboxRoot, run the verify command there, record the report in
 * the journal's index, delete the sandbox unless asked to keep it. One at a
 * time because a drill is an I/O burst that should not compete with
 * capture or replication for the disk, and reports stay easy to read.
 */
import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { DrillsConfig } from "../config/types.js";
import { ErrorCode, isErrno, PvjError, RequestError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import { pinPoint } from "../journal/pins.js";
import { type Point, type ResolvedPoint, resolvePoint } from "../journal/points.js";
import type { Logger } from "../log/logger.js";
import { JobQueue } from "../restore/job-queue.js";
import { checkTarget, stalePartials } from "../restore/target.js";
import type { BlockHasher } from "../util/hash.js";
import type { CloneFile } from "./clone.js";
import { type MirrorView, materialise } from "./materialise.js";
import { type DrillReport, DrillState, type DrillTrigger } from "./report.js";
import { DrillStore, MAX_REPORTS } from "./store.js";
import { runVerify, verifyPassed } from "./verify.js";

/** Pattern of drill ids (also the route parameter's). */
export const DRILL_ID_PATTERN = "^d-[a-z0-9]{6,40}$";

/** A drill request, parsed. */
export interface DrillRequest {
  /** null = the latest checkpoint. */
  readonly point: Point | null;
  /**
   * undefined = drills.verify (if configured); null = no verify command;
   * `{name}` = one of drills.verifyCommands; `{command}` = request argv, only
   * with drills.allowRequestCommands.
   */
  readonly verify?:
    | { readonly name: string }
    | {
        readonly command: readonly string[];
        readonly timeoutMs: number | null;
      }
    | null;
  readonly keep: boolean;
  readonly trigger?: DrillTrigger;
}

/** What a DrillRunner needs. */
export interface DrillRunnerOptions {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly config: DrillsConfig;
  /** Paths a sandbox may never overlap: sources, the journal, the mirror. */
  readonly forbidden: readonly string[];
  /** The replica's mirror (clone path); null on a sidecar. */
  readonly mirror: MirrorView | null;
  readonly logger: Logger;
  /** ms since epoch (tests inject one). */
  readonly clock?: () => number;
  /** Replaces the reflink call (tests). */
  readonly cloneFile?: CloneFile;
  /** Called once per finished drill (metrics). */
  readonly onFinished?: (r: DrillReport) => void;
  /** The daemon's one queue of restores and drills; default: a queue of its own. */
  readonly queue?: JobQueue;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Job {
  report: Mutable<DrillReport>;
  point: ResolvedPoint;
  verify: { command: readonly string[]; timeoutMs: number } | null;
  createdMs: number;
  /** Releases the retention pin on the point, taken at submit; idempotent. */
  unpin: () => void;
}

/** Queues, runs and records drills. */
export class DrillRunner {
  private readonly store: DrillStore;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly live = new Map<string, Job>();
  private readonly jobQueue: JobQueue;
  /** Drills queued or running (close waits for them). */
  private readonly pending = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private closed = false;

  constructor(private readonly opts: DrillRunnerOptions) {
    this.store = new DrillStore(opts.journal);
    this.clock = opts.clock ?? Date.now;
    this.log = opts.logger;
    this.jobQueue = opts.queue ?? new JobQueue(1);
    // Drills a stopped process left behind never finish: say so in their reports.
    for (const r of this.store.unfinished()) {
      this.store.save({
        ...r,
        state: DrillState.failed,
        passed: false,
        finishedAt: r.finishedAt ?? new Date(this.clock()).toISOString(),
        error: {
          code: ErrorCode.INTERNAL,
          message: "interrupted: the daemon stopped during the drill",
        },
      });
      if (opts.config.sandboxRoot !== null)
        void this.removeInterrupted(join(opts.config.sandboxRoot, `drill-${r.id}`));
    }
  }

  /** True when drills.sandboxRoot is configured. */
  get enabled(): boolean {
    return this.opts.config.sandboxRoot !== null;
  }

  /** True while a drill of this trigger is queued or running (the schedule skips a tick then). */
  busy(trigger?: DrillTrigger): boolean {
    for (const j of this.live.values()) if (!trigger || j.report.trigger === trigger) return true;
    return false;
  }

  /**
   * Checks and queues a drill; resolves the point now (default: the latest
   * checkpoint). Throws DRILLS_DISABLED, CHECKPOINT_NOT_FOUND, POINT_OUT_OF_RANGE...
   */
  submit(req: DrillRequest): DrillReport {
    if (!this.enabled) {
      throw new RequestError(
        ErrorCode.DRILLS_DISABLED,
        "drills are disabled on this daemon: set drills.sandboxRoot (a directory for drill sandboxes)",
        { key: "drills.sandboxRoot" },
      );
    }
    if (this.closed) throw new PvjError(ErrorCode.NOT_AVAILABLE, "drills are shutting down");
    // Before anything else: a refused command must leave no trace but the 4xx.
    const verify = this.chooseVerify(req);
    const now = this.clock();
    const point = this.resolve(req.point, now);
    // Pinned now (no await since the point was resolved), released when the drill ends.
    const unpin = pinPoint(this.opts.journal, point.seq);
    try {
      return this.queue(req, point, verify, now, unpin);
    } catch (err) {
      unpin();
      throw err;
    }
  }

  private queue(
    req: DrillRequest,
    point: ResolvedPoint,
    verify: Job["verify"],
    now: number,
    unpin: () => void,
  ): DrillReport {
    const id = `d-${now.toString(36)}${randomBytes(4).toString("hex")}`;
    const report: Mutable<DrillReport> = {
      id,
      state: DrillState.queued,
      trigger: req.trigger ?? "api",
      createdAt: new Date(now).toISOString(),
      startedAt: null,
      finishedAt: null,
      point: { seq: point.seq, ts: new Date(point.ts).toISOString(), checkpoint: point.checkpoint },
      rpoSeconds: null,
      rtoSeconds: null,
      materialiseSeconds: null,
      method: null,
      materialise: null,
      verify: null,
      passed: null,
      keep: req.keep,
    };
    const job: Job = { report, point, verify, createdMs: now, unpin };
    this.store.save(report);
    this.store.prune();
    this.live.set(id, job);
    // One drill at a time (the "drill" lane), queued with the restores.
    const done = this.jobQueue.add(() => this.run(job), "drill", 1).done;
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
    return { ...report };
  }

  /** The verify command of a request: configured ones only, unless request argv is enabled. */
  private chooseVerify(req: DrillRequest): Job["verify"] {
    const cfg = this.opts.config;
    const v = req.verify;
    if (v === undefined)
      return cfg.verify ? { command: cfg.verify, timeoutMs: cfg.verifyTimeout } : null;
    if (v === null) return null;
    if ("name" in v) {
      const command = Object.hasOwn(cfg.verifyCommands, v.name)
        ? cfg.verifyCommands[v.name]
        : undefined;
      if (command === undefined) {
        const known = Object.keys(cfg.verifyCommands);
        throw new RequestError(
          ErrorCode.BAD_REQUEST,
          `no verify command named ${JSON.stringify(v.name)} in drills.verifyCommands (${known.length > 0 ? `configured: ${known.join(", ")}` : "none configured"})`,
          { key: "drills.verifyCommands" },
        );
      }
      return { command, timeoutMs: cfg.verifyTimeout };
    }
    if (!cfg.allowRequestCommands) {
      throw new RequestError(
        ErrorCode.COMMAND_NOT_ALLOWED,
        'this daemon runs only configured verify commands: send verify: "NAME" from drills.verifyCommands, or set drills.allowRequestCommands: true to accept request argv',
        { key: "drills.allowRequestCommands" },
      );
    }
    return { command: v.command, timeoutMs: v.timeoutMs ?? cfg.verifyTimeout };
  }

  /** A report by id (live or stored). */
  get(id: string): DrillReport | null {
    const j = this.live.get(id);
    return j ? { ...j.report } : this.store.get(id);
  }

  /** Reports, newest first. */
  list(limit = 100): DrillReport[] {
    return this.store.list(Math.min(Math.max(1, limit), MAX_REPORTS));
  }

  /** The newest drill that passed (metrics at start). */
  lastPassed(): DrillReport | null {
    return this.store.lastPassed();
  }

  /** Stops: a running verify command is killed, queued drills fail. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    await Promise.all([...this.pending]);
  }

  private resolve(p: Point | null, now: number): ResolvedPoint {
    if (p !== null) return resolvePoint(this.opts.journal, p, now);
    const cp = this.opts.journal.index.lastCheckpoint();
    if (!cp) {
      throw new RequestError(
        ErrorCode.CHECKPOINT_NOT_FOUND,
        "no checkpoint to drill yet: take one (pvjournal checkpoint) or name a point with `at`",
      );
    }
    return resolvePoint(this.opts.journal, { checkpoint: cp.id }, now);
  }

  private async run(job: Job): Promise<void> {
    const r = job.report;
    const root = this.opts.config.sandboxRoot as string;
    const sandbox = join(root, `drill-${r.id}`);
    let made = false;
    let final: DrillState = DrillState.failed;
    try {
      if (this.closed)
        throw new PvjError(ErrorCode.NOT_AVAILABLE, "the daemon stopped before the drill ran");
      const started = this.clock();
      r.state = DrillState.running;
      r.startedAt = new Date(started).toISOString();
      r.rpoSeconds = Math.max(0, (started - job.point.ts) / 1000);
      this.store.save(r);
      this.log.info({ drill: r.id, point: r.point, trigger: r.trigger }, "drill started");

      // Checked before anything is created: a sandbox root that overlaps the
      // mirror or a source must not even get its directory made.
      const target = await checkTarget(sandbox, {
        allowedRoots: [root],
        forbidden: this.opts.forbidden,
      });
      await mkdir(root, { recursive: true });
      made = true;
      const m = await materialise({
        journal: this.opts.journal,
        hasher: this.opts.hasher,
        point: job.point,
        target,
        mirror: this.opts.mirror,
        logger: this.log,
        ...(this.opts.cloneFile ? { cloneFile: this.opts.cloneFile } : {}),
      });
      r.method = m.method;
      r.materialiseSeconds = m.seconds;
      r.materialise = {
        files: m.files,
        filesCloned: m.filesCloned,
        bytesWritten: m.bytesWritten,
        mirrorSeq: m.mirrorSeq,
        ...(m.fallback !== undefined ? { fallback: m.fallback } : {}),
      };
      this.store.save(r);
      if (job.verify) {
        const v = await runVerify(job.verify.command, {
          cwd: target,
          env: {
            PVJ_DRILL_DIR: target,
            PVJ_DRILL_POINT_TS: r.point.ts,
            PVJ_DRILL_POINT_SEQ: String(r.point.seq),
            PVJ_DRILL_POINT_CHECKPOINT:
              r.point.checkpoint === null ? "" : String(r.point.checkpoint),
            PVJ_DRILL_ID: r.id,
          },
          timeoutMs: job.verify.timeoutMs,
          signal: this.abort.signal,
        });
        r.verify = v;
        r.passed = verifyPassed(v);
      } else {
        r.passed = true;
      }
      r.rtoSeconds = (this.clock() - job.createdMs) / 1000;
      final = DrillState.done;
      if (r.keep) r.sandbox = target;
    } catch (err) {
      final = DrillState.failed;
      r.passed = false;
      r.error = {
        code: err instanceof PvjError ? err.code : ErrorCode.IO_ERROR,
        message: (err as Error).message,
      };
    }
    job.unpin();
    if (made && !(r.keep && final === DrillState.done)) await this.removeSandbox(sandbox);
    // Finished only now: a client that sees done/failed finds the sandbox gone (or kept).
    r.state = final;
    r.finishedAt = new Date(this.clock()).toISOString();
    this.live.delete(r.id);
    this.store.save(r);
    if (r.passed) {
      this.log.info(
        { drill: r.id, rpoSeconds: r.rpoSeconds, rtoSeconds: r.rtoSeconds, method: r.method },
        "drill passed",
      );
    } else {
      this.log.error(
        {
          drill: r.id,
          point: r.point,
          trigger: r.trigger,
          error: r.error,
          verify: r.verify
            ? { exitCode: r.verify.exitCode, timedOut: r.verify.timedOut, error: r.verify.error }
            : null,
        },
        `drill failed: ${r.error?.message ?? r.verify?.error ?? "verify did not pass"}`,
      );
    }
    try {
      this.opts.onFinished?.({ ...r });
    } catch (err) {
      this.log.warn({ err }, "drill observer failed");
    }
  }

  /** Removes the sandbox of a drill a stopped process left, and its hidden work directory. */
  private async removeInterrupted(sandbox: string): Promise<void> {
    await this.removeSandbox(sandbox);
    for (const p of await stalePartials(sandbox)) await this.removeSandbox(p);
  }

  /** Removes a sandbox, making read-only directories writable first if needed. */
  private async removeSandbox(dir: string): Promise<void> {
    try {
      await rm(dir, { recursive: true, force: true });
    } catch (err) {
      if (!isErrno(err, "EACCES") && !isErrno(err, "EPERM")) {
        this.log.warn({ err, dir }, "cannot remove a drill sandbox");
        return;
      }
      await makeWritable(dir).catch(() => undefined);
      await rm(dir, { recursive: true, force: true }).catch((e: unknown) =>
        this.log.warn({ err: e, dir }, "cannot remove a drill sandbox"),
      );
    }
  }
}

/** chmod u+rwx every directory below `dir` (a restored tree may hold read-only ones). */
async function makeWritable(dir: string): Promise<void> {
  const st = await lstat(dir);
  if (!st.isDirectory()) return;
  await chmod(dir, (st.mode & 0o7777) | 0o700);
  for (const name of await readdir(dir)) await makeWritable(join(dir, name));
}
