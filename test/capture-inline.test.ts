// Synchronous calls for small files (capture/inline-io.ts): the switch to the
// thread pool, the event-loop turns, FileReader.readSync against read, and
// whole sync passes with and without inline calls.
import { execFileSync } from "node:child_process";
import { fstatSync } from "node:fs";
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { newCounters } from "../src/capture/append-batch.js";
import { overReleases } from "../src/capture/block-slabs.js";
import type { BlockBaseline, ReadBlock } from "../src/capture/differ.js";
import {
  ASYNC_HOLD_MS,
  InlineIo,
  SLICE_MS,
  SLOW_CALL_MS,
  SLOW_STREAK,
} from "../src/capture/inline-io.js";
import { KnownTree } from "../src/capture/known-tree.js";
import { FileReader, openRegularSync, type ReadOutcome } from "../src/capture/reader.js";
import { SourceMap } from "../src/capture/sources.js";
import { Syncer } from "../src/capture/syncer.js";
import { Journal } from "../src/journal/journal.js";
import { knownState } from "../src/journal/state.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir } from "./helpers/index.js";
import { freshSeed, prng } from "./support/prng.js";

const hasher = await BlockHasher.create();
function bytes(rand: () => number, n: number, zeroRuns: boolean): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = zeroRuns && rand() < 0.5 ? 0 : Math.floor(rand() * 256);
  if (zeroRuns) b.fill(0, 0, Math.min(n, 8192)); // whole zero blocks too
  return b;
}

describe("InlineIo", () => {
  it(`goes to the pool after ${SLOW_STREAK} slow calls in a row, for ASYNC_HOLD_MS`, () => {
    let now = 0;
    const io = new InlineIo(true, () => now);
    const call = (ms: number) =>
      io.timed(() => {
        now += ms;
      });
    expect(io.on).toBe(true);
    // Slow calls with fast ones between them never add up to a streak.
    for (let i = 0; i < 10; i++) {
      call(SLOW_CALL_MS + 5);
      call(0.01);
    }
    expect(io.on).toBe(true);
    for (let i = 0; i < SLOW_STREAK - 1; i++) call(SLOW_CALL_MS + 1);
    expect(io.on).toBe(true);
    call(SLOW_CALL_MS + 1);
    expect(io.on).toBe(false);
    expect(io.fallbacks).toBe(1);
    now += ASYNC_HOLD_MS - 1;
    expect(io.on).toBe(false);
    now += 1;
    expect(io.on).toBe(true);
  });

  it("a slow call that throws counts too, and the error passes through", () => {
    let now = 0;
    const io = new InlineIo(true, () => now);
    for (let i = 0; i < SLOW_STREAK; i++) {
      expect(() =>
        io.timed(() => {
          now += SLOW_CALL_MS + 1;
          throw new Error("EIO");
        }),
      ).toThrow("EIO");
    }
    expect(io.on).toBe(false);
  });

  it("is never on when disabled", () => {
    expect(new InlineIo(false).on).toBe(false);
  });

  it("gives the event loop a turn once SLICE_MS have passed, not before", async () => {
    let now = 0;
    const io = new InlineIo(true, () => now);
    let ran = false;
    setImmediate(() => {
      ran = true;
    });
    now = SLICE_MS - 1;
    await io.maybeYield();
    expect(ran).toBe(false); // only microtasks ran
    now = SLICE_MS;
    await io.maybeYield();
    expect(ran).toBe(true);
  });
});

/** Reads `path` with read (collecting handed-on chunks too) or readSync. */
async function readBoth(
  reader: FileReader,
  path: string,
  base: BlockBaseline,
): Promise<[ReadOutcome, ReadOutcome | null]> {
  const chunks: ReadBlock[] = [];
  const a = await reader.read(path, base, async (b) => {
    chunks.push(...b);
  });
  if (!a.vanished) a.pending.unshift(...chunks);
  const b = reader.fork().readSync(path, base, 1024 * 1024);
  return [a, b];
}

function shape(r: ReadOutcome) {
  if (r.vanished) return { vanished: true };
  return {
    size: r.size,
    hashes: r.hashes.map((h) => h.toString("hex")),
    pending: r.pending
      .map((b) => ({ i: b.index, h: b.hash.toString("hex"), z: b.zero, d: b.data.toString("hex") }))
      .sort((x, y) => x.i - y.i),
    stable: r.stable,
    identityChanged: r.identityChanged,
    ino: r.stat.ino,
  };
}

