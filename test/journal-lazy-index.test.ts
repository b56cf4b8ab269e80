/**
 * Lazy indexing (AppendOptions.lazyIndex): an append resolves once durable in
 * its segment; lastSeq and the index follow within INDEX_DELAY_MS, or at once
 * when a normal append (a checkpoint) comes after it, in order.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { INDEX_DELAY_MS, Journal } from "../src/journal/journal.js";
import type { RecordBody } from "../src/journal/records.js";
import { BlockHasher } from "../src/util/hash.js";

let dir = "";
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = "";
});

async function blockRecords(fileId: number, n: number): Promise<RecordBody[]> {
  const hasher = await BlockHasher.create();
  const out: RecordBody[] = [{ type: "link", fileId, path: `data/f${fileId}`, kind: "file" }];
  for (let b = 0; b < n; b++) {
    const data = Buffer.alloc(4096, (fileId * 31 + b) % 251);
    const hash = hasher.hash(data);
    out.push({ type: "blob", hash, data }, { type: "write", fileId, block: b, len: 4096, hash });
  }
  return out;
}

describe("journal: lazy indexing", () => {
  it("resolves durable first, indexes within the delay, and a checkpoint indexes everything before it", async () => {
    dir = await mkdtemp(join(tmpdir(), "pvj-lazy-"));
    const j = await Journal.open({ dir: join(dir, "j"), blockSize: 4096 });
    const a = await j.append(await blockRecords(1, 3), { lazyIndex: true });
    expect(a.lastSeq).toBe(7);
    expect(j.lastSeq).toBe(0); // durable, not indexed yet
    await new Promise((r) => setTimeout(r, INDEX_DELAY_MS * 3));
    expect(j.lastSeq).toBe(7);
    expect(j.index.lastTime()?.seq).toBe(7);
    const b = await j.append(await blockRecords(2, 2), { lazyIndex: true });
    const cp = await j.checkpoint({ label: "x", consistency: "crash" });
    expect(cp.seq).toBe(b.lastSeq + 1);
    expect(j.lastSeq).toBe(cp.seq);
    expect(j.index.checkpoint(cp.id)?.seq).toBe(cp.seq);
    await j.close();
  });

  it("records acknowledged durable survive kill -9 before their index transaction", async () => {
    dir = await mkdtemp(join(tmpdir(), "pvj-lazy-"));
    const path = join(dir, "j");
    const journalJs = new URL("../dist/journal/journal.js", import.meta.url).href;
    // The child appends lazily, prints the durable seq, and is killed before the index timer.
    const script = `
      const { Journal } = await import(${JSON.stringify(journalJs)});
      const j = await Journal.open({ dir: ${JSON.stringify(path)}, blockSize: 4096 });
      const data = Buffer.alloc(4096, 7);
      const hash = Buffer.alloc(16, 9);
      const r = await j.append([
        { type: "link", fileId: 1, path: "data/f", kind: "file" },
        { type: "blob", hash, data },
        { type: "write", fileId: 1, block: 0, len: 4096, hash },
      ], { lazyIndex: true });
      process.stdout.write(r.lastSeq + " " + j.lastSeq + " ", () => process.kill(process.pid, "SIGKILL"));
    `;
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    expect(child.signal, child.stderr).toBe("SIGKILL");
    const [durable, indexed] = child.stdout.trim().split(" ").map(Number);
    expect(durable).toBe(3);
    expect(indexed).toBe(0);
    const again = await Journal.open({ dir: path, blockSize: 4096 });
    expect(again.lastSeq).toBe(3);
    expect(again.index.lastTime()?.seq).toBe(3);
    await again.close();
  });
});
