/**
 * Index work of one durable group of records: where each record sits in its
 * segment. Applying several groups in one SQLite transaction is what lets the
 * journal index lazily: a transaction's commit costs about as much as the
 * rows it holds (WAL pages of random B-tree keys), so many small groups are
 * far cheaper indexed together. Segments stay the source of truth: records
 * durable in a segment but not yet indexed are indexed on open (recovery).
 */
import type { JournalIndex } from "./index-db.js";
import type { JournalRecord } from "./records.js";
import { FRAME_HEADER_BYTES } from "./segment-format.js";

/** One durable, not yet indexed group (one segment write). */
export interface IndexWork {
  readonly records: readonly JournalRecord[];
  readonly payloads: readonly Buffer[];
  readonly segmentId: number;
  /** Byte range of the group in its segment. */
  readonly start: number;
  readonly end: number;
  /** Seq of the group's last record. */
  readonly lastSeq: number;
}

/** Indexes `work` in order, in one transaction (all or nothing). */
export function applyIndexWork(index: JournalIndex, work: readonly IndexWork[]): void {
  index.tx(() => {
    for (const w of work) {
      let off = w.start;
      w.records.forEach((rec, i) => {
        index.indexRecord(rec, { segmentId: w.segmentId, offset: off }, 0);
        off += FRAME_HEADER_BYTES + w.payloads[i]!.length;
      });
      index.insertBatch(w.records[0]!.seq, w.lastSeq, w.segmentId, w.start, w.end);
      index.updateSegment(w.segmentId, w.lastSeq, w.end);
    }
  });
}
