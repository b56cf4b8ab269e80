import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { BlockHasher } from "../util/hash.js";
import { buildPlan } from "./build-plan.js";
import { COUNTED_TABLES, type CountedTable } from "./index-db.js";
import type { Journal } from "./journal.js";
import { parseSegmentFileName, SegmentKind } from "./segment-format.js";
import { scanSegment } from "./segment-io.js";

/** One thing verify found wrong. */
export interface VerifyProblem {
  readonly kind: "damage" | "index" | "checkpoint";
  readonly message: string;
  readonly segment?: string;
  readonly offset?: number;
  readonly checkpoint?: number;
}

/** The outcome of `pvjournal verify`. */
export interface VerifyReport {
  readonly ok: boolean;
  readonly segments: number;
  readonly records: number;
  readonly bytes: number;
  readonly checkpoints: number;
  readonly problems: readonly VerifyProblem[];
}

type Counts = Record<CountedTable, number>;

/**
 * Checks a journal end to end: every frame's checksum and every stored
 * block's hash, the index against the segments (each indexed row backed by a
 * record, each record indexed), and that every checkpoint is restorable
 * (every block it needs is stored, intact, where the index says). Reads each
 * segment once; never modifies anything.
 */
export async function verifyJournal(
  journal: Journal,
  hasher: BlockHasher,
  onProgress?: (done: number, total: number) => void,
): Promise<VerifyReport> {
  const ix = journal.index;
  const problems: VerifyProblem[] = [];
  const baseSeq = Number(ix.getMeta("baseSeq") ?? "0");
  const segments = ix.segments();
  const expected: Counts = { ns: 0, attrs: 0, sizes: 0, blocks: 0, checkpoints: 0 };
  // Frames we saw holding an intact blob: "segmentId:offset" -> hash hex.
  const goodBlobs = new Map<string, string>();
  let records = 0;
  let bytes = 0;
  const total = segments.reduce((a, s) => a + s.bytes, 0);

  const names = new Set(segments.map((s) => s.name));
  for (const n of await readdir(journal.dir)) {
    if (parseSegmentFileName(n) && !names.has(n)) {
      problems.push({
        kind: "index",
        segment: n,
        message: `segment file ${n} is not in the index`,
      });
    }
  }

  for (const seg of segments) {
    const path = join(journal.dir, seg.name);
    const size = await stat(path).then(
      (s) => s.size,
      () => -1,
    );
    if (size < seg.bytes) {
      problems.push({
        kind: "damage",
        segment: seg.name,
        offset: Math.max(size, 0),
        message:
          size < 0
            ? `segment ${seg.name} is missing`
            : `segment ${seg.name} is ${size} bytes, ${seg.bytes} were committed`,
      });
      if (size < 0) continue;
    }
    const scan = await scanSegment(path);
    if (scan.damage && scan.damage.offset < seg.bytes) {
      problems.push({
        kind: "damage",
        segment: seg.name,
        offset: scan.damage.offset,
        message: `segment ${seg.name} is damaged at offset ${scan.damage.offset} (${scan.damage.reason}); records after it cannot be read`,
      });
    }
    for (const { record, offset } of scan.records) {
      if (offset >= seg.bytes) break; // written by a running daemon, not yet committed
      records += 1;
      const live = seg.kind === SegmentKind.base || record.seq > baseSeq;
      switch (record.type) {
        case "blob":
          if (!hasher.hash(record.data).equals(record.hash)) {
            problems.push({
              kind: "damage",
              segment: seg.name,
              offset,
              message: `block ${record.hash.toString("hex")} in ${seg.name} at offset ${offset} does not match its hash`,
            });
          } else goodBlobs.set(`${seg.id}:${offset}`, record.hash.toString("hex"));
          break;
        case "link":
        case "unlink":
        case "rename":
          if (live) expected.ns += 1;
          break;
        case "attr":
          if (live) expected.attrs += 1;
          break;
        case "size":
          if (live) expected.sizes += 1;
          break;
        case "write": {
          if (!live) break;
          expected.blocks += 1;
          const row = ix.blockAt(record.fileId, record.block, record.seq);
          if (!row || row.seq !== record.seq || !row.hash.equals(record.hash)) {
            problems.push({
              kind: "index",
              segment: seg.name,
              offset,
              message: `write of file ${record.fileId} block ${record.block} at seq ${record.seq} is missing from the index`,
            });
          }
          break;
        }
        case "checkpoint": {
          if (!live) break;
          expected.checkpoints += 1;
          const cp = ix.checkpoint(record.id);
          if (!cp || cp.seq !== record.seq) {
            problems.push({
              kind: "index",
              segment: seg.name,
              offset,
              message: `checkpoint ${record.id} (seq ${record.seq}) is missing from the index`,
            });
          }
          break;
        }
      }
    }
    bytes += seg.bytes;
    onProgress?.(bytes, total);
  }

  for (const table of COUNTED_TABLES) {
    const n = ix.rowCount(table);
    if (n !== expected[table]) {
      problems.push({
        kind: "index",
        message: `index table ${table} has ${n} rows but the segments hold ${expected[table]} records`,
      });
    }
  }

  const checkpoints = ix.checkpoints(0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  for (const cp of checkpoints) {
    try {
      const plan = buildPlan(journal, { seq: cp.seq, ts: cp.ts, checkpoint: cp.id });
      for (const e of plan.entries) {
        for (const b of e.blocks) {
          const loc = ix.blob(b.hash);
          const hex = b.hash.toString("hex");
          if (!loc || goodBlobs.get(`${loc.segment_id}:${loc.offset}`) !== hex) {
            throw new Error(
              `block ${hex} of ${e.path} at offset ${b.offset} is missing or damaged`,
            );
          }
        }
      }
    } catch (err) {
      problems.push({
        kind: "checkpoint",
        checkpoint: cp.id,
        message: `checkpoint ${cp.id} is not restorable: ${(err as Error).message}`,
      });
    }
  }

  return {
    ok: problems.length === 0,
    segments: segments.length,
    records,
    bytes,
    checkpoints: checkpoints.length,
    problems,
  };
}
