import {
  appendFile,
  chmod,
  mkdir,
  open,
  rename,
  rm,
  symlink,
  truncate,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JournalRecord } from "../src/journal/records.js";
import { waitFor } from "./helpers/wait.js";
import { CaptureRig } from "./support/capture-harness.js";
import { FsWriter } from "./support/fs-writer.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, type TreeEntry } from "./support/tree.js";

const rigs: CaptureRig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
});

async function rig(opts: Parameters<typeof CaptureRig.create>[0]): Promise<CaptureRig> {
  const r = await CaptureRig.create(opts);
  rigs.push(r);
  return r;
}

async function records(r: CaptureRig, from = 1): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for await (const rec of r.journal!.records(from)) out.push(rec);
  return out;
}

const EXACT = { mtimes: true, dirMtimes: true };

describe.each([
  { mode: "native", usePolling: false },
  { mode: "polling", usePolling: true },
])("capture ($mode)", ({ mode, usePolling }) => {
  it("captures files, dirs, symlinks, empty and sparse files byte-exact", async () => {
    const r = await rig({ usePolling });
    const s = r.src();
    await mkdir(join(s, "a/b"), { recursive: true });
    await writeFile(join(s, "a/one"), "hello");
    await writeFile(join(s, "empty"), "");
    await symlink("a/one", join(s, "link"));
    const fh = await open(join(s, "sparse"), "w");
    await fh.write(Buffer.from("tail"), 0, 4, 1024 * 1024);
    await fh.close();
    await r.up();
    expect(r.capture!.status().ready).toBe(true);
    const cp1 = await r.checkpointer!.take("one");
    const ref1 = await r.reference();
    await writeFile(join(s, "a/b/two"), Buffer.alloc(10000, 7));
    await appendFile(join(s, "a/one"), " world");
    await chmod(join(s, "empty"), 0o600);
    await truncate(join(s, "sparse"), 5000);
    await rm(join(s, "link"));
    await symlink("elsewhere", join(s, "link"));
    const cp2 = await r.checkpointer!.take("two");
    const ref2 = await r.reference();
    expect(diffTrees(ref1, await r.restore(cp1.id), EXACT)).toEqual([]);
    expect(diffTrees(ref2, await r.restore(cp2.id), EXACT)).toEqual([]);
    // the 1 MiB sparse file cost one block of data, not 256
    const blobs = (await records(r)).filter((x) => x.type === "blob");
    expect(blobs.reduce((a, b) => a + (b.type === "blob" ? b.data.length : 0), 0)).toBeLessThan(
      64 * 1024,
    );
  });

  it("seeded random writer: every checkpoint restores byte-exact", async () => {
    const seed = Number(process.env.PVJ_TEST_SEED ?? freshSeed());
    console.log(`capture random writer (${mode}) seed=${seed}`);
    const rand = prng(seed);
    const r = await rig({ usePolling, names: ["data", "conf"] });
    const w1 = new FsWriter(r.src("data"), rand, r.blockSize);
    const w2 = new FsWriter(r.src("conf"), rand, r.blockSize);
    for (let i = 0; i < 15; i++) await w1.step();
    await r.up();
    const snaps: { id: number; tree: Map<string, TreeEntry>; ops: string[] }[] = [];
    let ops: string[] = [];
    const deadline = Date.now() + 14_000;
    while (Date.now() < deadline && snaps.length < 12) {
      const n = rand.int(5, 25);
      for (let i = 0; i < n; i++) {
        ops.push(await (rand.chance(0.8) ? w1 : w2).step());
        if (rand.chance(0.3)) await new Promise((res) => setTimeout(res, rand.int(0, 60)));
      }
      // the writer is paused: the reference is what every completed write left
      const cp = await r.checkpointer!.take(`s${snaps.length}`);
      snaps.push({ id: cp.id, tree: await r.reference(), ops });
      ops = [];
    }
    expect(snaps.length).toBeGreaterThan(3);
    for (const s of snaps) {
      const diff = diffTrees(s.tree, await r.restore(s.id), EXACT);
      expect(diff, `seed=${seed} checkpoint ${s.id} after ${s.ops.join("; ")}`).toEqual([]);
    }
    const st = r.capture!.status();
    expect(st.ready).toBe(true);
    expect(st.errors).toBe(0);
    expect(r.capture!.counters.records).toBeGreaterThan(0);
  });

  it("event path alone (no settle, no rescan) keeps the journal current, bursts included", async () => {
    const seed = Number(process.env.PVJ_TEST_SEED ?? freshSeed());
    console.log(`capture event path (${mode}) seed=${seed}`);
    const rand = prng(seed);
    const r = await rig({ usePolling });
    const w = new FsWriter(r.src(), rand, r.blockSize);
    await r.up();
    const ops: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 15; i++) ops.push(await w.step());
      // quiet: wait until every event has been captured (no settle() call)
      const quiet = async () => {
        const st = r.capture!.status();
        const seq = r.journal!.lastSeq;
        await new Promise((res) => setTimeout(res, 400));
        return (
          st.dirtyPaths === 0 && r.capture!.status().dirtyPaths === 0 && r.journal!.lastSeq === seq
        );
      };
      await waitFor(quiet, { timeout: 15_000, interval: 1, what: "capture to go quiet" });
      const diff = diffTrees(await r.reference(), await r.restore({ seq: r.journal!.lastSeq }), {
        mtimes: true,
      });
      expect(diff, `seed=${seed} diff=${JSON.stringify(diff)} after ${ops.join("; ")}`).toEqual([]);
    }
  });

  it("journals a moved file or directory as one rename, without copying it again", async () => {
    const r = await rig({ usePolling });
    const s = r.src();
    await mkdir(join(s, "a"));
    await mkdir(join(s, "b"));
    await mkdir(join(s, "tree/sub"), { recursive: true });
    await writeFile(join(s, "a/big"), Buffer.alloc(2 * 1024 * 1024, 1).fill(9, 4096, 8192));
    for (let i = 0; i < 5; i++) await writeFile(join(s, `tree/sub/f${i}`), `file ${i}`);
    await r.up();
    const cp1 = await r.checkpointer!.take(null);
    await rename(join(s, "a/big"), join(s, "b/big"));
    await rename(join(s, "tree"), join(s, "b/tree"));
    // the event path (not settle) must already see it as renames
    await waitFor(
      async () => (await records(r, cp1.seq + 1)).filter((x) => x.type === "rename").length === 2,
      {
        timeout: 15_000,
        what: "two rename records",
      },
    );
    const cp2 = await r.checkpointer!.take(null);
    const after = await records(r, cp1.seq + 1);
    const ns = after.filter((x) => x.type === "rename" || x.type === "unlink" || x.type === "link");
    expect(
      ns
        .map((x) =>
          x.type === "rename" ? `${x.from}->${x.to}` : `${x.type} ${"path" in x ? x.path : ""}`,
        )
        .sort(),
    ).toEqual(["data/a/big->data/b/big", "data/tree->data/b/tree"]);
    expect(after.filter((x) => x.type === "write" || x.type === "blob")).toEqual([]);
    expect(diffTrees(await r.reference(), await r.restore(cp2.id), EXACT)).toEqual([]);
    // deleting a directory is one unlink for the subtree, not one per child
    await rm(join(s, "b/tree"), { recursive: true });
    const cp3 = await r.checkpointer!.take(null);
    const unlinks = (await records(r, cp2.seq + 1)).filter((x) => x.type === "unlink");
    expect(unlinks.map((x) => (x.type === "unlink" ? x.path : ""))).toEqual(["data/b/tree"]);
    expect(diffTrees(await r.reference(), await r.restore(cp3.id), EXACT)).toEqual([]);
  });

  it("captures changes made while the sidecar was down", async () => {
    const r = await rig({ usePolling });
    const s = r.src();
    await mkdir(join(s, "d"));
    await writeFile(join(s, "d/keep"), Buffer.alloc(20000, 1));
    await writeFile(join(s, "d/change"), Buffer.alloc(20000, 2));
    await writeFile(join(s, "gone"), "bye");
    await writeFile(join(s, "moved"), "move me");
    await r.up();
    const cp1 = await r.checkpointer!.take("before");
    const ref1 = await r.reference();
    await r.down();
    // while down: same-size rewrite, delete, rename, new file, chmod
    await new Promise((res) => setTimeout(res, 20));
    const fh = await open(join(s, "d/change"), "r+");
    await fh.write(Buffer.alloc(100, 3), 0, 100, 8000);
    await fh.close();
    await rm(join(s, "gone"));
    await rename(join(s, "moved"), join(s, "d/moved"));
    await writeFile(join(s, "new"), "new file");
    await chmod(join(s, "d/keep"), 0o600);
    await r.up();
    const cp2 = await r.checkpointer!.take("after");
    const ref2 = await r.reference();
    expect(diffTrees(ref1, await r.restore(cp1.id), EXACT)).toEqual([]);
    expect(diffTrees(ref2, await r.restore(cp2.id), EXACT)).toEqual([]);
    // only the changed block of d/change was journaled again
    const writes = (await records(r, cp1.seq + 1)).filter((x) => x.type === "write");
    expect(writes.map((x) => (x.type === "write" ? x.block : -1))).toEqual(
      expect.arrayContaining([1]),
    );
    expect(
      writes.filter((x) => x.type === "write" && x.fileId !== writes[0]!.fileId).length,
    ).toBeLessThanOrEqual(2);
  });

  it("follows a ConfigMap-style atomic ..data symlink swap", async () => {
    const r = await rig({ usePolling, names: ["data", "config"] });
    const c = r.src("config");
    await mkdir(join(c, "..2024_a"));
    await writeFile(join(c, "..2024_a/app.yaml"), "version: 1\n");
    await writeFile(join(c, "..2024_a/db.conf"), "port=1\n");
    await symlink("..2024_a", join(c, "..data"));
    await symlink("..data/app.yaml", join(c, "app.yaml"));
    await symlink("..data/db.conf", join(c, "db.conf"));
    await writeFile(join(r.src("data"), "x"), "payload");
    await r.up();
    const cp1 = await r.checkpointer!.take(null);
    const ref1 = await r.reference();
    // what the kubelet does
    await mkdir(join(c, "..2024_b"));
    await writeFile(join(c, "..2024_b/app.yaml"), "version: 2\n");
    await writeFile(join(c, "..2024_b/db.conf"), "port=2\n");
    await symlink("..2024_b", join(c, "..data_tmp"));
    await rename(join(c, "..data_tmp"), join(c, "..data"));
    await rm(join(c, "..2024_a"), { recursive: true });
    await new Promise((res) => setTimeout(res, 200));
    const cp2 = await r.checkpointer!.take(null);
    const ref2 = await r.reference();
    expect(diffTrees(ref1, await r.restore(cp1.id), EXACT)).toEqual([]);
    const got = await r.restore(cp2.id);
    expect(diffTrees(ref2, got, EXACT)).toEqual([]);
    expect(got.get("config/..data")?.target).toBe("..2024_b");
    expect(got.get("config/..2024_b/app.yaml")?.content?.toString()).toBe("version: 2\n");
    expect(got.has("config/..2024_a")).toBe(false);
  });
});

