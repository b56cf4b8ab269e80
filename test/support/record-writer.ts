/**
 * A writer child process for intercept fault tests: appends self-checking
 * 8 KiB records to a few files, with an fsync every few records, until an
 * error stops it (as a dead mount does). Each record says which file and
 * which index it is, and its remaining bytes follow from those two, so any
 * restored file can be checked to be whole records 0..n-1 in order.
 */
import { type ChildProcess, spawn } from "node:child_process";

/** Bytes per record. */
export const RECORD = 8192;

/** The expected bytes of record `index` of file `file`. */
export function recordBytes(file: number, index: number): Buffer {
  const b = Buffer.alloc(RECORD);
  b.writeUInt32LE(file, 0);
  b.writeUInt32LE(index, 4);
  let x = (file * 2654435761 + index * 40503 + 1) >>> 0;
  for (let i = 8; i < RECORD; i += 4) {
    x = (x * 1664525 + 1013904223) >>> 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

/** Problems with a restored file's contents ([] when it is whole records 0..n-1). */
export function checkRecords(file: number, content: Buffer): string[] {
  if (content.length % RECORD !== 0)
    return [`f${file}: size ${content.length} is not whole records`];
  const out: string[] = [];
  for (let i = 0; i * RECORD < content.length; i++) {
    if (!content.subarray(i * RECORD, (i + 1) * RECORD).equals(recordBytes(file, i)))
      out.push(`f${file}: record ${i} is not record ${i}`);
  }
  return out;
}

// The child: node --input-type=module -e SCRIPT DIR FILES; prints "ERR <code>" when stopped by an error.
const SCRIPT = `
import { openSync, writeSync, fsyncSync, fstatSync } from "node:fs";
const [dir, nFiles] = process.argv.slice(1);
const RECORD = ${RECORD};
${recordBytes.toString()}
const fds = [];
const next = [];
try {
  for (let f = 0; f < Number(nFiles); f++) {
    const fd = openSync(dir + "/f" + f, "a+");
    fds.push(fd);
    next.push(Math.floor(fstatSync(fd).size / RECORD));
  }
  for (let n = 0; ; n++) {
    const f = n % fds.length;
    writeSync(fds[f], recordBytes(f, next[f]), 0, RECORD, next[f] * RECORD);
    next[f]++;
    if (n % 7 === 0) fsyncSync(fds[f]);
    if (n % 50 === 0) await new Promise((r) => setTimeout(r, 2));
  }
} catch (err) {
  console.log("ERR " + (err.code ?? err.message));
  process.exit(3);
}
`;

/** Starts a writer on `dir`; `done` resolves with the error code that stopped it. */
export function startWriter(
  dir: string,
  files = 3,
): { child: ChildProcess; done: Promise<string> } {
  const child = spawn(process.execPath, ["--input-type=module", "-e", SCRIPT, dir, String(files)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<string>((resolve) => {
    child.on("close", () => resolve(/ERR (\S+)/.exec(out)?.[1] ?? `exited: ${out.trim()}`));
  });
  return { child, done };
}
