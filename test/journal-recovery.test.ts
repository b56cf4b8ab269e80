/**
 * Recovery's per-segment decision (journal/recovery.ts) as a table: each row
 * names a crash or damage scenario, the facts recovery sees and what it does.
 * The I/O side is covered by journal-crash and journal-damage.
 */
import { describe, expect, it } from "vitest";
import {
  decideLogSegment,
  type LogSegmentDecision,
  type LogSegmentFacts,
  type ScanFacts,
} from "../src/journal/recovery.js";
import { HEADER_BYTES } from "../src/journal/segment-format.js";

const scan = (s: Partial<ScanFacts>): ScanFacts => ({
  fileSize: 4096,
  validEnd: 4096,
  damaged: false,
  records: 3,
  fresh: 3,
  ...s,
});

const rows: readonly [string, LogSegmentFacts, LogSegmentDecision][] = [
  [
    "known, exactly as committed",
    { committedBytes: 1000, size: 1000, newest: true, scan: null },
    { action: "keep" },
  ],
  [
    "known, shorter than committed (lost acknowledged bytes)",
    { committedBytes: 1000, size: 900, newest: true, scan: null },
    { action: "fail", why: "shorter-than-committed" },
  ],
  [
    "known, longer than committed (index commit lost)",
    { committedBytes: 1000, size: 2000, newest: false, scan: null },
    { action: "scan" },
  ],
  [
    "unknown to the index",
    { committedBytes: null, size: null, newest: false, scan: null },
    { action: "scan" },
  ],
  [
    "known, whole batches past the committed length",
    { committedBytes: 1000, size: 2000, newest: false, scan: scan({ fileSize: 2000 }) },
    { action: "index", truncateFirst: false },
  ],
  [
    "known newest, torn tail",
    { committedBytes: 1000, size: 2000, newest: true, scan: scan({ damaged: true }) },
    { action: "index", truncateFirst: true },
  ],
  [
    "known older segment, damage past the committed length",
    { committedBytes: 1000, size: 2000, newest: false, scan: scan({ damaged: true }) },
    { action: "fail", why: "damaged" },
  ],
  [
    "unknown newest, crashed while writing the header",
    {
      committedBytes: null,
      size: null,
      newest: true,
      scan: scan({ fileSize: HEADER_BYTES - 1, validEnd: 0, damaged: true, records: 0, fresh: 0 }),
    },
    { action: "remove", why: "unfinished-create", truncateFirst: false },
  ],
  [
    "unknown newest, full-length but bad header",
    {
      committedBytes: null,
      size: null,
      newest: true,
      scan: scan({ fileSize: 4096, validEnd: 0, damaged: true, records: 0, fresh: 0 }),
    },
    { action: "fail", why: "bad-header" },
  ],
  [
    "unknown older, short header",
    {
      committedBytes: null,
      size: null,
      newest: false,
      scan: scan({ fileSize: 4, validEnd: 0, damaged: true, records: 0, fresh: 0 }),
    },
    { action: "fail", why: "bad-header" },
  ],
  [
    "unknown, every record already covered (interrupted retention)",
    { committedBytes: null, size: null, newest: false, scan: scan({ fresh: 0 }) },
    { action: "remove", why: "covered", truncateFirst: false },
  ],
  [
    "unknown newest, covered and torn",
    { committedBytes: null, size: null, newest: true, scan: scan({ fresh: 0, damaged: true }) },
    { action: "remove", why: "covered", truncateFirst: true },
  ],
  [
    "unknown, header only (a fresh rollover)",
    { committedBytes: null, size: null, newest: true, scan: scan({ records: 0, fresh: 0 }) },
    { action: "index", truncateFirst: false },
  ],
  [
    "unknown, fresh records (rebuilding the index)",
    { committedBytes: null, size: null, newest: false, scan: scan({ fresh: 2 }) },
    { action: "index", truncateFirst: false },
  ],
  [
    "known, nothing fresh past the committed length is still indexed",
    { committedBytes: 1000, size: 2000, newest: true, scan: scan({ fresh: 0 }) },
    { action: "index", truncateFirst: false },
  ],
];

describe("recovery: decideLogSegment", () => {
  it.each(rows)("%s", (_name, facts, expected) => {
    expect(decideLogSegment(facts)).toEqual(expected);
  });
});
