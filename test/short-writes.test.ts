/** writeAll / writevAll finish short writes (legal for any write) instead of dropping the rest. */
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeAll, writevAll } from "../src/util/fs.js";
import { tmpDir } from "./helpers/index.js";

type Handle = Awaited<ReturnType<typeof open>>;

/** A real file handle whose writes stop after at most `cap` bytes, as a kernel may. */
function capped(fh: Handle, cap: number): Handle {
  const h = Object.create(fh) as Handle;
  h.write = ((buf: Buffer, off: number, len: number, pos: number) =>
    fh.write(buf, off, Math.min(len, cap), pos)) as Handle["write"];
  h.writev = ((bufs: Buffer[], pos: number) =>
    fh
      .write(
        Buffer.concat(bufs).subarray(0, cap),
        0,
        Math.min(cap, Buffer.concat(bufs).length),
        pos,
      )
      .then((r) => ({ bytesWritten: r.bytesWritten, buffers: bufs }))) as Handle["writev"];
  return h;
}

describe("short writes", () => {
  it("writeAll and writevAll loop until every byte is on disk", async () => {
    const dir = await tmpDir();
    const data = Buffer.from("0123456789abcdefghijklmnopqrstuvwxyz");
    const fh = await open(join(dir, "f"), "w+");
    try {
      await writeAll(capped(fh, 5), data, 3);
      await writevAll(capped(fh, 7), [data.subarray(0, 10), data.subarray(10)], 3 + data.length);
    } finally {
      await fh.close();
    }
    const got = await readFile(join(dir, "f"));
    expect(got.subarray(3, 3 + data.length)).toEqual(data);
    expect(got.subarray(3 + data.length)).toEqual(data);
  });

  it("a write that makes no progress is an error, not a hang", async () => {
    const dir = await tmpDir();
    const fh = await open(join(dir, "f"), "w+");
    try {
      await expect(writeAll(capped(fh, 0), Buffer.from("x"), 0)).rejects.toThrow(/no progress/);
    } finally {
      await fh.close();
    }
  });
});
