/**
 * Group commit's stamping (journal/group-commit.ts stampBatch) as a table:
 * seqs handed out, idempotent redelivery of stamped records, and blocks
 * deduplicated within a batch and against what is already stored.
 */
import { describe, expect, it } from "vitest";
import { type PendingAppend, stampBatch } from "../src/journal/group-commit.js";
import type { JournalRecord, RecordBody } from "../src/journal/records.js";

const hash = (n: number) => Buffer.alloc(16, n);
const blob = (n: number): RecordBody => ({ type: "blob", hash: hash(n), data: Buffer.from([n]) });
const cp = (id: number): RecordBody => ({
  type: "checkpoint",
  id,
  label: null,
  consistency: "crash",
});
const stamped = (r: RecordBody, seq: number, ts: number) => ({ ...r, seq, ts }) as JournalRecord;
const local = (...records: RecordBody[]): PendingAppend => ({
  records,
  stamped: false,
  lazy: false,
});
const remote = (...records: JournalRecord[]): PendingAppend => ({
  records,
  stamped: true,
  lazy: false,
});

const rows: readonly {
  name: string;
  items: PendingAppend[];
  stored?: number[];
  seqs: number[];
  results: [number, number, number][];
  last: number;
}[] = [
  {
    name: "local records take the next seqs, one result per caller",
    items: [local(blob(1), cp(1)), local(blob(2))],
    seqs: [11, 12, 13],
    results: [
      [11, 12, 500],
      [13, 13, 500],
    ],
    last: 13,
  },
  {
    name: "a block repeated in the batch is stored once and consumes no seq",
    items: [local(blob(1)), local(blob(1), cp(1))],
    seqs: [11, 12],
    results: [
      [11, 11, 500],
      [12, 12, 500],
    ],
    last: 12,
  },
  {
    name: "a block already stored is dropped",
    items: [local(blob(7), cp(1))],
    stored: [7],
    seqs: [11],
    results: [[11, 11, 500]],
    last: 11,
  },
  {
    name: "stamped records at or below the last seq are skipped (redelivery)",
    items: [remote(stamped(cp(1), 9, 100), stamped(cp(2), 10, 100), stamped(cp(3), 11, 120))],
    seqs: [11],
    results: [[11, 11, 120]],
    last: 11,
  },
  {
    name: "a stamped duplicate block keeps its seq",
    items: [remote(stamped(blob(7), 11, 130), stamped(cp(1), 12, 130))],
    stored: [7],
    seqs: [12],
    results: [[11, 12, 130]],
    last: 12,
  },
];

describe("group commit: stampBatch", () => {
  it.each(rows)("$name", ({ items, stored = [], seqs, results, last }) => {
    const have = new Set(stored.map((n) => hash(n).toString("hex")));
    const out = stampBatch(items, 10, 500, (_h, key) => have.has(key));
    expect(out.out.map((r) => r.seq)).toEqual(seqs);
    expect(out.results.map((r) => [r.firstSeq, r.lastSeq, r.ts])).toEqual(results);
    expect(out.seq).toBe(last);
  });
});
