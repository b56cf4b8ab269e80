/**
 * The `journal:` section's keys: where the journal lives, its block and
 * segment sizes, retention and compression. Kept beside schema.ts (like
 * schema-stream.ts) so the table stays one screen per concern.
 */
import { MAX_TIMER_MS } from "../util/duration.js";
import type { FieldSpec } from "./field-types.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Keys of the `journal` section, in the order of the commented default file. */
export const JOURNAL_FIELDS: readonly FieldSpec[] = [
  {
    section: "journal",
    key: "dir",
    type: { kind: "path" },
    default: null,
    required: ["sidecar", "replica"],
    doc: "segments + index; must not be inside a source (tools default to ./.pvjournal)",
  },
  {
    section: "journal",
    key: "blockSize",
    // 4 KiB is the page size, below it the index outgrows the data; above
    // 16 MiB one changed byte re-journals too much.
    type: { kind: "size", min: 4 * KiB, max: 16 * MiB, powerOfTwo: true },
    default: "64KiB",
    doc: "change-tracking granularity, a power of two between 4KiB and 16MiB",
  },
  {
    section: "journal",
    key: "retention",
    type: { kind: "duration", min: 1 },
    default: "24h",
    doc: "restore window; older history is folded into a base",
  },
  {
    section: "journal",
    key: "retentionCheck",
    // 100 ms floor: each check reads the segment list from the index.
    type: { kind: "duration", min: 100, max: MAX_TIMER_MS },
    default: "60s",
    doc: "how often retention looks for whole segments older than the window",
  },
  {
    section: "journal",
    key: "segmentSize",
    type: { kind: "size", min: MiB, max: 64 * GiB },
    default: "64MiB",
    doc: "segment rollover size, at least 1MiB and at least blockSize",
  },
  {
    section: "journal",
    key: "compression",
    type: { kind: "enum", values: ["zstd", "none"] },
    default: "zstd",
    doc: "per-block compression of new blocks: zstd, or none (blocks that do not shrink are stored raw either way)",
  },
  {
    section: "journal",
    key: "compressionLevel",
    // Above 9 capture CPU grows 10-100x for a few % (measured in block-codec.ts).
    type: { kind: "int", min: 1, max: 9 },
    default: 1,
    doc: "zstd level, 1 (fastest) to 9; 1 stores text about 8% larger than 9 at a fifth of the CPU",
  },
  {
    section: "journal",
    key: "sizeLimit",
    type: { kind: "size", min: 0 },
    default: 0,
    doc: "warn when the journal grows past this; 0 = no limit",
  },
];
