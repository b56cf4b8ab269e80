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
