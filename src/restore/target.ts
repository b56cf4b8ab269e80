import { lstat, readdir, realpath, rmdir } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { ErrorCode, isErrno, PvjError, RequestError } from "../errors.js";

/** Where a restore may write. */
export interface TargetPolicy {
  /** Targets must resolve strictly below one of these; null = anywhere (offline CLI). */
  readonly allowedRoots: readonly string[] | null;
  /** Live sources, the journal, the mirror: a target may not be in, at or above any of them. */
  readonly forbidden: readonly string[];
  /**
   * drills.sandboxRoot, which may equal or lie below a restore root: a target
   * may sit beside the sandboxes, but not in one (`drill-*` right below it),
   * nor at or above the root itself. Only the sandboxes are off limits.
   */
  readonly sandboxRoot?: string | null;
}

/** Drill sandboxes are `<drills.sandboxRoot>/drill-<id>` (src/drill/runner.ts). */
const SANDBOX_PREFIX = "drill-";

/** True when `p` equals `root` or lies below it (both absolute, normalised). */
function within(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Real path of `p`, following symlinks in every existing ancestor. */
async function realOf(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch (err) {
    if (!isErrno(err, "ENOENT") && !isErrno(err, "ENOTDIR")) throw err;
    const parent = dirname(p);
    if (parent === p) return p;
    return join(await realOf(parent), basename(p));
  }
}

/**
 * Checks a restore target before anything is written and returns its real
 * absolute path. Refuses `..` components, targets that resolve (after
 * following symlinks) outside the allowed roots, targets overlapping a live
 * source, the journal or the mirror, a target that is a symlink or a file,
 * and a non-empty directory.
 */
export async function checkTarget(
  target: string,
  policy: TargetPolicy,
  cwd = process.cwd(),
): Promise<string> {
  try {
    return await checkTargetUnsafe(target, policy, cwd);
  } catch (err) {
    // A path through a file (ENOTDIR), a symlink loop (ELOOP), a name too long
    // or a directory we may not read is a target we refuse, not an internal error.
    const code = (err as NodeJS.ErrnoException).code;
    if (
      code === "ENOTDIR" ||
      code === "ELOOP" ||
      code === "ENAMETOOLONG" ||
      code === "EACCES" ||
      code === "EPERM"
    ) {
      throw new RequestError(
        ErrorCode.TARGET_NOT_ALLOWED,
        `restore target ${target}: ${code} (${(err as Error).message})`,
        {
          path: target,
        },
      );
    }
    throw err;
  }
}

async function checkTargetUnsafe(
  target: string,
  policy: TargetPolicy,
  cwd = process.cwd(),
): Promise<string> {
  const notAllowed = (why: string) =>
    new RequestError(ErrorCode.TARGET_NOT_ALLOWED, `restore target ${target}: ${why}`, {
      path: target,
    });
  if (target.length === 0) throw notAllowed("empty path");
  if (target.split(/[\\/]/).includes(".."))
    throw notAllowed("'..' is not allowed in a target path");
  if (target.includes("\0")) throw notAllowed("NUL byte in path");
  const abs = isAbsolute(target) ? resolve(target) : resolve(cwd, target);
  const real = await realOf(abs);
  if (policy.allowedRoots !== null) {
    const roots = await Promise.all(policy.allowedRoots.map((r) => realOf(resolve(r))));
    if (!roots.some((root) => real !== root && within(real, root))) {
      throw notAllowed(
        roots.length === 0
          ? "restore.allowedRoots is empty: configure at least one root"
          : `it resolves to ${real}, which is not below restore.allowedRoots (${policy.allowedRoots.join(", ")})`,
      );
    }
  }
  for (const f of policy.forbidden) {
    const rf = await realOf(resolve(f));
    if (within(real, rf) || within(rf, real))
      throw notAllowed(`it overlaps ${rf}, which must never be written by a restore`);
  }
  if (policy.sandboxRoot) {
    const rs = await realOf(resolve(policy.sandboxRoot));
    if (within(rs, real))
      throw notAllowed(`it is or contains drills.sandboxRoot (${rs}); restore below it instead`);
    if (within(real, rs) && relative(rs, real).split(sep)[0]!.startsWith(SANDBOX_PREFIX))
      throw notAllowed(`it lies in a drill sandbox (${rs}/${SANDBOX_PREFIX}*), which drills own`);
  }
  let st: Awaited<ReturnType<typeof lstat>> | null = null;
  try {
    st = await lstat(abs);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
  if (st) {
    if (st.isSymbolicLink()) throw notAllowed("it is a symlink");
    if (!st.isDirectory())
      throw new RequestError(
        ErrorCode.TARGET_NOT_EMPTY,
        `restore target ${target} exists and is not a directory`,
        { path: target },
      );
    if ((await readdir(abs)).length > 0) {
      throw new RequestError(ErrorCode.TARGET_NOT_EMPTY, `restore target ${target} is not empty`, {
        path: target,
        hint: "choose a new directory; a restore never overwrites",
      });
    }
  }
  return real;
}

/** Infix of the hidden work directory a restore or a drill builds beside its target (apply.ts, drill/materialise.ts). */
export const PARTIAL_INFIX = ".pvj-partial-";

/**
 * The hidden work directories (`.<name>.pvj-partial-*`, full paths) that an
 * interrupted restore or drill into `target` left beside it: a kill -9 skips
 * their cleanup, and nothing else would ever reclaim their space. Remove them
 * only when nothing else is writing `target`.
 */
export async function stalePartials(target: string): Promise<string[]> {
  const prefix = `.${basename(target)}${PARTIAL_INFIX}`;
  const names = await readdir(dirname(target)).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(prefix)).map((n) => join(dirname(target), n));
}

/** True when one path is the other or lies below it (real absolute paths). */
export function overlaps(a: string, b: string): boolean {
  return within(a, b) || within(b, a);
}

// What the filesystem says about a target path a client made up: their problem, not ours.
const PATH_ERRNOS = ["ENOTDIR", "ENAMETOOLONG", "ELOOP", "EACCES", "EPERM", "EINVAL"];

/**
 * Turns a filesystem error met while checking a client's target path into
 * TARGET_NOT_ALLOWED (a 4xx: the path is unusable), passing anything else on.
 */
export function targetPathError(err: unknown, target: string): unknown {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  if (err instanceof PvjError || code === undefined || !PATH_ERRNOS.includes(code)) return err;
  return new RequestError(
    ErrorCode.TARGET_NOT_ALLOWED,
    `restore target ${target}: unusable path (${code})`,
    { path: target },
  );
}

/**
 * Removes the directories mkdir created, deepest first, up to and including
 * `top`, stopping at the first that is not empty (another job may share it).
 */
export async function removeEmptyChain(deepest: string, top: string): Promise<void> {
  for (let dir = deepest; ; dir = dirname(dir)) {
    try {
      await rmdir(dir);
    } catch {
      return;
    }
    if (dir === top || dirname(dir) === dir) return;
  }
}
