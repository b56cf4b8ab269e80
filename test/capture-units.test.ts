import { mkdtemp, open, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Checkpointer } from "../src/capture/checkpointer.js";
import {
  blockNeedsWrite,
  diffEntry,
  EMPTY_BASELINE,
  type ReadBlock,
} from "../src/capture/differ.js";
import { runHook } from "../src/capture/hooks.js";
import { compileIgnore } from "../src/capture/ignore.js";
import { KnownTree } from "../src/capture/known-tree.js";
import { FileReader } from "../src/capture/reader.js";
import { DirtySet } from "../src/capture/scheduler.js";
import { SourceMap } from "../src/capture/sources.js";
import { Journal } from "../src/journal/journal.js";
import type { KnownEntry } from "../src/journal/state.js";
import { silentLogger } from "../src/log/logger.js";
import { BlockHasher } from "../src/util/hash.js";

const hasher = await BlockHasher.create();
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "pvj-capunit-"));
  dirs.push(d);
  return d;
}

const BS = 4;
function blocks(content: string): ReadBlock[] {
  const buf = Buffer.from(content);
  const out: ReadBlock[] = [];
  for (let i = 0; i * BS < buf.length; i++) {
    const data = buf.subarray(i * BS, (i + 1) * BS);
    out.push({ index: i, data, hash: hasher.hash(data), zero: data.every((b) => b === 0) });
  }
  return out;
}
function known(content: string, over: Partial<KnownEntry> = {}): KnownEntry {
  return {
    fileId: 7,
    kind: "file",
    mode: 0o644,
    mtimeMs: 1000,
    size: Buffer.byteLength(content),
    blocks: blocks(content).map((b) => b.hash),
    ...over,
  };
}
function summary(
  content: string,
  k: KnownEntry | null,
  obs: { mode?: number; mtimeMs?: number; kind?: "file" | "dir" | "symlink"; target?: string } = {},
  replacing = false,
) {
  const r = diffEntry({
    path: "data/f",
    known: k,
    observed: {
      kind: obs.kind ?? "file",
      mode: obs.mode ?? 0o644,
      mtimeMs: obs.mtimeMs ?? 1000,
      size: obs.kind && obs.kind !== "file" ? 0 : Buffer.byteLength(content),
      ...(obs.target !== undefined ? { target: obs.target } : {}),
    },
    blocks: obs.kind && obs.kind !== "file" ? [] : blocks(content),
    newFileId: () => 99,
    replacing,
  });
  return r.records.map((x) => {
    switch (x.type) {
      case "write":
        return `write ${x.fileId}:${x.block}+${x.len}`;
      case "size":
        return `size ${x.size}`;
      case "attr":
        return `attr ${x.mode.toString(8)} ${x.mtimeMs}`;
      case "link":
        return `link ${x.fileId} ${x.kind}${x.target !== undefined ? ` ->${x.target}` : ""}`;
      case "unlink":
        return `unlink ${x.path}`;
      default:
        return x.type;
    }
  });
}