describe("FileReader.readSync", () => {
  it("finds the same blocks, hashes and changes as read (seeded)", async () => {
    const seed = freshSeed();
    console.log(`readSync vs read seed=${seed}`);
    const rand = prng(seed).next;
    const dir = await tmpDir("pvj-inline-");
    const bs = 4096;
    const reader = new FileReader({ blockSize: bs, hasher });
    for (let i = 0; i < 40; i++) {
      const size = [0, 1, bs - 1, bs, bs + 1][i] ?? Math.floor(rand() * 300 * 1024);
      const data = bytes(rand, size, rand() < 0.3);
      const p = join(dir, `f${i}`);
      await writeFile(p, data);
      // A baseline that knows some blocks (right or wrong), some unknown, some past its end.
      const n = Math.ceil(size / bs);
      const blocks: (Buffer | null)[] = [];
      for (let k = 0; k < Math.floor(rand() * (n + 2)); k++) {
        const r = rand();
        const own = data.subarray(k * bs, Math.min(size, (k + 1) * bs));
        blocks.push(
          r < 0.4 && k < n ? hasher.hash(own) : r < 0.7 ? null : hasher.hash(Buffer.of(k)),
        );
      }
      const base = { size: Math.floor(rand() * size), blocks };
      const [a, b] = await readBoth(reader, p, base);
      expect(b, `file ${i} (${size} bytes)`).not.toBeNull();
      expect(shape(b!), `file ${i} (${size} bytes)`).toEqual(shape(a));
    }
    expect(overReleases).toBe(0);
  });

  it("hands nothing on and answers null for a file above maxBytes", async () => {
    const dir = await tmpDir("pvj-inline-");
    const p = join(dir, "big");
    await writeFile(p, Buffer.alloc(10_000, 7));
    const reader = new FileReader({ blockSize: 4096, hasher });
    expect(reader.readSync(p, { size: 0, blocks: [] }, 9_999)).toBeNull();
    const r = reader.readSync(p, { size: 0, blocks: [] }, 10_000);
    expect(r?.vanished).toBe(false);
    if (r && !r.vanished) expect(r.pending.map((b) => b.index)).toEqual([0, 1, 2]);
    expect(overReleases).toBe(0);
  });

  it("says vanished for a missing path, a symlink and a FIFO, without blocking on the FIFO", async () => {
    const dir = await tmpDir("pvj-inline-");
    const reader = new FileReader({ blockSize: 4096, hasher });
    const base = { size: 0, blocks: [] };
    expect(reader.readSync(join(dir, "none"), base, 1 << 20)).toEqual({ vanished: true });
    await writeFile(join(dir, "target"), "x");
    await symlink(join(dir, "target"), join(dir, "link"));
    expect(reader.readSync(join(dir, "link"), base, 1 << 20)).toEqual({ vanished: true });
    // No writer ever opens it: a blocking open(2) would hang this test (and the event loop).
    execFileSync("mkfifo", [join(dir, "fifo")]);
    expect(reader.readSync(join(dir, "fifo"), base, 1 << 20)).toEqual({ vanished: true });
  });
});

describe("openRegularSync", () => {
  it("opens regular files only, never blocks on a FIFO, and readSync reads what it opened", async () => {
    const dir = await tmpDir("pvj-inline-");
    const p = join(dir, "f");
    await writeFile(p, Buffer.alloc(9000, 3));
    await mkdir(join(dir, "d"));
    await symlink(p, join(dir, "ln"));
    execFileSync("mkfifo", [join(dir, "fifo")]);
    for (const other of ["d", "ln", "fifo", "none"])
      expect(openRegularSync(join(dir, other)), other).toBeNull();
    const opened = openRegularSync(p);
    expect(opened).not.toBeNull();
    expect(opened!.st.isFile()).toBe(true);
    expect(opened!.st.size).toBe(9000);
    const reader = new FileReader({ blockSize: 4096, hasher });
    const base = { size: 0, blocks: [] };
    const viaFd = reader.readSync(p, base, 1 << 20, opened!);
    const plain = reader.readSync(p, base, 1 << 20);
    expect(shape(viaFd!)).toEqual(shape(plain!));
    if (viaFd && !viaFd.vanished) expect(viaFd.readAt).toBe(opened!.openedAt);
    // readSync closed the descriptor it was handed.
    expect(() => fstatSync(opened!.fd)).toThrow(/EBADF/);
  });

  it("hands a descriptor over even when the file is too big for readSync, and it is closed", async () => {
    const dir = await tmpDir("pvj-inline-");
    const p = join(dir, "f");
    await writeFile(p, Buffer.alloc(9000, 3));
    const opened = openRegularSync(p)!;
    const reader = new FileReader({ blockSize: 4096, hasher });
    expect(reader.readSync(p, { size: 0, blocks: [] }, 100, opened)).toBeNull();
    expect(() => fstatSync(opened.fd)).toThrow(/EBADF/);
  });
});

