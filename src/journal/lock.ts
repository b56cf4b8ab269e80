/**
 * One writer per journal directory. The lock is taken atomically with
 * O_CREAT|O_EXCL (`wx`): of two processes racing for a free journal exactly
 * one wins. The file holds the owner's pid; a lock whose pid is gone (kill -9)
 * or is our own (a container restarted as pid 1) is stale and taken over,
 * under a second O_EXCL file (`LOCK.takeover`) so that two processes that
 * both saw the same stale lock cannot both take it: the one that loses the
 * takeover re-reads the lock and finds the winner alive.
 */
import { open, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, isErrno, PvjError } from "../errors.js";

/** Lock file name inside a journal directory. */
export const LOCK_FILE = "LOCK";
const TAKEOVER_FILE = "LOCK.takeover";
/** A takeover file older than this (ms) was left by a process that died mid-takeover. */
const TAKEOVER_STALE_MS = 10_000;

function locked(dir: string, pid: number | null): PvjError {
  return new PvjError(
    ErrorCode.JOURNAL_LOCKED,
    pid === null
      ? `journal ${dir} is being locked by another process`
      : `journal ${dir} is in use by process ${pid}`,
    { path: dir, hint: "stop that process, or use a read-only command" },
  );
}

/** Creates `path` holding our pid, only if it does not exist; false when it does. */
async function createExclusive(path: string): Promise<boolean> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "wx", 0o644);
  } catch (err) {
    if (isErrno(err, "EEXIST")) return false;
    throw err;
  }
  try {
    const text = Buffer.from(`${process.pid}\n`);
    const { bytesWritten } = await fh.write(text, 0, text.length, 0);
    if (bytesWritten !== text.length) throw new Error(`short write to ${path}`);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  return true;
}

async function ownerOf(path: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(path, "utf8")).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return null;
    throw err;
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, "EPERM");
  }
}

/** Takes the journal's lock or throws JOURNAL_LOCKED. */
export async function takeLock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  if (await createExclusive(path)) return;
  const seen = await ownerOf(path);
  if (seen !== null && alive(seen)) throw locked(dir, seen);
  // Stale (or unreadable, e.g. a torn write): take it over, one process at a time.
  const takeover = join(dir, TAKEOVER_FILE);
  if (!(await createExclusive(takeover))) {
    const st = await stat(takeover).catch(() => null);
    if (st && Date.now() - st.mtimeMs > TAKEOVER_STALE_MS) await rm(takeover, { force: true });
    throw locked(dir, null);
  }
  try {
    const now = await ownerOf(path);
    if (now !== seen && now !== null && alive(now)) throw locked(dir, now);
    await rm(path, { force: true });
    if (!(await createExclusive(path))) throw locked(dir, await ownerOf(path));
  } finally {
    await rm(takeover, { force: true });
  }
}

/** Releases the lock if this process holds it. */
export async function releaseLock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  if ((await ownerOf(path)) === process.pid) await rm(path, { force: true });
}
