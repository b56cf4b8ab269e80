import { open } from "node:fs/promises";

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
