/** The row types the SQLite index (index-db.ts) answers with; no SQL here. */
import type { NsEvent } from "./namespace.js";
import type { CheckpointRecord, Consistency, HookOutcome } from "./records.js";

/** A segment as the index knows it. `bytes` is the committed (fsynced and indexed) length. */
export interface SegmentRow {
  readonly id: number;
  readonly name: string;
  readonly kind: number;
  readonly first_seq: number;
  readonly last_seq: number;
  readonly bytes: number;
}

/** A stored restore point. */
export interface CheckpointRow {
  readonly id: number;
  readonly seq: number;
  readonly ts: number;
  readonly label: string | null;
  readonly consistency: Consistency;
  readonly hooks: { pre?: HookOutcome; post?: HookOutcome } | null;
}

/** A namespace event as stored, in replay order (seq, then ord within a record). */
export interface NsRow extends NsEvent {
  readonly seq: number;
  readonly ord: number;
}

/** The newest version of one block at or before a point. */
export interface BlockRow {
  readonly block: number;
  readonly seq: number;
  readonly len: number;
  readonly hash: Buffer;
}

/**
 * A block's newest version at a seq joined with where its blob is stored, as
 * one raw row: block, seq, len, hash, then segment id, frame offset, stored
 * length and segment name (these four null when the index lost the blob or
 * its segment).
 */
export type LocatedBlockRow = [
  block: number,
  seq: number,
  len: number,
  hash: Buffer,
  segmentId: number | null,
  offset: number | null,
  storedLen: number | null,
  segment: string | null,
];

/** One aggregated timeline row: bucket number (ts / size) and a value. */
export interface BucketRow {
  readonly b: number;
  readonly n: number;
}

/** The sparse per-bucket counts of a timeline range (buckets without rows are absent). */
export interface TimelineRows {
  readonly records: readonly BucketRow[];
  readonly bytes: readonly BucketRow[];
  readonly files: readonly BucketRow[];
  readonly checkpoints: readonly BucketRow[];
}

/** Where a stored record lives: segment id and frame offset. */
export interface RecordLocation {
  readonly segmentId: number;
  readonly offset: number;
}

/** A checkpoint row as stored: hooks as JSON text. */
export interface RawCheckpoint {
  id: number;
  seq: number;
  ts: number;
  label: string | null;
  consistency: Consistency;
  hooks: string | null;
}

/** A stored checkpoint row with its hooks parsed. */
export function toCheckpoint(r: RawCheckpoint): CheckpointRow {
  return { ...r, hooks: r.hooks ? (JSON.parse(r.hooks) as CheckpointRow["hooks"]) : null };
}

/** The row a checkpoint record appended at `seq` and `ts` makes. */
export function checkpointRowOf(rec: CheckpointRecord, seq: number, ts: number): CheckpointRow {
  return {
    id: rec.id,
    seq,
    ts,
    label: rec.label,
    consistency: rec.consistency,
    hooks: rec.hooks ?? null,
  };
}
