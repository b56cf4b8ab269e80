/** Pure parts of intercept mode: the FUSE codec, block records, the namespace and the ordered write log. */
import { describe, expect, it } from "vitest";
import { copyRecords, truncateRecords, writeRecords } from "../src/intercept/blocks.js";
import { Namespace } from "../src/intercept/namespace.js";
import {
  ATTR_OUT_BYTES,
  decodeHeader,
  decodeSetattr,
  direntBytes,
  ENTRY_OUT_BYTES,
  encodeDirents,
  encodeEntry,
  encodeInitOut,
  Fattr,
} from "../src/intercept/protocol.js";
import { WriteLog } from "../src/intercept/write-log.js";
import type { Journal } from "../src/journal/journal.js";
import type { RecordBody } from "../src/journal/records.js";

const attr = {
  ino: 77,
  size: 5000,
  blocks: 16,
  atimeMs: 1000.5,
  mtimeMs: 2250,
  ctimeMs: 3000,
  mode: 0o100644,
  nlink: 2,
  uid: 101,
  gid: 104,
  rdev: 0,
  blksize: 4096,
};

describe("FUSE codec (fuse.h 7.38 layouts)", () => {
  it("entry_out is 128 bytes: nodeid, generation, validity, then fuse_attr at 40", () => {
    const b = encodeEntry(9, 0, attr, 1000, 1500);
    expect(b.length).toBe(ENTRY_OUT_BYTES);
    expect(b.length).toBe(128);
    expect(b.readBigUInt64LE(0)).toBe(9n);
    expect(b.readBigUInt64LE(16)).toBe(1n); // entry_valid seconds
    expect(b.readUInt32LE(36)).toBe(500e6); // attr_valid_nsec
    expect(b.readBigUInt64LE(40)).toBe(77n); // attr.ino
    expect(b.readBigUInt64LE(48)).toBe(5000n); // attr.size
    expect(b.readBigUInt64LE(72)).toBe(2n); // mtime seconds
    expect(b.readUInt32LE(40 + 52)).toBe(250e6); // mtimensec
    expect(b.readUInt32LE(40 + 60)).toBe(0o100644); // mode
    expect(b.readUInt32LE(40 + 68)).toBe(101); // uid
    expect(ATTR_OUT_BYTES).toBe(104);
  });

  it("init_out is 64 bytes with max_write at 20 and max_pages at 28", () => {
    const b = encodeInitOut({
      maxReadahead: 131072,
      flags: 5,
      maxBackground: 64,
      maxWrite: 1 << 20,
      maxPages: 256,
    });
    expect(b.length).toBe(64);
    expect([b.readUInt32LE(0), b.readUInt32LE(4)]).toEqual([7, 38]);
    expect(b.readUInt32LE(20)).toBe(1 << 20);
    expect(b.readUInt16LE(28)).toBe(256);
  });

  it("decodes the request header and setattr_in", () => {
    const h = Buffer.alloc(40);
    h.writeUInt32LE(120, 0);
    h.writeUInt32LE(4, 4);
    h.writeBigUInt64LE(99n, 8);
    h.writeBigUInt64LE(3n, 16);
    h.writeUInt32LE(101, 24);
    expect(decodeHeader(h)).toMatchObject({
      len: 120,
      opcode: 4,
      unique: 99n,
      nodeid: 3,
      uid: 101,
    });
    const s = Buffer.alloc(88);
    s.writeUInt32LE(Fattr.SIZE | Fattr.MODE, 0);
    s.writeBigUInt64LE(4n * 1024n ** 3n, 16);
    s.writeBigUInt64LE(7n, 40);
    s.writeUInt32LE(5e8, 60);
    s.writeUInt32LE(0o640, 68);
    expect(decodeSetattr(s)).toMatchObject({
      valid: Fattr.SIZE | Fattr.MODE,
      size: 4 * 1024 ** 3,
      mtimeMs: 7500,
      mode: 0o640,
    });
  });

  it("dirents are padded to 8, carry the next cookie and stop at the size limit", () => {
    const names = ["a", "bbbbbbbbb", "c"].map((n, i) => ({
      ino: i + 1,
      name: Buffer.from(n),
      type: 8,
    }));
    expect(direntBytes(1)).toBe(32);
    expect(direntBytes(9)).toBe(40);
    const all = encodeDirents(names, 0, 4096);
    expect(all.length).toBe(32 + 40 + 32);
    expect(all.readBigUInt64LE(8)).toBe(1n);
    expect(all.readBigUInt64LE(32 + 8)).toBe(2n);
    expect(encodeDirents(names, 0, 71).length).toBe(32);
    expect(encodeDirents(names, 2, 4096).readBigUInt64LE(8)).toBe(3n);
  });
});

