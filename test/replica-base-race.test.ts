/**
 * The replica's own retention pass and a base arriving over the stream both
 * replace the replica's segments. Retention chooses what to drop under the
 * journal's lock, writes its base without it, and commits under it again; a
 * streamed base installed in between must not be undone by that commit
 * (SQLite reuses the ids of the rows the install deleted, so the pass's drop
 * list, by id, would name the new base). Found by soak-cdp (seeds 20261202, 7):
 * the replica's index pointed at a deleted base file.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import {
  baseBodies,
  installBase,
  installStreamedBase,
  runRetention,
} from "../src/journal/retention.js";
import { verifyJournal } from "../src/journal/verify.js";
import { silentLogger } from "../src/log/logger.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir } from "./helpers/index.js";
import { BS, distinctWrites, follow } from "./support/journal-writes.js";

/** Every segment the index names exists, and every block of the newest state reads back. */
async function expectSound(rep: Journal, hasher: BlockHasher): Promise<void> {
  for (const s of rep.index.segments()) await access(join(rep.dir, s.name));
  const report = await verifyJournal(rep, hasher);
  expect(report.problems).toEqual([]);
}

const OPTS = { blockSize: BS, segmentSize: 256 * 1024, logger: silentLogger() };

/** A replica that followed its source over several segments, then fell behind its window. */
async function behindReplica(
  hasher: BlockHasher,
): Promise<{ dir: string; src: Journal; rep: Journal }> {
  const dir = await tmpDir("pvj-base-race-");
  const src = await Journal.open({ dir: `${dir}/src`, ...OPTS });
  const rep = await Journal.open({ dir: `${dir}/rep`, ...OPTS });
  await src.append([
    { type: "link", fileId: 1, path: "data", kind: "dir" },
    { type: "link", fileId: 2, path: "data/f", kind: "file" },
    { type: "size", fileId: 2, size: 64 * BS },
  ]);
  // Several segments, so the replica's retention has some to drop.
  for (let s = 0; s < 4; s++) {
    await src.append(distinctWrites(hasher, 0, 60, s * 7));
    await follow(src, rep);
  }
  expect(rep.index.segments().length).toBeGreaterThan(2);
  await src.append(distinctWrites(hasher, 10, 50, 99));
  return { dir, src, rep };
}

/** After the race: the streamed base is the replica's, it follows on, and it reopens sound. */
async function expectStreamedBaseKept(
  dir: string,
  src: Journal,
  rep: Journal,
  cut: number,
  hasher: BlockHasher,
): Promise<void> {
  try {
    expect(rep.baseSeq).toBe(cut);
    expect(rep.lastSeq).toBe(cut);
    await expectSound(rep, hasher);
    await src.append(distinctWrites(hasher, 20, 5, 150));
    await src.checkpoint({ label: "after", consistency: "fuzzy" });
    await follow(src, rep);
    expect(rep.lastSeq).toBe(src.lastSeq);
    await expectSound(rep, hasher);
  } finally {
    await rep.close();
    await src.close();
  }
  const reopened = await Journal.open({ dir: `${dir}/rep`, ...OPTS });
  try {
    expect(reopened.baseSeq).toBe(cut);
    await expectSound(reopened, hasher);
  } finally {
    await reopened.close();
  }
}

/** A pass that folds everything it can (the window is long over). */
function retentionPass(rep: Journal, hasher: BlockHasher) {
  return runRetention(rep, { retention: 1, now: Date.now() + 3_600_000, hasher });
}

describe("replica: retention racing a streamed base", () => {
  it("a pass whose segments were replaced while it wrote its base gives up", async () => {
    const hasher = await BlockHasher.create();
    const { dir, src, rep } = await behindReplica(hasher);
    const cut = src.lastSeq;
    // Forced order, without the replica's serialisation: the pass chooses its
    // drop list under the lock, the install (queued behind that) runs while
    // the pass writes its base, and the pass's commit waits for the install.
    // Before the fix the commit dropped the streamed base's rows by reused id.
    const pass = retentionPass(rep, hasher);
    await rep.exclusive(() =>
      installBase(
        rep,
        cut,
        src.lastTs,
        baseBodies(src, cut, hasher, () => true),
        rep.index.segments(),
      ),
    );
    const result = await pass;
    expect(result.baseSeq).toBeNull();
    expect(result.reason).toMatch(/replaced while the base was written/);
    await expectStreamedBaseKept(dir, src, rep, cut, hasher);
  });

  it("the replica's install waits for a running pass, then replaces its base", async () => {
    const hasher = await BlockHasher.create();
    const { dir, src, rep } = await behindReplica(hasher);
    const cut = src.lastSeq;
    const pass = retentionPass(rep, hasher);
    const install = installStreamedBase(
      rep,
      cut,
      src.lastTs,
      baseBodies(src, cut, hasher, () => true),
    );
    const result = await pass;
    // The pass ran whole before the install started: it folded its own history.
    expect(result.baseSeq).not.toBeNull();
    expect(result.baseSeq!).toBeLessThan(cut);
    await install;
    await expectStreamedBaseKept(dir, src, rep, cut, hasher);
  });
});
