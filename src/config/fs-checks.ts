/**
 * The filesystem half of validation, kept out of the pure validator: sources
 * must be existing directories, files a daemon reads at start must exist, and
 * the overlap rules are checked again on real paths, because /data/j and
 * /journal can be the same directory through a symlink.
 */
import fs from "node:fs";
import path from "node:path";
import { isErrno } from "../errors.js";
import { checkOverlaps, type PathEntry } from "./overlap.js";
import type { Reporter } from "./report.js";
import type { Role } from "./schema.js";
import type { Validated } from "./validate.js";

/** Options of checkFilesystem. */
export interface FsCheckOptions {
  readonly role: Role;
  /** mkdir -p sources that do not exist instead of rejecting them (the default config's ./data). */
  readonly createMissingSources: boolean;
}

/**
 * Checks what only the filesystem can tell. Tools (role "tool") skip the
 * existence checks: an offline restore runs where the sources and the
 * daemon's secrets may not exist (the daemon may be the thing that died).
 */
export function checkFilesystem(v: Validated, options: FsCheckOptions, report: Reporter): void {
  const daemon = options.role !== "tool";
  for (const entry of v.paths) {
    if (entry.use === "source" && options.role === "sidecar") {
      checkSourceDir(entry, options.createMissingSources, report);
    } else if (entry.use === "mountPoint") {
      // Checked and created by the intercept capture itself: a mount left by a
      // killed sidecar answers ENOTCONN here and is cleaned up at start.
    } else if (daemon) {
      // The journal, mirror and sandboxes are created on demand, but a
      // regular file in their place is a mistake worth reporting now.
      const st = statOrNull(entry.path, entry, report);
      if (st !== null && !st.isDirectory())
        report.fail(entry.key, entry.origin, `${entry.path} is not a directory`);
    }
  }
  if (daemon) {
    for (const file of v.files) {
      const st = statOrNull(file.path, file, report);
      if (st === null) report.fail(file.key, file.origin, `${file.path} does not exist`);
      if (!st.isFile()) report.fail(file.key, file.origin, `${file.path} is not a regular file`);
    }
  }
  checkOverlaps(
    v.paths.map((e) => ({ ...e, path: realPath(e.path), configured: e.path })),
    report,
  );
}

function checkSourceDir(entry: PathEntry, create: boolean, report: Reporter): void {
  let st = statOrNull(entry.path, entry, report);
  if (st === null && create) {
    try {
      fs.mkdirSync(entry.path, { recursive: true });
    } catch (err) {
      report.fail(
        entry.key,
        entry.origin,
        `cannot create ${entry.path}: ${(err as Error).message}`,
      );
    }
    st = statOrNull(entry.path, entry, report);
  }
  if (st === null) report.fail(entry.key, entry.origin, `${entry.path} does not exist`);
  if (!st.isDirectory()) report.fail(entry.key, entry.origin, `${entry.path} is not a directory`);
}

function statOrNull(
  p: string,
  at: Pick<PathEntry, "key" | "origin">,
  report: Reporter,
): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return null;
    return report.fail(at.key, at.origin, `cannot access ${p}: ${(err as Error).message}`);
  }
}

/** The real path of `p`: its deepest existing ancestor with symlinks resolved, plus the rest. */
export function realPath(p: string): string {
  let existing = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync.native(existing), ...rest.reverse());
    } catch {
      const parent = path.dirname(existing);
      if (parent === existing) return p;
      rest.push(path.basename(existing));
      existing = parent;
    }
  }
}
