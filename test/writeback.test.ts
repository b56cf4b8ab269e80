/**
 * Early writeback of large files (restore/writeback.ts): fdatasyncs while a
 * file is written, at most one in flight, and an error of an early one is
 * not lost (Linux reports a writeback error once per descriptor).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Writeback } from "../src/restore/writeback.js";
import { tmpDir } from "./helpers/index.js";

describe("early writeback", () => {
  it("syncs every so many bytes while a file is written, and finish() waits for the one in flight", async () => {
    const dir = await tmpDir();
    const fd = openSync(join(dir, "f"), "w");
    try {
      const wb = new Writeback(fd, 64 * 1024);
      const block = Buffer.alloc(16 * 1024, 1);
      for (let i = 0; i < 64; i++) {
        writeSync(fd, block);
        wb.wrote(block.length);
      }
      await expect(wb.finish()).resolves.toBeUndefined();
    } finally {
      closeSync(fd);
    }
  });

  it("an early fdatasync's error is thrown by finish(), not lost", async () => {
    // A descriptor number no process has open: the early fdatasync fails (EBADF).
    const wb = new Writeback(2 ** 30, 1);
    wb.wrote(2);
    await expect(wb.finish()).rejects.toMatchObject({ code: "EBADF" });
    await expect(wb.settle()).resolves.toBeUndefined();
  });
});
