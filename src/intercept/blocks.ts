/**
 * Which journal records a write, a truncate or a new hard link produces. A
 * write that covers part of a block journals the whole block as the volume
 * holds it once the write is applied, so restore, retention, the stream and
 * drills see the same block records as from watch capture. Reading the rest
 * of a block back is the caller's (readBlock, from the page cache).
 */
import type { RecordBody } from "../journal/records.js";

/** Reads `len` bytes of the file at `offset`; may return fewer at end of file. */
export type ReadBlock = (offset: number, len: number) => Buffer;

/** Hashes one block (xxh3-128). */
export type Hash = (data: Uint8Array) => Buffer;

/**
 * Records for `data` written at `offset` of a file with identities
 * `fileIds`, size `sizeBefore` before the write: blob + write per touched
 * block and identity, then size if the file grew. Blocks fully covered by the
 * write are slices of `data`, not copies: the caller hands over a buffer that
 * nothing reuses (each FUSE request has its own).
 */
export function writeRecords(
  fileIds: readonly number[],
  offset: number,
  data: Buffer,
  sizeBefore: number,
  blockSize: number,
  readBlock: ReadBlock,
  hash: Hash,
): RecordBody[] {
  const out: RecordBody[] = [];
  if (fileIds.length === 0 || data.length === 0) return out;
  const end = offset + data.length;
  const sizeAfter = Math.max(sizeBefore, end);
  for (let b = Math.floor(offset / blockSize); b * blockSize < end; b++) {
    const bStart = b * blockSize;
    const bEnd = Math.min(bStart + blockSize, sizeAfter);
    const block =
      offset <= bStart && end >= bEnd
        ? data.subarray(bStart - offset, bEnd - offset)
        : readBlock(bStart, bEnd - bStart);
    pushBlock(out, fileIds, b, block, hash);
  }
  if (sizeAfter !== sizeBefore) {
    for (const fileId of fileIds) out.push({ type: "size", fileId, size: sizeAfter });
  }
  return out;
}

/**
 * Records for a truncate to `size`: the size, and the block that now ends
 * inside it (its tail is gone; a later growth must read zeros there).
 */
export function truncateRecords(
  fileIds: readonly number[],
  size: number,
  blockSize: number,
  readBlock: ReadBlock,
  hash: Hash,
): RecordBody[] {
  const out: RecordBody[] = [];
  if (fileIds.length === 0) return out;
  const tail = size % blockSize;
  if (tail !== 0) {
    const b = Math.floor(size / blockSize);
    pushBlock(out, fileIds, b, readBlock(b * blockSize, tail), hash);
  }
  for (const fileId of fileIds) out.push({ type: "size", fileId, size });
  return out;
}

/**
 * Records that give a new identity the whole contents of a file of `size`
 * bytes (a hard link, or a file found behind the mount's back). All-zero
 * blocks are skipped: they restore as holes, which read as zeros.
 */
export function copyRecords(
  fileId: number,
  size: number,
  blockSize: number,
  readBlock: ReadBlock,
  hash: Hash,
): RecordBody[] {
  const out: RecordBody[] = [];
  for (let b = 0; b * blockSize < size; b++) {
    const block = readBlock(b * blockSize, Math.min(blockSize, size - b * blockSize));
    if (isZero(block)) continue;
    pushBlock(out, [fileId], b, block, hash);
  }
  out.push({ type: "size", fileId, size });
  return out;
}

function pushBlock(
  out: RecordBody[],
  fileIds: readonly number[],
  block: number,
  data: Buffer,
  hash: Hash,
): void {
  const h = hash(data);
  out.push({ type: "blob", hash: h, data });
  for (const fileId of fileIds) {
    out.push({ type: "write", fileId, block, len: data.length, hash: h });
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