describe("differ", () => {
  it.each([
    {
      name: "new file: link, every block, size, attr",
      content: "abcdefghij",
      k: null,
      want: [
        "link 99 file",
        "blob",
        "write 99:0+4",
        "blob",
        "write 99:1+4",
        "blob",
        "write 99:2+2",
        "size 10",
        "attr 644 1000",
      ],
    },
    {
      name: "new empty file: link, size 0, attr",
      content: "",
      k: null,
      want: ["link 99 file", "size 0", "attr 644 1000"],
    },
    {
      name: "new sparse file: zero blocks stay holes",
      content: "\0\0\0\0\0\0\0\0ab",
      k: null,
      want: ["link 99 file", "blob", "write 99:2+2", "size 10", "attr 644 1000"],
    },
    { name: "unchanged: nothing", content: "abcdefgh", k: known("abcdefgh"), want: [] },
    {
      name: "one block changed",
      content: "abcdXfgh",
      k: known("abcdefgh"),
      want: ["blob", "write 7:1+4"],
    },
    {
      name: "append: partial last block and a new one",
      content: "abcdefghij",
      k: known("abcdefg"),
      want: ["blob", "write 7:1+4", "blob", "write 7:2+2", "size 10"],
    },
    {
      name: "truncate: only size (and the cut block)",
      content: "abcdef",
      k: known("abcdefgh"),
      want: ["blob", "write 7:1+2", "size 6"],
    },
    {
      name: "grow with zeros past the end: holes",
      content: "abcd\0\0\0\0\0\0\0\0",
      k: known("abcd"),
      want: ["size 12"],
    },
    {
      name: "chmod only",
      content: "abcd",
      k: known("abcd"),
      obs: { mode: 0o600 },
      want: ["attr 600 1000"],
    },
    {
      name: "mtime only",
      content: "abcd",
      k: known("abcd"),
      obs: { mtimeMs: 2000 },
      want: ["attr 644 2000"],
    },
    {
      name: "unknown (null) block is rewritten",
      content: "abcdefgh",
      k: known("abcdefgh", { blocks: [null, null] }),
      want: ["blob", "write 7:0+4", "blob", "write 7:1+4"],
    },
    {
      name: "replaced inode: unlink, new identity, full content",
      content: "abcd",
      k: known("abcd"),
      replacing: true,
      want: ["unlink data/f", "link 99 file", "blob", "write 99:0+4", "size 4", "attr 644 1000"],
    },
    {
      name: "file becomes dir: new identity",
      content: "",
      k: known("abcd"),
      obs: { kind: "dir" as const, mode: 0o755 },
      want: ["link 99 dir", "attr 755 1000"],
    },
    {
      name: "symlink target changed: re-link, same identity",
      content: "",
      k: known("", { kind: "symlink", target: "a", mode: 0o777 }),
      obs: { kind: "symlink" as const, target: "b", mode: 0o777 },
      want: ["link 7 symlink ->b"],
    },
  ])("$name", ({ content, k, obs, replacing, want }) => {
    expect(summary(content, k, obs, replacing)).toEqual(want);
  });

  it("blockNeedsWrite: absent vs null vs equal hashes", () => {
    const h = hasher.hash(Buffer.from("x"));
    expect(blockNeedsWrite(EMPTY_BASELINE, 0, h, true)).toBe(false);
    expect(blockNeedsWrite(EMPTY_BASELINE, 0, h, false)).toBe(true);
    expect(blockNeedsWrite({ size: 1, blocks: [null] }, 0, h, true)).toBe(true);
    expect(blockNeedsWrite({ size: 1, blocks: [h] }, 0, h, false)).toBe(false);
  });
});

describe("ignore globs", () => {
  const m = compileIgnore([
    "*.tmp",
    "lost+found",
    "cache/**",
    "/top",
    "db/*.lock",
    "**/node_modules",
  ]);
  it.each([
    ["a.tmp", true],
    ["x/y/b.tmp", true],
    ["a.tmpx", false],
    ["lost+found", true],
    ["lost+found/f", true],
    ["sub/lost+found", true],
    ["cache", false],
    ["cache/x", true],
    ["cache/x/y", true],
    ["top", true],
    ["x/top", false],
    ["db/a.lock", true],
    ["db/x/a.lock", false],
    ["a/b/node_modules/c", true],
    ["keep", false],
  ])("%s -> %s", (p, want) => expect(m(p)).toBe(want));
  it("empty list ignores nothing", () => expect(compileIgnore([])("a.tmp")).toBe(false));
});

describe("SourceMap", () => {
  const sm = new SourceMap([
    { name: "data", path: "/vol/data", ignore: ["*.tmp"], mountPoint: null },
    { name: "conf", path: "/vol/data-conf", ignore: [], mountPoint: null },
  ]);
  it.each([
    ["/vol/data", "data"],
    ["/vol/data/a/b", "data/a/b"],
    ["/vol/data-conf/x", "conf/x"],
    ["/vol/data/x.tmp", null],
    ["/vol/other", null],
  ])("%s -> %s", (abs, want) => expect(sm.toJournal(abs)).toBe(want));
  it("maps back", () => expect(sm.toAbs("data/a/b")).toBe("/vol/data/a/b"));
});