describe("capture", () => {
  it("settle alone captures everything, even when no event was processed", async () => {
    // debounce of a minute: the event path never runs during the test
    const r = await rig({ usePolling: false, capture: { debounce: 60_000, maxWait: 60_000 } });
    const s = r.src();
    await r.up();
    await mkdir(join(s, "d"));
    await writeFile(join(s, "d/f"), "one");
    await symlink("d/f", join(s, "l"));
    const cp1 = await r.checkpointer!.take(null);
    const ref1 = await r.reference();
    await rename(join(s, "d"), join(s, "e"));
    await writeFile(join(s, "e/f"), "two");
    const cp2 = await r.checkpointer!.take(null);
    expect(diffTrees(ref1, await r.restore(cp1.id), EXACT)).toEqual([]);
    expect(diffTrees(await r.reference(), await r.restore(cp2.id), EXACT)).toEqual([]);
  });

  it("the periodic reconcile rescan catches changes no event reported", async () => {
    // events are never processed (debounce of a minute): only the rescan can find the change
    const r = await rig({
      usePolling: false,
      capture: { debounce: 60_000, maxWait: 60_000, rescanInterval: 150 },
    });
    await r.up();
    const seq0 = r.journal!.lastSeq;
    await writeFile(join(r.src(), "mmapped"), "written behind the watcher's back");
    await waitFor(() => r.journal!.lastSeq > seq0, { what: "the rescan to journal the file" });
    const got = await r.restore({ seq: r.journal!.lastSeq });
    expect(got.get("data/mmapped")?.content?.toString()).toBe("written behind the watcher's back");
  });

  it("re-reads racily clean files: same-size rewrites right after a capture are not lost", async () => {
    const r = await rig({ usePolling: false, capture: { debounce: 60_000, maxWait: 60_000 } });
    const f = join(r.src(), "f");
    await r.up();
    for (let i = 0; i < 20; i++) {
      await writeFile(f, `v${String(i).padStart(3, "0")}`);
      await r.capture!.settle();
      // same size, most likely the same mtime tick as the read that just happened
      await writeFile(f, `w${String(i).padStart(3, "0")}`);
      const cp = await r.checkpointer!.take(null);
      const got = await r.restore(cp.id);
      expect(got.get("data/f")?.content?.toString()).toBe(`w${String(i).padStart(3, "0")}`);
    }
  });

  it("honours ignore globs", async () => {
    const r = await rig({ usePolling: false, ignore: ["*.tmp", "cache/**", "lost+found"] });
    const s = r.src();
    await mkdir(join(s, "cache/x"), { recursive: true });
    await mkdir(join(s, "lost+found"));
    await writeFile(join(s, "keep"), "k");
    await writeFile(join(s, "a.tmp"), "t");
    await writeFile(join(s, "cache/x/y"), "c");
    await writeFile(join(s, "lost+found/z"), "z");
    await r.up();
    await writeFile(join(s, "b.tmp"), "t");
    const cp = await r.checkpointer!.take(null);
    const got = await r.restore(cp.id);
    expect([...got.keys()].sort()).toEqual(["data", "data/cache", "data/keep"]);
  });

  it("keeps changes dirty and retries when the journal append fails (ENOSPC)", async () => {
    const r = await rig({ usePolling: false });
    const s = r.src();
    await r.up();
    const journal = r.journal!;
    const real = journal.append.bind(journal);
    let fail = 3;
    const spy = vi.spyOn(journal, "append").mockImplementation((bodies) => {
      if (fail > 0 && !bodies.some((b) => b.type === "checkpoint")) {
        fail -= 1;
        const err = Object.assign(new Error("ENOSPC: no space left on device, write"), {
          code: "ENOSPC",
        });
        return Promise.reject(err);
      }
      return real(bodies);
    });
    await writeFile(join(s, "f1"), Buffer.alloc(9000, 5));
    await mkdir(join(s, "d"));
    await writeFile(join(s, "d/f2"), "second");
    await waitFor(() => r.capture!.status().errors > 0, { what: "an error" });
    expect(r.capture!.status().lastError?.message).toMatch(/ENOSPC/);
    await waitFor(
      () => fail === 0 && r.capture!.status().dirtyPaths === 0 && !r.capture!.status().degraded,
      {
        what: "recovery",
        timeout: 10_000,
      },
    );
    spy.mockRestore();
    const cp = await r.checkpointer!.take(null);
    expect(diffTrees(await r.reference(), await r.restore(cp.id), EXACT)).toEqual([]);
  });

  it("stop() is idempotent and settle() after stop() rejects", async () => {
    const r = await rig({ usePolling: false });
    await r.up();
    await r.capture!.stop();
    await r.capture!.stop();
    await expect(r.capture!.settle()).rejects.toThrow(/stopped/);
  });
});
