/**
 * Recovery at open: brings the index in line with the segment files, the
 * source of truth. What to do with each log segment is decided by the pure
 * {@link decideLogSegment}; {@link recoverIndex} does the reads and writes.
 */
import { existsSync } from "node:fs";
import { open, readdir, stat, truncate, unlink } from "node:fs/promises";
import { join } from "node:path";
import { CorruptionError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { storedBlobLen } from "./codec.js";
import type { JournalIndex } from "./index-db.js";
import { HEADER_BYTES, parseSegmentFileName, SegmentKind } from "./segment-format.js";
import { readSegmentHeader, scanSegment } from "./segment-io.js";

/** What a scan of a log segment (from its committed length) found. */
export interface ScanFacts {
  /** The file's size when it was scanned. */
  readonly fileSize: number;
  /** End of the last valid frame (0: no valid header). */
  readonly validEnd: number;
  /** A frame past validEnd is invalid (a torn tail or damage). */
  readonly damaged: boolean;
  /** Valid records found. */
  readonly records: number;
  /** Of those, records above what the index (or the base) already covers. */
  readonly fresh: number;
}

/** What recovery knows about one log segment file. */
export interface LogSegmentFacts {
  /** Bytes the index says were committed, or null when the index does not know the file. */
  readonly committedBytes: number | null;
  /** The file's size on disk (stat), needed only when committedBytes is set. */
  readonly size: number | null;
  /** The newest log segment: the only one that may end in a torn tail. */
  readonly newest: boolean;
  /** The scan, once {@link decideLogSegment} asked for one. */
  readonly scan: ScanFacts | null;
}

/** Recovery's decision for one log segment. */
export type LogSegmentDecision =
  /** Exactly as long as committed: nothing to do. */
  | { readonly action: "keep" }
  /** Bytes past the committed length, or unknown to the index: scan it, then decide again. */
  | { readonly action: "scan" }
  /** Damage recovery must not paper over. */
  | {
      readonly action: "fail";
      readonly why: "shorter-than-committed" | "bad-header" | "damaged";
    }
  /** Delete the file (a crash while creating it, or a leftover of an interrupted retention). */
  | {
      readonly action: "remove";
      readonly why: "unfinished-create" | "covered";
      readonly truncateFirst: boolean;
    }
  /** Index its fresh records (after cutting a torn tail back to validEnd when truncateFirst). */
  | { readonly action: "index"; readonly truncateFirst: boolean };

/**
 * The per-segment decision of recovery. Segments known to the index must be
 * at least as long as their committed length; bytes past it are either whole
 * fsynced batches whose index commit was lost (indexed) or a torn tail of the
 * newest segment (truncated). Unknown files whose records are all covered are
 * leftovers of an interrupted retention (removed).
 */
export function decideLogSegment(f: LogSegmentFacts): LogSegmentDecision {
  const known = f.committedBytes !== null;
  if (f.scan === null) {
    if (f.committedBytes === null || f.size === null) return { action: "scan" };
    if (f.size < f.committedBytes) return { action: "fail", why: "shorter-than-committed" };
    if (f.size === f.committedBytes) return { action: "keep" };
    return { action: "scan" };
  }
  const s = f.scan;
  if (!known && s.validEnd === 0) {
    // Crashed while creating the file: nothing in it was ever acknowledged.
    if (f.newest && s.fileSize < HEADER_BYTES)
      return { action: "remove", why: "unfinished-create", truncateFirst: false };
    return { action: "fail", why: "bad-header" };
  }
  if (s.damaged && !f.newest) return { action: "fail", why: "damaged" };
  const truncateFirst = s.damaged;
  if (!known && s.fresh === 0 && s.records > 0)
    return { action: "remove", why: "covered", truncateFirst };
  return { action: "index", truncateFirst };
}

/**
 * Brings the index in line with the segments (see `Journal.open`). Without an
 * index, the newest base segment plus the log segments after it are indexed
 * from scratch. Damage it must not repair throws CorruptionError naming
 * segment and offset.
 */
export async function recoverIndex(dir: string, index: JournalIndex, log: Logger): Promise<void> {
  const known = new Map(index.segments().map((s) => [s.name, s]));
  const names = (await readdir(dir)).filter((n) => parseSegmentFileName(n) !== null);
  for (const s of known.values()) {
    if (!names.includes(s.name)) {
      throw new CorruptionError(`segment ${s.name} is in the index but missing on disk`, {
        segment: s.name,
        hint: "restore the file, or delete index.db to rebuild from the remaining segments",
      });
    }
  }
  const parsed = names
    .map((n) => ({ name: n, ...parseSegmentFileName(n)! }))
    .sort((a, b) => a.firstSeq - b.firstSeq);
  const bases = parsed.filter((s) => s.kind === SegmentKind.base);
  const logs = parsed.filter((s) => s.kind === SegmentKind.log);
  const rebuilding = known.size === 0 && parsed.length > 0;
  if (rebuilding)
    log.warn({ dir, segments: parsed.length }, "index missing or empty: rebuilding from segments");
  let maxSeq = index.lastTime()?.seq ?? 0;
  let baseSeq = Number(index.getMeta("baseSeq") ?? "0");

  // A base the index does not know is an uncommitted retention (dropped; it
  // reruns later) unless we are rebuilding, when the newest base is the floor.
  const useBase = rebuilding ? bases[bases.length - 1] : undefined;
  for (const b of bases) {
    if (known.has(b.name) || b === useBase) continue;
    log.warn({ segment: b.name }, "removing base segment of an interrupted retention");
    await unlink(join(dir, b.name));
  }
  if (useBase) {
    const scan = await scanSegment(join(dir, useBase.name));
    if (scan.damage) {
      throw new CorruptionError(
        `base segment ${useBase.name} is damaged at offset ${scan.damage.offset} (${scan.damage.reason})`,
        {
          segment: useBase.name,
          offset: scan.damage.offset,
        },
      );
    }
    index.tx(() => {
      const id = index.insertSegment(
        useBase.name,
        SegmentKind.base,
        useBase.firstSeq,
        useBase.firstSeq,
        scan.validEnd,
      );
      scan.records.forEach(({ record, offset }, ord) => {
        index.indexRecord(record, { segmentId: id, offset }, ord);
      });
      baseSeq = useBase.firstSeq;
      maxSeq = Math.max(maxSeq, baseSeq);
      index.setMeta("baseSeq", String(baseSeq));
      if (scan.records.length > 0)
        index.insertBatch(baseSeq, baseSeq, id, HEADER_BYTES, scan.validEnd);
    });
  }

  const lastLog = logs[logs.length - 1]?.name;
  for (const seg of logs) {
    const path = join(dir, seg.name);
    const row = known.get(seg.name);
    const newest = seg.name === lastLog;
    const size = row ? (await stat(path)).size : null;
    const first = decideLogSegment({
      committedBytes: row ? row.bytes : null,
      size,
      newest,
      scan: null,
    });
    if (first.action === "keep") continue;
    if (first.action === "fail") {
      throw new CorruptionError(
        `segment ${seg.name} is ${size} bytes but ${row?.bytes} were committed`,
        {
          segment: seg.name,
          offset: size ?? 0,
        },
      );
    }
    const scan = await scanSegment(path, row ? row.bytes : HEADER_BYTES);
    const floor = Math.max(maxSeq, baseSeq);
    const fresh = scan.records.filter((r) => r.record.seq > floor);
    const decision = decideLogSegment({
      committedBytes: row ? row.bytes : null,
      size,
      newest,
      scan: {
        fileSize: scan.fileSize,
        validEnd: scan.validEnd,
        damaged: scan.damage !== null,
        records: scan.records.length,
        fresh: fresh.length,
      },
    });
    if (decision.action === "fail") {
      if (decision.why === "bad-header" || !scan.damage) {
        throw new CorruptionError(`segment ${seg.name} has a bad header`, {
          segment: seg.name,
          offset: 0,
        });
      }
      throw new CorruptionError(
        `segment ${seg.name} is damaged at offset ${scan.damage.offset} (${scan.damage.reason})`,
        {
          segment: seg.name,
          offset: scan.damage.offset,
          hint: "run `pvjournal verify` for a full report",
        },
      );
    }
    if (decision.action === "remove" && decision.why === "unfinished-create") {
      await unlink(path);
      continue;
    }
    if (decision.action !== "keep" && decision.action !== "scan" && decision.truncateFirst) {
      log.warn(
        { segment: seg.name, offset: scan.damage?.offset, reason: scan.damage?.reason },
        "truncating torn tail",
      );
      await truncate(path, scan.validEnd);
      await fsyncFile(path);
    }
    if (decision.action === "remove") {
      log.warn({ segment: seg.name }, "removing leftover segment whose records are all covered");
      await unlink(path);
      continue;
    }
    index.tx(() => {
      const id =
        row?.id ??
        index.insertSegment(seg.name, seg.kind, seg.firstSeq, seg.firstSeq - 1, HEADER_BYTES);
      for (const { record, offset } of scan.records) {
        if (record.seq > floor) index.indexRecord(record, { segmentId: id, offset }, 0);
        // Blocks stored before the base may still back live writes.
        else if (record.type === "blob")
          index.indexBlobLocation(record.hash, id, offset, storedBlobLen(record));
      }
      const firstFresh = fresh[0];
      if (firstFresh) {
        maxSeq = fresh[fresh.length - 1]!.record.seq;
        index.insertBatch(firstFresh.record.seq, maxSeq, id, firstFresh.offset, scan.validEnd);
      }
      index.updateSegment(id, Math.max(maxSeq, row?.last_seq ?? 0), scan.validEnd);
    });
  }
}

/** The block size recorded in the segment headers (for an index rebuild), or null. */
export async function blockSizeFromSegments(dir: string): Promise<string | null> {
  const names = existsSync(dir) ? await readdir(dir) : [];
  for (const n of names.filter((x) => parseSegmentFileName(x) !== null)) {
    const h = await readSegmentHeader(join(dir, n)).catch(() => null);
    if (h && h.blockSize > 0) return String(h.blockSize);
  }
  return null;
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, "r+");
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
