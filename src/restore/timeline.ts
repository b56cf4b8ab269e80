/**
 * The timeline: checkpoints and the amount of change per interval, for humans
 * choosing a restore point and for dashboards. Bucketing is pure; the counts
 * come from a few GROUP BY queries on the index.
 */
import type { BucketRow, CheckpointRow, JournalIndex, TimelineRows } from "../journal/index-db.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** At most this many buckets per answer: enough detail for a chart, small enough to read. */
export const MAX_BUCKETS = 100;
/** At most this many checkpoints listed per answer (every 5 s for a day would be 17,280). */
export const MAX_TIMELINE_CHECKPOINTS = 1000;

/** Bucket sizes to pick from: round numbers a human reads at a glance. */
const NICE_SIZES_MS = [
  SECOND,
  2 * SECOND,
  5 * SECOND,
  10 * SECOND,
  15 * SECOND,
  30 * SECOND,
  MINUTE,
  2 * MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  7 * DAY,
];

/** Buckets aligned to multiples of `size` (since the epoch) that cover [from, to]. */
export function bucketCount(from: number, to: number, size: number): number {
  return Math.floor(to / size) - Math.floor(from / size) + 1;
}

/**
 * The smallest round bucket size that covers [from, to] (ms) with at most
 * `max` epoch-aligned buckets; spans beyond the list use whole days. Pure.
 */
export function chooseBucketMs(from: number, to: number, max = MAX_BUCKETS): number {
  for (const size of NICE_SIZES_MS) if (bucketCount(from, to, size) <= max) return size;
  let days = Math.max(1, Math.ceil((to - from) / DAY / (max - 1)));
  while (bucketCount(from, to, days * DAY) > max) days += 1;
  return days * DAY;
}

/** Counts for one bucket, [start, start + size), limited to the requested range. */
export interface TimelineBucket {
  readonly start: number;
  readonly end: number;
  /** Journal records stamped in the bucket. */
  readonly records: number;
  /** Sum of the lengths of block writes. */
  readonly bytesWritten: number;
  /** Distinct files whose content, size, attributes or name changed. */
  readonly filesChanged: number;
  readonly checkpoints: number;
}

/**
 * Lays out the dense list of buckets covering [from, to] and fills in the
 * sparse per-bucket counts (a bucket without rows has zeros). Pure.
 */
export function fillBuckets(
  from: number,
  to: number,
  size: number,
  rows: TimelineRows,
): TimelineBucket[] {
  const byBucket = (rs: readonly BucketRow[]) => new Map(rs.map((r) => [r.b, r.n]));
  const records = byBucket(rows.records);
  const bytes = byBucket(rows.bytes);
  const files = byBucket(rows.files);
  const cps = byBucket(rows.checkpoints);
  const out: TimelineBucket[] = [];
  for (let b = Math.floor(from / size); b <= Math.floor(to / size); b++) {
    out.push({
      start: b * size,
      end: (b + 1) * size,
      records: records.get(b) ?? 0,
      bytesWritten: bytes.get(b) ?? 0,
      filesChanged: files.get(b) ?? 0,
      checkpoints: cps.get(b) ?? 0,
    });
  }
  return out;
}

/** The timeline of [from, to]. */
export interface Timeline {
  readonly from: number;
  readonly to: number;
  readonly bucketMs: number;
  /** Oldest first, at most MAX_TIMELINE_CHECKPOINTS. */
  readonly checkpoints: CheckpointRow[];
  /** True when more checkpoints lie in the range than are listed. */
  readonly checkpointsTruncated: boolean;
  readonly buckets: TimelineBucket[];
}

/**
 * Reads the timeline of [from, to] (ms, inclusive) from the index (sparse
 * counts per bucket, see JournalIndex.timelineRows) and lays out its buckets.
 */
export function readTimeline(ix: JournalIndex, from: number, to: number): Timeline {
  const size = chooseBucketMs(from, to);
  const listed = ix.checkpoints(from, to, MAX_TIMELINE_CHECKPOINTS + 1);
  return {
    from,
    to,
    bucketMs: size,
    checkpoints: listed.slice(0, MAX_TIMELINE_CHECKPOINTS),
    checkpointsTruncated: listed.length > MAX_TIMELINE_CHECKPOINTS,
    buckets: fillBuckets(from, to, size, ix.timelineRows(from, to, size)),
  };
}