async function capture(src: string, jdir: string, inlineIo: boolean) {
  const journal = await Journal.open({ dir: jdir, blockSize: 4096 });
  const sources = new SourceMap([{ name: "data", path: src, ignore: [], mountPoint: null }]);
  const syncer = new Syncer({
    journal,
    sources,
    reader: new FileReader({ blockSize: 4096, hasher }),
    tree: new KnownTree(),
    counters: newCounters(),
    inlineIo,
  });
  return { journal, syncer };
}

function stateOf(journal: Journal) {
  return [...knownState(journal)]
    .map(([path, e]) => ({
      path,
      kind: e.kind,
      size: e.size,
      mode: e.mode,
      mtimeMs: e.mtimeMs,
      target: e.target,
      blocks: e.blocks.map((b) => b?.toString("hex") ?? null),
    }))
    .sort((x, y) => (x.path < y.path ? -1 : 1));
}

describe("sync pass with inline calls", () => {
  it("journals the same tree as a pass through the thread pool, before and after changes (seeded)", async () => {
    const seed = freshSeed();
    console.log(`inline sync pass seed=${seed}`);
    const rand = prng(seed).next;
    const src = await tmpDir("pvj-inline-");
    const files: string[] = [];
    for (let d = 0; d < 6; d++) {
      await mkdir(join(src, `d${d}`, "sub"), { recursive: true });
      for (let f = 0; f < 25; f++) {
        // Mostly small files (read inline), a few above INLINE_READ_BYTES (read by tasks).
        const size =
          rand() < 0.1 ? 300 * 1024 + Math.floor(rand() * 100_000) : Math.floor(rand() * 20_000);
        const p = join(src, `d${d}`, rand() < 0.3 ? "sub" : "", `f${f}`);
        await writeFile(p, bytes(rand, size, rand() < 0.2));
        files.push(p);
      }
    }
    await symlink("d0/f0", join(src, "ln"));
    const jd = await tmpDir("pvj-inline-");
    const on = await capture(src, join(jd, "on"), true);
    const off = await capture(src, join(jd, "off"), false);
    try {
      const pass = { walk: true, deferVanish: false } as const;
      for (const round of [0, 1]) {
        if (round === 1) {
          for (const p of files) {
            const r = rand();
            if (r < 0.2) await writeFile(p, bytes(rand, Math.floor(rand() * 20_000), false));
            else if (r < 0.25) await rm(p);
          }
        }
        const a = await on.syncer.sync(["data"], pass);
        const b = await off.syncer.sync(["data"], pass);
        expect(a.failures).toEqual([]);
        expect(b.failures).toEqual([]);
        expect(stateOf(on.journal)).toEqual(stateOf(off.journal));
        expect(stateOf(on.journal).length).toBeGreaterThan(100);
      }
      expect(on.syncer.inline.fallbacks).toBe(0);
      expect(off.syncer.inline.on).toBe(false);
    } finally {
      await on.journal.close();
      await off.journal.close();
    }
  });

  it("lets timers run while it walks page-cached files inline", async () => {
    const src = await tmpDir("pvj-inline-");
    await mkdir(join(src, "d"));
    for (let i = 0; i < 3000; i++) await writeFile(join(src, "d", `f${i}`), `file ${i}\n`);
    const { journal, syncer } = await capture(src, join(await tmpDir("pvj-inline-"), "j"), true);
    let ticks = 0;
    const timer = setInterval(() => {
      ticks += 1;
    }, 1);
    const t = performance.now();
    try {
      await syncer.sync(["data"], { walk: true, deferVanish: false });
    } finally {
      clearInterval(timer);
      await journal.close();
    }
    const ms = performance.now() - t;
    // At least one timer tick per two slices of the walk (a slice is SLICE_MS).
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(ms / (2 * SLICE_MS)) - 1);
  });
});