const hash = (d: Uint8Array) =>
  Buffer.from(d.subarray(0, 16)).fill(d.length % 256, Math.min(16, d.length));

describe("block records", () => {
  const types = (r: RecordBody[]) =>
    r.map((x) =>
      x.type === "write"
        ? `w${x.fileId}:${x.block}:${x.len}`
        : x.type === "size"
          ? `s${x.size}`
          : x.type,
    );

  it("a partial write journals the whole block as read back; a full block comes from the data", () => {
    const reads: [number, number][] = [];
    const read = (o: number, l: number) => {
      reads.push([o, l]);
      return Buffer.alloc(l, 7);
    };
    // bytes 100..8292 of a 10000-byte file with 4 KiB blocks: block 0 partial, 1 full, 2 partial.
    const r = writeRecords([5], 100, Buffer.alloc(8192, 1), 10_000, 4096, read, hash);
    expect(types(r)).toEqual(["blob", "w5:0:4096", "blob", "w5:1:4096", "blob", "w5:2:1808"]);
    expect(reads).toEqual([
      [0, 4096],
      [8192, 1808],
    ]);
  });

  it("growth adds a size record per identity (hard links), the last block is short", () => {
    const r = writeRecords(
      [1, 2],
      4096,
      Buffer.alloc(10, 3),
      4096,
      4096,
      (_o, l) => Buffer.alloc(l),
      hash,
    );
    expect(types(r)).toEqual(["blob", "w1:1:10", "w2:1:10", "s4106", "s4106"]);
  });

  it("truncate journals the block it now ends in; a copy skips zero blocks", () => {
    expect(types(truncateRecords([4], 5000, 4096, (_o, l) => Buffer.alloc(l, 1), hash))).toEqual([
      "blob",
      "w4:1:904",
      "s5000",
    ]);
    expect(types(truncateRecords([4], 8192, 4096, () => Buffer.alloc(0), hash))).toEqual(["s8192"]);
    const copy = copyRecords(9, 9000, 4096, (o, l) => Buffer.alloc(l, o === 4096 ? 0 : 2), hash);
    expect(types(copy)).toEqual(["blob", "w9:0:4096", "blob", "w9:2:808", "s9000"]);
  });
});

describe("namespace", () => {
  it("renames a subtree, replaces the target and keeps hard links in step", () => {
    let id = 0;
    const ns = new Namespace("data", () => ++id);
    ns.create("d", "dir");
    const f = ns.create("d/f", "file").fileId;
    ns.create("x", "file");
    ns.addLink(50, "d/f");
    ns.addLink(50, "x");
    expect(ns.rename("d", "e")).toEqual([{ type: "rename", from: "data/d", to: "data/e" }]);
    expect(ns.get("e/f")?.fileId).toBe(f);
    expect(ns.get("d/f")).toBeUndefined();
    expect([...ns.pathsOf(50, "x")].sort()).toEqual(["e/f", "x"]);
    expect(ns.remove("e")).toEqual([{ type: "unlink", path: "data/e" }]);
    expect(ns.get("e/f")).toBeUndefined();
    expect([...ns.pathsOf(50, "x")]).toEqual(["x"]);
    expect(ns.create("x", "dir").records.map((r) => r.type)).toEqual(["unlink", "link"]);
  });
});

describe("ordered write log", () => {
  it("keeps a refused batch in front, refuses new writes with ENOSPC, then catches up in order", async () => {
    const appended: RecordBody[][] = [];
    let fail = 1;
    const journal = {
      append: async (batch: RecordBody[], _opts?: { lazyIndex?: boolean }) => {
        if (fail > 0) {
          fail -= 1;
          throw Object.assign(new Error("journal write failed"), {
            cause: Object.assign(new Error("no space"), { code: "ENOSPC" }),
          });
        }
        appended.push(batch);
        return { firstSeq: 1, lastSeq: 1, ts: 0 };
      },
    } as unknown as Journal;
    const failures: unknown[] = [];
    const log = new WriteLog(
      journal,
      (e) => failures.push(e),
      () => undefined,
    );
    const rec = (path: string): RecordBody => ({ type: "unlink", path });
    const t1 = log.submit([rec("a")]);
    await expect(log.durable(t1)).rejects.toMatchObject({ code: "ENOSPC" });
    expect(log.refusal()).toBe("ENOSPC");
    await new Promise((r) => setTimeout(r, 120)); // the retry (50 ms backoff) succeeds
    expect(log.refusal()).toBeNull();
    const t2 = log.submit([rec("b")]);
    await log.durable(t2);
    expect(appended.flat().map((r) => (r as { path: string }).path)).toEqual(["a", "b"]);
    expect(failures).toHaveLength(1);
    await log.close();
  });
});