describe("DirtySet", () => {
  it("is due after the quiet period, or after maxWait while writes continue", () => {
    const d = new DirtySet();
    d.mark("a", 0);
    expect(d.takeDue(50, 100, 500)).toEqual([]);
    expect(d.nextDue(100, 500)).toBe(100);
    for (let t = 50; t < 500; t += 50) d.mark("a", t); // written every 50 ms
    expect(d.nextDue(100, 500)).toBe(500);
    expect(d.takeDue(500, 100, 500).map((x) => x.path)).toEqual(["a"]);
    expect(d.size).toBe(0);
  });
  it("coalesces and never drops; putBack keeps the first mark", () => {
    const d = new DirtySet();
    for (let i = 0; i < 10_000; i++) d.mark(`p${i % 100}`, i);
    expect(d.size).toBe(100);
    const all = d.takeAll();
    expect(all.length).toBe(100);
    d.putBack(all);
    expect(d.oldest()).toBe(0);
  });
  it("a future mark delays the path even past maxWait", () => {
    const d = new DirtySet();
    d.mark("a", 0);
    d.mark("a", 1000, false);
    expect(d.takeDue(600, 100, 500)).toEqual([]);
    expect(d.takeDue(1100, 100, 500).length).toBe(1);
  });
});

describe("KnownTree", () => {
  const e = (kind: "file" | "dir", ino: number, size = 0) => ({
    fileId: ino,
    kind,
    mode: 0o644,
    mtimeMs: 0,
    size,
    blocks: [],
    dev: 1,
    ino,
    readAt: 0,
  });
  it("moves and removes subtrees, indexes inodes and bytes", () => {
    const t = new KnownTree();
    t.set("d", e("dir", 1));
    t.set("d/a", e("dir", 2));
    t.set("d/a/f", e("file", 3, 10));
    t.set("d/g", e("file", 4, 5));
    expect(t.bytes).toBe(15);
    t.moveTree("d/a", "d/b");
    expect(t.paths().sort()).toEqual(["d", "d/b", "d/b/f", "d/g"]);
    expect(t.pathOfInode(1, 3)).toBe("d/b/f");
    t.moveTree("d/b/f", "d/g"); // replaces d/g
    expect(t.get("d/g")?.ino).toBe(3);
    expect(t.bytes).toBe(10);
    expect(t.removeTree("d")).toBe(3);
    expect(t.count).toBe(0);
    expect(t.bytes).toBe(0);
  });
});

describe("FileReader", () => {
  it("streams a large file in bounded chunks and finds the one changed block", async () => {
    const dir = await tmp();
    const p = join(dir, "big");
    const bs = 64 * 1024;
    const size = 64 * 1024 * 1024;
    const fh = await open(p, "w");
    await fh.truncate(size);
    await fh.write(Buffer.alloc(bs, 1), 0, bs, 10 * bs);
    await fh.close();
    const reader = new FileReader({ blockSize: bs, hasher, flushBytes: 4 * 1024 * 1024 });
    const chunks: number[] = [];
    const first = await reader.read(
      p,
      { size: 0, blocks: new Array(size / bs).fill(null) },
      async (b) => {
        chunks.push(b.reduce((a, x) => a + x.data.length, 0));
      },
    );
    if (first.vanished) throw new Error("vanished");
    expect(first.size).toBe(size);
    expect(first.hashes.length).toBe(size / bs);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(chunks.length).toBeGreaterThan(10);
    // change one block: only it is kept
    const fh2 = await open(p, "r+");
    await fh2.write(Buffer.alloc(100, 2), 0, 100, 500 * bs + 7);
    await fh2.close();
    const t0 = performance.now();
    const second = await reader.read(p, { size, blocks: first.hashes }, async () => {
      throw new Error("no chunk expected");
    });
    const ms = performance.now() - t0;
    if (second.vanished) throw new Error("vanished");
    expect(second.pending.map((b) => b.index)).toEqual([500]);
    console.log(`FileReader: 64 MiB re-hash with one changed block took ${ms.toFixed(1)} ms`);
  });

  it("keeps every file's changed blocks intact while later, larger files are read", async () => {
    // Blocks are copied into shared chunks and windows grow with the files:
    // nothing a read handed out may be overwritten by a later read.
    const dir = await tmp();
    const bs = 4096;
    const reader = new FileReader({ blockSize: bs, hasher, windowBytes: 64 * 1024 });
    const kept: { content: Buffer; pending: ReadBlock[] }[] = [];
    // 1 byte, 3 blocks, then files past the window and past a copy chunk (256 KiB).
    for (const [i, size] of [1, 3 * bs - 5, 200 * 1024, 300 * 1024 + 3, 2 * bs].entries()) {
      const content = Buffer.alloc(size, i + 1);
      // Never an all-zero block: those are holes, not written.
      for (let o = 0; o < size; o += 997) content[o] = ((o * 31 + i) & 0xff) | 1;
      const p = join(dir, `f${i}`);
      await writeFile(p, content);
      const r = await reader.read(p, EMPTY_BASELINE, async () => undefined);
      if (r.vanished) throw new Error("vanished");
      expect(r.size).toBe(size);
      expect(r.stable).toBe(true);
      expect(r.stat.size).toBe(size);
      kept.push({ content, pending: r.pending });
    }
    for (const { content, pending } of kept) {
      expect(Buffer.concat(pending.map((b) => b.data)).equals(content)).toBe(true);
      expect(pending.map((b) => b.index)).toEqual(pending.map((_, i) => i));
    }
  });

  it("reports a file replaced while it was read as an identity change", async () => {
    const dir = await tmp();
    const p = join(dir, "f");
    await writeFile(p, Buffer.alloc(10_000, 1));
    const reader = new FileReader({ blockSize: 4096, hasher });
    const r = await reader.read(p, EMPTY_BASELINE, async () => undefined);
    if (r.vanished) throw new Error("vanished");
    expect(r.identityChanged).toBe(false);
    let swapped = false;
    // A replacement between the read and the identity check: rename another inode over it.
    const q = join(dir, "g");
    await writeFile(q, Buffer.alloc(5, 2));
    const reader2 = new FileReader({ blockSize: 4096, hasher, flushBytes: 4096 });
    const r3 = await reader2.read(p, EMPTY_BASELINE, async () => {
      if (swapped) return;
      swapped = true;
      await rename(q, p);
    });
    if (r3.vanished) throw new Error("vanished");
    expect(swapped).toBe(true);
    expect(r3.identityChanged).toBe(true);
    // The stat returned is the descriptor's (the inode that was read), not the new path's.
    expect(r3.stat.size).toBe(10_000);
    expect(r3.size).toBe(10_000);
  });

  it("reports a file that vanished before it was opened", async () => {
    const reader = new FileReader({ blockSize: 4096, hasher });
    const r = await reader.read(join(await tmp(), "nope"), EMPTY_BASELINE, async () => undefined);
    expect(r.vanished).toBe(true);
  });
});

