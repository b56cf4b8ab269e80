/**
 * The first step of Journal.open: the directory, the writer's lock (unless
 * read-only) and the SQLite index, with the lock released again when the
 * index cannot be opened.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { CorruptionError, ErrorCode, PvjError } from "../errors.js";
import { JournalIndex } from "./index-db.js";
import { releaseLock, takeLock } from "./lock.js";
import { INDEX_FILE, type JournalOptions } from "./options.js";

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
