/**
 * Pure: the directories pvjournal owns must not nest inside each other. A
 * journal inside a source would journal its own writes forever; a mirror or a
 * restore root inside a source would let a restore overwrite live data.
 * validate.ts runs this on the configured paths, load.ts again on real paths
 * (symlinks resolved) when it may touch the filesystem.
 */
import path from "node:path";
import type { Origin, Reporter } from "./report.js";

/** What a directory is used for. */
export type PathUse = "source" | "mountPoint" | "journal" | "mirror" | "sandbox" | "allowedRoot";

/** One configured directory. */
export interface PathEntry {
  readonly use: PathUse;
  /** Dotted key to name in messages (`journal.dir`, `sources[0].path`). */
  readonly key: string;
  readonly origin: Origin;
  /** Absolute path that is compared. */
  readonly path: string;
  /** The configured path, when `path` is its real path and differs. */
  readonly configured?: string;
}

/** True when `child` is `parent` or lies below it (both absolute and normalised). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

// Sources, the journal and the mirror are owned trees: nothing may nest with
// them. Drill sandboxes may sit below a restore root on purpose (the contract's
// replica example has sandboxRoot /drills and allowedRoots [/restore, /drills]).
const OWNED: ReadonlySet<PathUse> = new Set(["source", "mountPoint", "journal", "mirror"]);

function mayOverlap(a: PathUse, b: PathUse): boolean {
  return !OWNED.has(a) && !OWNED.has(b);
}

/** Throws (naming the later key) when two directories that must be disjoint overlap. */
export function checkOverlaps(entries: readonly PathEntry[], report: Reporter): void {
  for (let j = 0; j < entries.length; j++) {
    for (let i = 0; i < j; i++) {
      const a = entries[i]!;
      const b = entries[j]!;
      if (mayOverlap(a.use, b.use)) continue;
      const relation =
        a.path === b.path
          ? "is the same directory as"
          : isInside(b.path, a.path)
            ? "is inside"
            : isInside(a.path, b.path)
              ? "contains"
              : null;
      if (relation === null) continue;
      report.fail(
        b.key,
        b.origin,
        `${show(b)} ${relation} ${a.key} ${show(a)}`,
        "sources, the journal, the mirror, drill sandboxes and restore roots must not overlap",
      );
    }
  }
}

function show(e: PathEntry): string {
  return e.configured !== undefined && e.configured !== e.path
    ? `(${e.configured}, really ${e.path})`
    : `(${e.path})`;
}
