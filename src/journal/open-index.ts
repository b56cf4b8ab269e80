/**
 * The first steps of Journal.open: the directory, the writer's lock (unless
 * read-only) and the SQLite index (the lock is released again when the index
 * cannot be opened), the block size and the index's identity.
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { CorruptionError, ErrorCode, PvjError } from "../errors.js";
import { JournalIndex } from "./index-db.js";
import { releaseLock, takeLock } from "./lock.js";
import { DEFAULT_BLOCK_SIZE, INDEX_FILE, type JournalOptions } from "./options.js";
import { blockSizeFromSegments } from "./recovery.js";

/** Opens (creating unless read-only) the index of the journal at `opts.dir`, under its lock. */
export async function openLockedIndex(opts: JournalOptions): Promise<JournalIndex> {
  if (opts.readOnly) {
    if (!existsSync(join(opts.dir, INDEX_FILE))) {
      throw new PvjError(ErrorCode.NOT_FOUND, `no journal at ${opts.dir} (missing ${INDEX_FILE})`, {
        path: opts.dir,
      });
    }
  } else {
    await mkdir(opts.dir, { recursive: true });
    await takeLock(opts.dir);
  }
  const indexPath = join(opts.dir, INDEX_FILE);
  const fresh = !existsSync(indexPath);
  try {
    return new JournalIndex(indexPath, fresh);
  } catch (err) {
    if (!opts.readOnly) await releaseLock(opts.dir);
    throw new CorruptionError(
      `cannot open index ${indexPath}: ${(err as Error).message}`,
      { path: indexPath, hint: "delete index.db to rebuild it from the segments" },
      err,
    );
  }
}

/** The journal's block size: the one it holds (index or segment headers), else the configured one. */
export async function journalBlockSize(index: JournalIndex, opts: JournalOptions): Promise<number> {
  const stored = index.getMeta("blockSize") ?? (await blockSizeFromSegments(opts.dir));
  const blockSize = stored ? Number(stored) : (opts.blockSize ?? DEFAULT_BLOCK_SIZE);
  if (stored && opts.blockSize !== undefined && opts.blockSize !== blockSize) {
    opts.logger?.warn(
      { configured: opts.blockSize, stored: blockSize },
      "journal.blockSize differs from the journal's; using the journal's",
    );
  }
  return blockSize;
}

/** Records what a new journal's index lacks: its id and block size. */
export function initMeta(index: JournalIndex, blockSize: number): void {
  // Identifies this journal's history: a replica refuses a stream from a
  // different journal (a sidecar whose journal was lost and started anew).
  if (index.getMeta("journalId") === null) index.setMeta("journalId", randomUUID());
  if (index.getMeta("blockSize") === null) index.setMeta("blockSize", String(blockSize));
}