describe("hooks", () => {
  it("captures exit code and output tail", async () => {
    const o = await runHook(["sh", "-c", "echo out; echo err >&2; exit 3"], 5000);
    expect(o).toMatchObject({ ok: false, exitCode: 3 });
    expect(o.output).toContain("out");
    expect(o.output).toContain("err");
    expect((await runHook(["true"], 5000)).ok).toBe(true);
  });
  it("kills a hanging hook (and its children) at the timeout", async () => {
    const t0 = Date.now();
    const o = await runHook(["sh", "-c", "sleep 30; echo never"], 300);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(o.ok).toBe(false);
    expect(o.error).toMatch(/timed out/);
  });
  it("reports a command that cannot be run", async () => {
    const o = await runHook(["/nonexistent/hook"], 1000);
    expect(o.ok).toBe(false);
    expect(o.error).toMatch(/cannot run/);
  });
});

describe("Checkpointer", () => {
  async function setup(
    hooks: { pre: string[] | null; post: string[] | null; timeout?: number },
    settle: () => Promise<void> = async () => undefined,
    consistency: "crash" | "fuzzy" = "crash",
  ) {
    const dir = await tmp();
    const journal = await Journal.open({ dir: join(dir, "j"), blockSize: 4096 });
    const order: string[] = [];
    const capture = {
      consistency,
      settle: async () => {
        order.push("settle");
        await settle();
      },
      status: () => ({ dirtyPaths: 0 }),
    };
    const cp = new Checkpointer({
      journal,
      capture,
      hooks: { pre: hooks.pre, post: hooks.post, timeout: hooks.timeout ?? 5000 },
      interval: 0,
      logger: silentLogger(),
    });
    return { journal, cp, order, dir };
  }

  it("no hooks: crash-consistent", async () => {
    const { journal, cp } = await setup({ pre: null, post: null });
    const row = await cp.take("x");
    expect(row).toMatchObject({ label: "x", consistency: "crash", hooks: null });
    await journal.close();
  });

  it("no hooks, watch capture: fuzzy, never more than the capture gives", async () => {
    const { journal, cp } = await setup({ pre: null, post: null }, undefined, "fuzzy");
    expect(await cp.take("w")).toMatchObject({ consistency: "fuzzy" });
    await journal.close();
  });

  it("failed pre hook on a watch capture: fuzzy", async () => {
    const { journal, cp } = await setup({ pre: ["false"], post: null }, undefined, "fuzzy");
    expect(await cp.take(null)).toMatchObject({ consistency: "fuzzy" });
    await journal.close();
  });

  it("pre ok: app-consistent; order pre -> settle -> post", async () => {
    const dir = await tmp();
    const log = join(dir, "log");
    const { journal, cp, order } = await setup(
      { pre: ["sh", "-c", `echo pre >> ${log}`], post: ["sh", "-c", `echo post >> ${log}`] },
      async () => {
        const { readFile } = await import("node:fs/promises");
        order.push(`at settle: ${(await readFile(log, "utf8")).trim()}`);
      },
    );
    const row = await cp.take(null);
    expect(row.consistency).toBe("app");
    expect(row.hooks?.pre?.ok).toBe(true);
    expect(row.hooks?.post?.ok).toBe(true);
    expect(order).toEqual(["settle", "at settle: pre"]);
    const { readFile } = await import("node:fs/promises");
    expect((await readFile(log, "utf8")).trim().split("\n")).toEqual(["pre", "post"]);
    // the record survives a reopen
    await journal.close();
    const again = await Journal.open({ dir: journal.dir });
    expect(again.index.checkpoint(row.id)).toMatchObject({ consistency: "app" });
    await again.close();
  });

  it("pre fails: crash-consistent, failure recorded, post still runs", async () => {
    const dir = await tmp();
    const marker = join(dir, "post-ran");
    const { journal, cp } = await setup({
      pre: ["sh", "-c", "echo cannot quiesce >&2; exit 4"],
      post: ["sh", "-c", `touch ${marker}`],
    });
    const row = await cp.take("p");
    expect(row.consistency).toBe("crash");
    expect(row.hooks?.pre).toMatchObject({ ok: false, exitCode: 4 });
    expect(row.hooks?.pre?.output).toContain("cannot quiesce");
    expect(row.hooks?.post?.ok).toBe(true);
    await writeFile(join(dir, "x"), "");
    const { access } = await import("node:fs/promises");
    await access(marker);
    await journal.close();
  });

  it("a hanging pre hook is killed at its timeout and recorded", async () => {
    const { journal, cp } = await setup({ pre: ["sleep", "30"], post: null, timeout: 300 });
    const t0 = Date.now();
    const row = await cp.take(null);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(row.consistency).toBe("crash");
    expect(row.hooks?.pre?.error).toMatch(/timed out/);
    await journal.close();
  });

  it("settle fails: post still runs, the error is rethrown, no checkpoint", async () => {
    const dir = await tmp();
    const marker = join(dir, "post-ran");
    const { journal, cp } = await setup(
      { pre: ["true"], post: ["sh", "-c", `touch ${marker}`] },
      async () => {
        throw new Error("ENOSPC");
      },
    );
    await expect(cp.take(null)).rejects.toThrow(/ENOSPC/);
    const { access } = await import("node:fs/promises");
    await access(marker);
    expect(journal.index.lastCheckpoint()).toBeNull();
    await journal.close();
  });

  it("serialises concurrent takes", async () => {
    let inSettle = 0;
    let maxIn = 0;
    const { journal, cp } = await setup({ pre: null, post: null }, async () => {
      inSettle += 1;
      maxIn = Math.max(maxIn, inSettle);
      await new Promise((r) => setTimeout(r, 20));
      inSettle -= 1;
    });
    const rows = await Promise.all([cp.take("a"), cp.take("b"), cp.take("c")]);
    expect(maxIn).toBe(1);
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3]);
    await journal.close();
  });

  it("automatic checkpoints only while something changed", async () => {
    const dir = await tmp();
    const journal = await Journal.open({ dir: join(dir, "j"), blockSize: 4096 });
    const cp = new Checkpointer({
      journal,
      capture: {
        consistency: "fuzzy",
        settle: async () => undefined,
        status: () => ({ dirtyPaths: 0 }),
      },
      hooks: { pre: null, post: null, timeout: 1000 },
      interval: 30,
      logger: silentLogger(),
    });
    await journal.append([
      { type: "link", fileId: journal.allocateFileId(), path: "data", kind: "dir" },
    ]);
    cp.start();
    await new Promise((r) => setTimeout(r, 250));
    await cp.stop();
    const n = journal.index.lastCheckpoint()?.id ?? 0;
    expect(n).toBe(1); // one for the change, none while idle
    await journal.close();
  });
});
