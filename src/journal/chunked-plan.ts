/**
 * A restore plan whose large files get their blocks planned in chunks while
 * they are written, instead of all before the first write.
 *
 * Why: a whole plan of a 128 MiB file of 4 KiB blocks is 32k planned blocks
 * (each an object, a location and a hash Buffer) that all live until the
 * file is written, so every young-generation GC during planning copies them
 * (three scavenges of 24-63 ms in that restore, --trace-gc). Planned a chunk
 * at a time, each chunk's objects are dropped once its blocks are written.
 *
 * Consistency: each chunk is read in its own read transaction. The caller
 * holds a pin on the point (pins.ts), so retention keeps every row at or
 * below it; rows appended meanwhile are above the point and not read; a
 * blob that retention moved is found again by the reader (block-reader.ts).
 */
import { fileBlockRange } from "./build-plan.js";
import type { Journal } from "./journal.js";
import type { PlannedBlock, PlannedEntry, Shrink } from "./plan.js";
import type { ResolvedPoint } from "./points.js";

/** Blocks per chunk: 1024 x 4 KiB blocks = 4 MiB of file per chunk (64 MiB at 64 KiB blocks). */
export const CHUNK_BLOCKS = 1024;

/** Consecutive planned ranges of a file and the file bytes they span (holes included). */
export interface PlannedChunk {
  readonly blocks: readonly PlannedBlock[];
  readonly bytes: number;
}

/** Block ranges [from, to) of `chunkBlocks` blocks covering `nBlocks` blocks, in order. Pure. */
export function chunkRanges(nBlocks: number, chunkBlocks: number): [number, number][] {
  if (!Number.isInteger(chunkBlocks) || chunkBlocks < 1)
    throw new RangeError(`chunkBlocks must be a positive integer, got ${chunkBlocks}`);
  const out: [number, number][] = [];
  for (let from = 0; from < nBlocks; from += chunkBlocks)
    out.push([from, Math.min(nBlocks, from + chunkBlocks)]);
  return out;
}

/**
 * The planned blocks of file entry `e` at `point`, one chunk of blocks at a
 * time, each planned (one read transaction) when the caller asks for it.
 * Together they are exactly the blocks a whole plan holds for the file.
 */
export function* plannedChunks(
  journal: Journal,
  point: ResolvedPoint,
  e: Pick<PlannedEntry, "fileId" | "size">,
  chunkBlocks = CHUNK_BLOCKS,
): Generator<PlannedChunk> {
  const bs = journal.blockSize;
  let shrinks: readonly Shrink[] | null = null;
  for (const [from, to] of chunkRanges(Math.ceil(e.size / bs), chunkBlocks)) {
    const blocks = journal.index.tx(() => {
      shrinks ??= journal.index.shrinksUpTo(e.fileId, point.seq);
      return fileBlockRange(journal, point, e, from, to, shrinks);
    });
    yield { blocks, bytes: Math.min(e.size, to * bs) - from * bs };
  }
}

/** The materialiser's `chunked` option for the chunked entries of a plan at `point`. */
export function chunkedOption(
  journal: Journal,
  point: ResolvedPoint,
  entries: ReadonlySet<PlannedEntry>,
  chunkBlocks = CHUNK_BLOCKS,
): {
  entries: ReadonlySet<PlannedEntry>;
  chunks: (e: PlannedEntry) => Iterable<PlannedChunk>;
} {
  return { entries, chunks: (e) => plannedChunks(journal, point, e, chunkBlocks) };
}
