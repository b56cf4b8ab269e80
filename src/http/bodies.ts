/**
 * What the API answers, as plain data: the routes send it, the daemons build
 * their status from it, and the offline CLI prints the same JSON (`--json`)
 * without importing a route.
 */
import type { CheckpointRow } from "../journal/index-db.js";
import type { WalTrimStats } from "../journal/index-wal.js";
import type { ResolvedPoint } from "../journal/points.js";
import type { PointDiff } from "../restore/diff-journal.js";

/** The status body (contract: role, sources, lastSeq, lastCheckpoint, journal, lagSeconds). */
export interface StatusBody {
  readonly role: "sidecar" | "replica";
  readonly sources: readonly {
    readonly name: string;
    readonly path: string;
    /** Intercept mode: where the app sees the journaled view of `path`. */
    readonly mountPoint?: string;
  }[];
  readonly lastSeq: number;
  readonly lastCheckpoint: Record<string, unknown> | null;
  readonly journal: {
    readonly bytes: number;
    readonly oldest: string | null;
    readonly newest: string | null;
    readonly sizeLimit: number;
    readonly nearLimit: boolean;
    /** Retention pins held right now (restores, drills, failover, diff, mirror). */
    readonly pins: number;
    /** The SQLite index on disk, and its WAL trims (journal/index-wal.ts). */
    readonly index: {
      readonly dbBytes: number | null;
      readonly walBytes: number | null;
      readonly walTrim: WalTrimStats;
    };
  };
  /** Age in seconds of the oldest change not yet durable (capture lag on a sidecar, replication lag on a replica). */
  readonly lagSeconds: number;
  readonly ready: boolean;
  readonly [extra: string]: unknown;
}

/** A checkpoint row as the API shows it (ISO time). */
export function checkpointBody(cp: CheckpointRow) {
  return {
    id: cp.id,
    seq: cp.seq,
    ts: new Date(cp.ts).toISOString(),
    label: cp.label,
    consistency: cp.consistency,
    ...(cp.hooks ? { hooks: cp.hooks } : {}),
  };
}

/** A resolved point as the API shows it. */
export function pointBody(p: ResolvedPoint) {
  return { seq: p.seq, ts: new Date(p.ts).toISOString(), checkpoint: p.checkpoint };
}

/** A diff as the API (and `pvjournal diff --json`) shows it. */
export function diffBody(d: PointDiff) {
  return {
    from: pointBody(d.from),
    to: pointBody(d.to),
    created: d.created,
    deleted: d.deleted,
    renamed: d.renamed,
    changed: d.changed,
    summary: {
      created: d.created.length,
      deleted: d.deleted.length,
      renamed: d.renamed.length,
      changed: d.changed.length,
      createdBytes: d.created.reduce((a, e) => a + e.bytes, 0),
      changedBytes: d.changed.reduce((a, e) => a + e.changedBytes, 0),
    },
  };
}
