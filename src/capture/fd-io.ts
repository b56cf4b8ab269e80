/**
 * The few descriptor calls the file reader makes, as promises over the
 * callback API on a raw fd. `fs/promises` FileHandles cost a class instance,
 * a close finalizer and extra promise hops per file: at 100k files of 1-8 KiB
 * they were ~1/3 of the main thread's time of the initial scan (CPU profile,
 * open + fstat + read + close of the handle).
 */
import { close, constants, fstat, open, read, type Stats } from "node:fs";

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

/** Opens `path` read-only without following a final symlink. */
export function openRead(path: string): Promise<number> {
  return new Promise((resolve, reject) =>
    open(path, READ_FLAGS, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
}

export function fstatFd(fd: number): Promise<Stats> {
  return new Promise((resolve, reject) =>
    fstat(fd, (err, st) => (err ? reject(err) : resolve(st))),
  );
}

/** One read(2) at `position`; resolves with the bytes read (0 at EOF). */
export function readAt(
  fd: number,
  buf: Buffer,
  offset: number,
  len: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, buf, offset, len, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => close(fd, (err) => (err ? reject(err) : resolve())));
}
