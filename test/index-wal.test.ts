/**
 * The index's WAL is trimmed after every checkpoint (journal/index-wal.ts):
 * at rest a journal holds its index once, in index.db, not again in a WAL
 * that SQLite keeps at its high-water size. A reader in another connection
 * makes the trim stop without waiting; a trim that fails on a real I/O error
 * (index.db made immutable with chattr: root on ext4) is counted and the
 * checkpoint still stands. Nothing indexed is lost either way.
 */
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import type { RecordBody } from "../src/journal/records.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir } from "./helpers/index.js";
import { startSidecar } from "./support/inprocess-sidecar.js";

const isRoot = process.getuid?.() === 0;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const walBytes = (dir: string) => {
  try {
    return statSync(join(dir, "index.db-wal")).size;
  } catch {
    return 0;
  }
};

async function openJournal(): Promise<{
  journal: Journal;
  dir: string;
  write: (n: number) => Promise<void>;
}> {
  const dir = join(await tmpDir("pvj-index-wal-"), "j");
  const journal = await Journal.open({ dir, blockSize: 4096 });
  cleanups.push(() => journal.close());
  const hasher = await BlockHasher.create();
  let next = 0;
  /** `n` files of one distinct block each: index rows in several tables. */
  const write = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const fileId = journal.allocateFileId();
      const block = Buffer.alloc(4096, 0);
      block.writeUInt32LE(++next, 0);
      const hash = hasher.hash(block);
      const bodies: RecordBody[] = [
        { type: "link", fileId, path: `f${next}`, kind: "file" },
        { type: "blob", hash, data: block },
        { type: "write", fileId, block: 0, hash, len: 4096 },
        { type: "size", fileId, size: 4096 },
      ];
      await journal.append(bodies);
    }
  };
  return { journal, dir, write };
}

describe("index WAL trim after checkpoints", () => {
  it("empties the WAL into index.db at each checkpoint, and loses nothing", async () => {
    const { journal, dir, write } = await openJournal();
    await write(200);
    // Before the checkpoint the index lives in the WAL: this is what the trim removes.
    expect(walBytes(dir)).toBeGreaterThan(100 * 1024);
    const cp = await journal.checkpoint({ label: "one", consistency: "crash" });
    expect(walBytes(dir)).toBe(0);
    expect(statSync(join(dir, "index.db")).size).toBeGreaterThan(50 * 1024);
    expect(journal.index.wal.stats).toMatchObject({ trims: 1, busy: 0, failures: 0 });
    expect(journal.index.wal.sizes().walBytes).toBe(0);

    await write(20);
    await journal.checkpoint({ label: "two", consistency: "crash" });
    expect(walBytes(dir)).toBe(0);
    expect(journal.index.wal.stats.trims).toBe(2);

    const last = journal.lastSeq;
    await journal.close();
    const again = await Journal.open({ dir, readOnly: true });
    cleanups.push(() => again.close());
    expect(again.lastSeq).toBe(last);
    expect(again.index.checkpoint(cp.id)?.label).toBe("one");
    expect(again.index.nsUpTo(last).filter((r) => r.op === "link")).toHaveLength(220);
  });

  it("does not wait for a reader in another connection: busy is counted, the next checkpoint trims", async () => {
    const { journal, dir, write } = await openJournal();
    await write(50);
    const reader = new Database(join(dir, "index.db"), { readonly: true });
    cleanups.push(async () => {
      reader.close();
    });
    // A read transaction pinned at this snapshot: a TRUNCATE must wait for it to end.
    reader.exec("BEGIN");
    reader.prepare("SELECT count(*) FROM times").get();
    await write(50);
    const t0 = performance.now();
    await journal.checkpoint({ label: null, consistency: "crash" });
    // better-sqlite3 waits up to 5000 ms for a busy database by default.
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(journal.index.wal.stats).toMatchObject({ trims: 0, busy: 1, failures: 0 });
    expect(walBytes(dir)).toBeGreaterThan(0);

    reader.exec("COMMIT");
    await write(1);
    await journal.checkpoint({ label: null, consistency: "crash" });
    expect(journal.index.wal.stats).toMatchObject({ trims: 1, busy: 1, failures: 0 });
    expect(walBytes(dir)).toBe(0);
  });

  it.skipIf(!isRoot)(
    "a trim that fails on an I/O error is counted; the checkpoint stands and appends go on",
    async () => {
      const { journal, dir, write } = await openJournal();
      await write(50);
      const db = join(dir, "index.db");
      // Immutable: every write into index.db fails with EPERM, even through open fds.
      execFileSync("chattr", ["+i", db]);
      let immutable = true;
      cleanups.push(async () => {
        if (immutable) execFileSync("chattr", ["-i", db]);
      });
      const cp = await journal.checkpoint({ label: "kept", consistency: "crash" });
      expect(journal.index.wal.stats.failures).toBe(1);
      expect(journal.index.wal.stats.lastFailure).toMatch(/\S/);
      expect(walBytes(dir)).toBeGreaterThan(0);
      expect(journal.index.checkpoint(cp.id)?.label).toBe("kept");

      execFileSync("chattr", ["-i", db]);
      immutable = false;
      await write(5);
      await journal.checkpoint({ label: null, consistency: "crash" });
      expect(journal.index.wal.stats).toMatchObject({ trims: 1, failures: 1 });
      expect(walBytes(dir)).toBe(0);
      const last = journal.lastSeq;
      await journal.close();
      const again = await Journal.open({ dir, readOnly: true });
      cleanups.push(() => again.close());
      expect(again.lastSeq).toBe(last);
      expect(again.index.nsUpTo(last).filter((r) => r.op === "link")).toHaveLength(55);
    },
  );

  it("/v1/status and /metrics show the index's size and its trims", async () => {
    const { s } = await startSidecar({ prefix: "pvj-index-wal-status-", drillLines: [], cleanups });
    await s.checkpointer.take("one");
    const status = (await s.app.inject({ url: "/v1/status" })).json<{
      journal: { index: { dbBytes: number; walBytes: number; walTrim: Record<string, unknown> } };
    }>();
    expect(status.journal.index.dbBytes).toBeGreaterThan(0);
    expect(status.journal.index.walBytes).toBe(0);
    expect(status.journal.index.walTrim).toEqual({
      trims: 1,
      busy: 0,
      failures: 0,
      lastFailure: null,
    });
    const metrics = (await s.app.inject({ url: "/metrics" })).body;
    expect(metrics).toMatch(/^pvjournal_journal_index_wal_trim_failures_total 0$/m);
    const bytes = Number(/^pvjournal_journal_index_bytes (\d+)$/m.exec(metrics)?.[1]);
    expect(bytes).toBe(status.journal.index.dbBytes);
  });
});
