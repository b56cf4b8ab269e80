/**
 * A real failover on the replica: stop following the sidecar's stream,
 * materialise the chosen point into the mirror (or into a target directory),
 * and mark the replica promoted in its journal, so it never applies the
 * stream again, across restarts too. The mirror then is the volume an
 * application at the recovery site mounts.
 */
import { ErrorCode, type PvjError, RequestError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import { pinPoint } from "../journal/pins.js";
import { type Point, type ResolvedPoint, resolvePoint } from "../journal/points.js";
import type { Logger } from "../log/logger.js";
import { checkTarget, type TargetPolicy } from "../restore/target.js";
import type { Mirror } from "./mirror.js";
import type { Replica } from "./replica.js";

/** How a materialisation went: reflinked from the mirror, or written from the journal. */
export interface MaterialisedHow {
  readonly method: "clone" | "copy" | "full";
}

/**
 * How a failover writes a point as a new tree. The daemon assembly wires the
 * drill materialiser in (replica/ does not import drill/).
 */
export interface FailoverMaterialiser {
  /** Into `target`, cloning from the mirror (while it holds still) where it can. */
  intoTarget(point: ResolvedPoint, target: string): Promise<MaterialisedHow>;
  /**
   * Into `dir`, the mirror's next tree inside Mirror.moveTo: cloning from the
   * mirror directory, held still at `baseSeq`, or from nothing (null).
   */
  rebuild(point: ResolvedPoint, dir: string, baseSeq: number | null): Promise<MaterialisedHow>;
}

/** What a failover needs from the replica daemon. */
export interface FailoverDeps {
  readonly journal: Journal;
  readonly replica: Replica;
  readonly mirror: Mirror;
  readonly materialiser: FailoverMaterialiser;
  /** restore.allowedRoots for a `target`, and what a target may not overlap. */
  readonly policy: TargetPolicy;
  readonly logger: Logger;
  readonly clock?: () => number;
}

/** A failover request, parsed. */
export interface FailoverRequest {
  /** null = the latest checkpoint the replica holds when it stops following. */
  readonly point: Point | null;
  /** null = the mirror. */
  readonly target: string | null;
}

/**
 * How the point got where it is: "forward" (the mirror advanced
 * incrementally), "clone" (reflinked from the mirror, changes rewritten),
 * "full" (written from the journal), "unchanged" (the mirror was at the point).
 */
export type FailoverMethod = "forward" | "clone" | "copy" | "full" | "unchanged";

/** What POST /v1/failover answers. */
export interface FailoverReport {
  readonly point: { readonly seq: number; readonly ts: string; readonly checkpoint: number | null };
  /** Where the point is now: the mirror directory or the target. */
  readonly target: string;
  readonly method: FailoverMethod;
  /** Request to promoted. */
  readonly rtoSeconds: number;
  readonly materialiseSeconds: number;
  /** Age of the point at the request: the data this failover gives up. */
  readonly rpoSeconds: number;
  readonly promotedAt: string;
  /** Where the mirror was before (a point older than that rolled it back). */
  readonly mirrorSeqBefore: number;
}

/** Runs failovers; one at a time, and only once per replica. */
export class Failover {
  private running = false;
  private readonly clock: () => number;

  constructor(private readonly deps: FailoverDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  /** Fails over; throws before touching anything when the point or target is bad. */
  async run(req: FailoverRequest): Promise<FailoverReport> {
    const { journal, replica, mirror, materialiser, logger: log } = this.deps;
    if (replica.promoted || this.running) {
      const p = replica.promotion;
      throw new RequestError(
        ErrorCode.ALREADY_PROMOTED,
        p
          ? `this replica was already promoted at ${p.at} (seq ${p.seq}, into ${p.target}); it no longer follows the stream`
          : "a failover is already in progress",
      );
    }
    this.running = true;
    let unpin: () => void = () => {};
    try {
      const started = this.clock();
      // Check everything first: a bad request must not stop replication.
      this.resolve(req.point, started);
      const target = req.target === null ? null : await checkTarget(req.target, this.deps.policy);
      log.warn(
        { point: req.point, target: target ?? mirror.dir },
        "failover: stopping replication",
      );
      await replica.halt();
      // "Latest" means latest once the stream is stopped: nothing received is left out.
      const point = this.resolve(req.point, this.clock());
      // Pinned from here to the end of the run (try/finally below).
      unpin = pinPoint(journal, point.seq);
      const before = mirror.seq;
      const wasDirty = mirror.dirty;
      const t0 = performance.now();
      let method: FailoverMethod;
      if (target !== null) {
        method = (await materialiser.intoTarget(point, target)).method;
      } else if (point.seq === before && !wasDirty) {
        method = "unchanged";
      } else if (point.seq > before && !wasDirty) {
        await mirror.moveTo(point.seq);
        method = "forward";
      } else {
        let built: FailoverMethod = "full";
        await mirror.moveTo(point.seq, async (dir) => {
          built = (await materialiser.rebuild(point, dir, wasDirty ? null : before)).method;
        });
        method = built;
      }
      const materialiseSeconds = (performance.now() - t0) / 1000;
      const promotedAt = new Date(this.clock()).toISOString();
      const where = target ?? mirror.dir;
      replica.markPromoted({
        at: promotedAt,
        seq: point.seq,
        checkpoint: point.checkpoint,
        target: where,
      });
      const report: FailoverReport = {
        point: {
          seq: point.seq,
          ts: new Date(point.ts).toISOString(),
          checkpoint: point.checkpoint,
        },
        target: where,
        method,
        rtoSeconds: (this.clock() - started) / 1000,
        materialiseSeconds,
        rpoSeconds: Math.max(0, (started - point.ts) / 1000),
        promotedAt,
        mirrorSeqBefore: before,
      };
      log.warn(
        { ...report },
        "failover done: this replica is promoted and no longer follows the stream",
      );
      return report;
    } catch (err) {
      if (!(err instanceof RequestError))
        log.error(
          { err },
          "failover failed; replication stays stopped: retry the failover, or restart the replica to follow again",
        );
      throw err;
    } finally {
      unpin();
      this.running = false;
    }
  }

  private resolve(p: Point | null, now: number): ResolvedPoint {
    const { journal } = this.deps;
    if (p !== null) return resolvePoint(journal, p, now);
    const cp = journal.index.lastCheckpoint();
    if (!cp) {
      throw new RequestError(
        ErrorCode.CHECKPOINT_NOT_FOUND,
        "this replica holds no checkpoint to fail over to; name a point with `at`",
      );
    }
    return resolvePoint(journal, { checkpoint: cp.id }, now);
  }
}

/** The error a sidecar answers to POST /v1/failover. */
export function notAReplica(): PvjError {
  return new RequestError(
    ErrorCode.NOT_A_REPLICA,
    "failover runs on a replica (pvjournal replica): this daemon is a sidecar, whose volume is live; restore or drill here instead",
  );
}
