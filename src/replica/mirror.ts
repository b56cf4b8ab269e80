/**
 * The replica's live mirror: a plain directory that equals the source as of
 * the newest checkpoint the replica applied (layout `<mirrorDir>/<source>/...`).
 * Advancing it rewrites only what changed between two journal positions:
 * renames are renames, only changed blocks are written (through the shared
 * file writer, restore/write-files.ts), and the written files and touched
 * directories are made durable in one step before the new position is recorded. A crash in the middle
 * leaves a "dirty" mark in the index, and so does a failed update (ENOSPC,
 * EIO): the next update, or the next start, rebuilds the mirror from the
 * journal instead of trusting a half-applied state.
 */

import { mkdirSync } from "node:fs";
import { lstat, mkdir, readdir, rename, rm, symlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { outlinePlan, planInSlices } from "../journal/build-plan.js";
import type { Journal } from "../journal/journal.js";
import { type NsEntry, replayNamespace } from "../journal/namespace.js";
import { effectiveBlocks, type PlannedBlock } from "../journal/plan.js";
import type { Logger } from "../log/logger.js";
import { BlockReader } from "../restore/block-reader.js";
import { makeDurable } from "../restore/durable.js";
import { materialiseTree } from "../restore/materialiser.js";
import { setAttributes } from "../restore/tree-io.js";
import { type FileTask, Pacer, type PatchWrite, writeTask } from "../restore/write-files.js";
import type { BlockHasher } from "../util/hash.js";

const STAGE = ".pvj-stage";
const REBUILD = ".pvj-rebuild";

/** Keeps a directory equal to a journal position. */
export class Mirror {
  private tree: Map<string, NsEntry> | null = null;
  /** Serialises updates with readers that need a stable mirror (drills clone it). */
  private lock: Promise<void> = Promise.resolve();

  constructor(
    private readonly journal: Journal,
    readonly dir: string,
    private readonly hasher: BlockHasher,
    private readonly log: Logger,
  ) {}

  /** The journal position the mirror shows (0 = empty). */
  get seq(): number {
    return Number(this.journal.index.getMeta("mirrorSeq") ?? "0");
  }

  /** True while an update is in progress or was interrupted (content is not at `seq`). */
  get dirty(): boolean {
    return this.journal.index.getMeta("mirrorDirty") === "1";
  }

  /** Runs `fn` alone: no update starts while it runs, and it waits for one in progress. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Runs `fn` while the mirror holds still at `seq` (updates wait): a drill
   * clones the mirror inside it. Keep `fn` short: replication's mirror
   * updates queue behind it (the stream itself keeps flowing into the journal).
   */
  withStable<T>(fn: () => Promise<T>): Promise<T> {
    return this.exclusive(fn);
  }

  /**
   * Moves the mirror to any position, also backwards (failover to an older
   * point): forward incrementally, backward by rebuilding. `build`, when given,
   * materialises the point into an empty directory on the mirror's
   * filesystem (a drill-style clone of the mirror is much faster than a full
   * rebuild); it runs while the mirror holds still.
   */
  async moveTo(seq: number, build?: (dir: string) => Promise<void>): Promise<void> {
    if (seq >= this.seq && !this.dirty) {
      await this.advanceTo(seq);
      return;
    }
    await this.exclusive(async () => {
      this.journal.index.setMeta("mirrorDirty", "1");
      if (build) await this.replaceWith(build);
      else await this.rebuild(seq);
      this.journal.index.tx(() => {
        this.journal.index.setMeta("mirrorSeq", String(seq));
        this.journal.index.setMeta("mirrorDirty", "0");
      });
    });
  }

  /** Builds the new content beside the old (same filesystem), then swaps it in. */
  private async replaceWith(build: (dir: string) => Promise<void>): Promise<void> {
    const tmp = join(this.dir, REBUILD);
    await rm(tmp, { recursive: true, force: true });
    await build(tmp);
    for (const name of await readdir(this.dir))
      if (name !== REBUILD) await rm(join(this.dir, name), { recursive: true, force: true });
    this.tree = null;
    for (const name of await readdir(tmp)) await rename(join(tmp, name), join(this.dir, name));
    await rm(tmp, { recursive: true, force: true });
  }

  /** Rebuilds the mirror if a previous update was interrupted. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (this.journal.index.getMeta("mirrorDirty") === "1") {
      this.log.warn(
        { dir: this.dir, seq: this.seq },
        "mirror update was interrupted: rebuilding the mirror",
      );
      await this.rebuild(this.seq);
      this.journal.index.setMeta("mirrorDirty", "0");
    }
  }

  /** Makes the mirror equal the journal at `to` (a checkpoint's seq). */
  advanceTo(to: number): Promise<void> {
    return this.exclusive(async () => {
      const from = this.seq;
      // A failed update left the content somewhere between `from` and its
      // target: the only way back to a known state is a full rebuild.
      const wasDirty = this.dirty;
      if (to <= from && !wasDirty) return;
      const target = Math.max(from, to);
      this.journal.index.setMeta("mirrorDirty", "1");
      try {
        if (wasDirty || from === 0 || from < this.journal.baseSeq) {
          if (wasDirty)
            this.log.warn(
              { dir: this.dir, seq: target },
              "rebuilding the mirror after a failed update",
            );
          await this.rebuild(target);
        } else await this.withPinned(from, () => this.applyBetween(from, target));
      } catch (err) {
        // The dirty mark stays set (the next update rebuilds); the cached tree is not trusted.
        this.tree = null;
        throw err;
      }
      this.journal.index.tx(() => {
        this.journal.index.setMeta("mirrorSeq", String(target));
        this.journal.index.setMeta("mirrorDirty", "0");
      });
    });
  }

  /** Keeps retention from folding past `seq` while `fn` reads it. */
  private async withPinned<T>(seq: number, fn: () => Promise<T>): Promise<T> {
    const release = this.journal.pin(seq);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Replaces the whole mirror content with the journal at `seq`. */
  private async rebuild(seq: number): Promise<void> {
    const tmp = join(this.dir, REBUILD);
    await rm(tmp, { recursive: true, force: true });
    for (const name of await readdir(this.dir))
      await rm(join(this.dir, name), { recursive: true, force: true });
    this.tree = null;
    if (seq === 0) return;
    const ts = this.journal.index.tsAtSeq(seq) ?? this.journal.lastTs;
    await this.withPinned(seq, async () =>
      materialiseTree({
        journal: this.journal,
        plan: await planInSlices(
          this.journal,
          outlinePlan(this.journal, { seq, ts, checkpoint: null }),
        ),
        target: tmp,
        hasher: this.hasher,
        durable: true,
      }),
    );
    for (const name of await readdir(tmp)) await rename(join(tmp, name), join(this.dir, name));
    await rm(tmp, { recursive: true, force: true });
  }

  private treeAt(seq: number): Map<string, NsEntry> {
    return replayNamespace(this.journal.index.nsUpTo(seq));
  }

  /** Applies the changes in (from, to] in place. */
  private async applyBetween(from: number, to: number): Promise<void> {
    const ix = this.journal.index;
    const oldTree = this.tree ?? this.treeAt(from);
    const newTree = replayNamespace(ix.nsBetween(from, to), new Map(oldTree));
    const newPathOf = new Map<number, string>();
    for (const [p, e] of newTree) newPathOf.set(e.fileId, p);
    const touched = new Set<string>();
    const abs = (p: string) => join(this.dir, p);

    // 1. Stage moved entries (deepest first, so a child that moved on its own leaves its old parent first).
    const moved: { fileId: number; oldPath: string; newPath: string }[] = [];
    for (const [p, e] of oldTree) {
      const np = newPathOf.get(e.fileId);
      if (np === undefined || np === p || newTree.get(np)?.kind !== e.kind) continue;
      const slash = p.lastIndexOf("/");
      const parent = slash < 0 ? null : p.slice(0, slash);
      const parentEntry = parent === null ? undefined : oldTree.get(parent);
      const parentNew = parentEntry ? newPathOf.get(parentEntry.fileId) : undefined;
      if (
        parentNew !== undefined &&
        parentNew !== parent &&
        np === `${parentNew}/${p.slice(slash + 1)}`
      )
        continue; // moves with its parent
      moved.push({ fileId: e.fileId, oldPath: p, newPath: np });
    }
    await mkdir(join(this.dir, STAGE), { recursive: true });
    for (const m of [...moved].sort((a, b) => b.oldPath.length - a.oldPath.length)) {
      await rename(abs(m.oldPath), join(this.dir, STAGE, String(m.fileId))).catch(
        (err: NodeJS.ErrnoException) => {
          if (err.code !== "ENOENT") throw err;
        },
      );
      touched.add(dirname(m.oldPath));
    }
    // 2. Delete what no longer exists (or changed kind), wherever it is now:
    // an entry inside a staged directory travelled with it.
    const staged = new Map(moved.map((m) => [m.oldPath, join(this.dir, STAGE, String(m.fileId))]));
    const whereNow = (p: string): string => {
      for (let cut = p.length; cut > 0; cut = p.lastIndexOf("/", cut - 1)) {
        const at = staged.get(p.slice(0, cut));
        if (at !== undefined) return at + p.slice(cut);
      }
      return abs(p);
    };
    for (const [p, e] of oldTree) {
      const np = newPathOf.get(e.fileId);
      const gone = np === undefined || newTree.get(np)?.kind !== e.kind;
      if (gone) {
        await rm(whereNow(p), { recursive: true, force: true });
        touched.add(dirname(p));
      }
    }
    // 3. Unstage moved entries at their new paths (parents first).
    for (const m of [...moved].sort((a, b) => a.newPath.length - b.newPath.length)) {
      await mkdir(dirname(abs(m.newPath)), { recursive: true });
      await rm(abs(m.newPath), { recursive: true, force: true });
      await rename(join(this.dir, STAGE, String(m.fileId)), abs(m.newPath));
      touched.add(dirname(m.newPath));
      touched.add(m.newPath);
    }
    await rm(join(this.dir, STAGE), { recursive: true, force: true });

    // 4. Create new entries and rewrite changed content.
    const oldIds = new Map<number, NsEntry>();
    for (const e of oldTree.values()) oldIds.set(e.fileId, e);
    const changedBlocks = new Map<number, Set<number>>();
    for (const row of ix.blocksChangedBetween(from, to)) {
      const s = changedBlocks.get(row.file_id) ?? new Set<number>();
      changedBlocks.set(row.file_id, s);
      s.add(row.block);
    }
    const sizes = ix.sizesChangedBetween(from, to);
    const attrChanged = ix.attrsChangedBetween(from, to);
    const reader = new BlockReader(this.journal, this.hasher);
    const pacer = new Pacer();
    const written: string[] = [];
    const entries = [...newTree].sort((a, b) => a[0].localeCompare(b[0]));
    for (const [p, e] of entries) {
      const prev = oldIds.get(e.fileId);
      const isNew = !prev || prev.kind !== e.kind;
      if (e.kind === "dir") {
        if (isNew) await mkdir(abs(p), { recursive: true });
      } else if (e.kind === "symlink") {
        if (isNew || prev?.target !== e.target) {
          await rm(abs(p), { force: true });
          await mkdir(dirname(abs(p)), { recursive: true });
          await symlink(e.target ?? "", abs(p));
        }
      } else if (isNew || changedBlocks.has(e.fileId) || sizes.has(e.fileId)) {
        const task = this.fileTask(
          abs(p),
          e.fileId,
          to,
          isNew
            ? null
            : {
                blocks: changedBlocks.get(e.fileId) ?? new Set(),
                cut: sizes.get(e.fileId) ?? null,
              },
        );
        mkdirSync(dirname(task.path), { recursive: true });
        await writeTask(task, reader, pacer, () => undefined);
        written.push(task.path);
      } else if (!attrChanged.has(e.fileId)) continue;
      touched.add(p);
      if (isNew) touched.add(dirname(p));
    }
    // 5. Attributes of everything touched (and of every directory whose content we changed), deepest first.
    for (const p of [...touched]
      .filter((x) => x !== "." && newTree.has(x))
      .sort((a, b) => b.length - a.length)) {
      const e = newTree.get(p)!;
      const attr = ix.attrAt(e.fileId, to);
      if (attr) await setAttributes(abs(p), { kind: e.kind, mode: attr.mode, mtimeMs: attr.mtime });
    }
    for (const [p, e] of entries) {
      if (touched.has(p) || !attrChanged.has(e.fileId)) continue;
      const attr = ix.attrAt(e.fileId, to);
      if (!attr) continue;
      const st = await lstat(abs(p)).catch(() => null);
      if (st) await setAttributes(abs(p), { kind: e.kind, mode: attr.mode, mtimeMs: attr.mtime });
    }
    // One durability step for the whole update, before advanceTo records the new position.
    const dirs = [...touched].filter((x) => newTree.get(x)?.kind === "dir").map(abs);
    await makeDurable(this.dir, written, [this.dir, ...dirs]);
    this.tree = newTree;
  }

  /**
   * What writing a file's content at `to` takes: all of it (`patch` null, a
   * new file; zero ranges stay holes) or, in place, the changed blocks after
   * cutting the file at the smallest size a shrink since the last update left
   * (the bytes beyond then read as zeros unless rewritten).
   */
  private fileTask(
    path: string,
    fileId: number,
    to: number,
    patch: { blocks: Set<number>; cut: number | null } | null,
  ): FileTask {
    const ix = this.journal.index;
    const bs = this.journal.blockSize;
    const size = ix.sizeAt(fileId, to)?.size ?? 0;
    const shrinks = ix.shrinksUpTo(fileId, to);
    const rangesOf = (b: number): PlannedBlock[] => {
      const v = ix.blockAt(fileId, b, to);
      return v ? effectiveBlocks([v], shrinks, size, bs) : [];
    };
    const label = `${path} (file ${fileId})`;
    if (patch === null) {
      const blocks = Array.from({ length: Math.ceil(size / bs) }, (_, b) => rangesOf(b)).flat();
      return { kind: "create", path, label, size, blocks };
    }
    const writes: PatchWrite[] = [...patch.blocks]
      .sort((a, b) => a - b)
      .flatMap((b) => rangesOf(b).map((r) => ({ offset: r.offset, len: r.len, block: r })));
    return { kind: "patch", path, label, size, cut: patch.cut, writes };
  }
}
