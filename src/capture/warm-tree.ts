/**
 * The journal's view of every source as a KnownTree: where capture starts
 * after a restart, and what it returns to after a failed append.
 */
import type { Journal } from "../journal/journal.js";
import { knownState } from "../journal/state.js";
import { KnownTree, type Tracked } from "./known-tree.js";
import type { SourceMap } from "./sources.js";

/**
 * After a restart we do not know when each file was last read; files whose
 * mtime is within this window of the journal's newest record are re-read
 * (racily-clean rule across restarts). 60 s covers a crash right after a read.
 */
export const RESTART_RACY_WINDOW_MS = 60_000;

/** The journal's view as a KnownTree; inode facts carried over from `prev` where the identity matches. */
export function warmTree(journal: Journal, sources: SourceMap, prev: KnownTree | null): KnownTree {
  const tree = new KnownTree();
  const readAt = journal.lastTs - RESTART_RACY_WINDOW_MS;
  for (const [path, e] of knownState(journal)) {
    if (!sources.knows(path)) continue;
    const old: Tracked | undefined = prev?.get(path);
    if (old && old.fileId === e.fileId && old.kind === e.kind) {
      const { dev, ino, ctimeMs } = old;
      tree.set(path, {
        ...e,
        ...(dev !== undefined && ino !== undefined ? { dev, ino } : {}),
        ...(ctimeMs !== undefined ? { ctimeMs } : {}),
        readAt: old.readAt,
      });
    } else tree.set(path, { ...e, readAt });
  }
  return tree;
}
