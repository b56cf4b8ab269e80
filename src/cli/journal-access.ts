/**
 * How offline commands (restore, checkpoints, verify, diff) open a journal
 * directory. The journal (SQLite) and the logger are imported on first use,
 * not when the CLI starts: `--help` and the daemon commands do not load them
 * (see program.ts).
 */

import { readdir } from "node:fs/promises";
import { ErrorCode, PvjError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import { INDEX_FILE } from "../journal/options.js";
import { parseSegmentFileName } from "../journal/segment-format.js";

/**
 * Opens a journal for a tool. When no daemon holds it (the usual case at
 * 3 a.m.: the daemon is what died) it is opened normally, which also recovers
 * a torn tail and indexes fsynced records whose index commit was lost. When a
 * running daemon holds the lock it is opened read-only instead: the tool then
 * sees everything the daemon has committed.
 */
export async function openForTool(dir: string): Promise<{ journal: Journal; readOnly: boolean }> {
  // A typo in --journal must not create an empty journal and report "no checkpoints".
  const names = await readdir(dir).catch(() => null);
  if (!names?.some((n) => n === INDEX_FILE || parseSegmentFileName(n) !== null)) {
    throw new PvjError(ErrorCode.NOT_FOUND, `no journal at ${dir}`, {
      path: dir,
      hint: "--journal must name the journal.dir of a sidecar or replica",
    });
  }
  const [{ Journal }, { toolLogger }] = await Promise.all([
    import("../journal/journal.js"),
    import("./tool-logger.js"),
  ]);
  const logger = toolLogger();
  try {
    return { journal: await Journal.open({ dir, logger }), readOnly: false };
  } catch (err) {
    if (!(err instanceof PvjError) || err.code !== ErrorCode.JOURNAL_LOCKED) throw err;
    logger.info({ dir }, "journal in use by a running daemon: opening read-only");
    return { journal: await Journal.open({ dir, logger, readOnly: true }), readOnly: true };
  }
}
