import { type FileHandle, open } from "node:fs/promises";

/**
 * fsyncs a directory so that a file created, renamed or removed in it survives
 * a machine crash (the entry lives in the directory, not in the file).
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** What is left of `buffers` after a (possibly short) writev wrote `written` bytes of them. */
export function unwritten(buffers: readonly Buffer[], written: number): Buffer[] {
  let n = written;
  const rest: Buffer[] = [];
  for (const b of buffers) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    rest.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return rest;
}

/**
 * Writes all of `data` at `position`, looping over short writes (legal for
 * any write, e.g. near ENOSPC or on some network filesystems); a write that
 * makes no progress is an error rather than an endless loop.
 */
export async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`write made no progress at offset ${position + done}`);
    done += bytesWritten;
  }
}

/** writev of all of `buffers` at `position`, looping over short writes like writeAll. */
export async function writevAll(
  fh: FileHandle,
  buffers: readonly Buffer[],
  position: number,
): Promise<void> {
  let rest = [...buffers];
  let pos = position;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, pos);
    if (bytesWritten <= 0) throw new Error(`writev made no progress at offset ${pos}`);
    pos += bytesWritten;
    rest = unwritten(rest, bytesWritten);
  }
}
