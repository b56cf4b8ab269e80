import { lstat, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Capture } from "../../src/capture/capture.js";
import { Checkpointer } from "../../src/capture/checkpointer.js";
import type { CaptureConfig, CheckpointsConfig, SourceConfig } from "../../src/config/types.js";
import { buildPlan } from "../../src/journal/build-plan.js";
import { Journal } from "../../src/journal/journal.js";
import { resolvePoint } from "../../src/journal/points.js";
import { silentLogger } from "../../src/log/logger.js";
import { applyPlan } from "../../src/restore/apply.js";
import { BlockHasher } from "../../src/util/hash.js";
import { readTree, type TreeEntry } from "./tree.js";

/** Capture settings for tests: short periods so a test runs in seconds. */
export function testCaptureConfig(
  usePolling: boolean,
  over: Partial<CaptureConfig> = {},
): CaptureConfig {
  return {
    mode: "watch",
    debounce: 30,
    maxWait: 150,
    rescanInterval: 0,
    usePolling,
    pollInterval: 50,
    ...over,
  };
}

/** No hooks, no automatic checkpoints. */
export const NO_HOOKS: CheckpointsConfig["hooks"] = { pre: null, post: null, timeout: 5000 };

/** Everything one capture test owns; `close()` releases it all. */
export class CaptureRig {
  capture: Capture | null = null;
  checkpointer: Checkpointer | null = null;
  journal: Journal | null = null;
  hasher: BlockHasher | null = null;
  private readonly dirs: string[] = [];

  constructor(
    readonly root: string,
    readonly sources: SourceConfig[],
    readonly journalDir: string,
    readonly cfg: CaptureConfig,
    readonly blockSize: number,
  ) {}

  /** A temp dir with `src-<name>` per source and a journal dir. */
  static async create(opts: {
    names?: string[];
    usePolling: boolean;
    blockSize?: number;
    ignore?: string[];
    capture?: Partial<CaptureConfig>;
  }): Promise<CaptureRig> {
    const root = await mkdtemp(join(tmpdir(), "pvj-capture-"));
    const sources = (opts.names ?? ["data"]).map((name) => ({
      name,
      path: join(root, `src-${name}`),
      ignore: opts.ignore ?? [],
      mountPoint: null,
    }));
    for (const s of sources) await mkdir(s.path);
    return new CaptureRig(
      root,
      sources,
      join(root, "journal"),
      testCaptureConfig(opts.usePolling, opts.capture),
      opts.blockSize ?? 4096,
    );
  }

  /** Source directory of `name` (default: the first). */
  src(name?: string): string {
    return (name ? this.sources.find((s) => s.name === name) : this.sources[0])!.path;
  }

  /** Opens the journal and starts capture + checkpointer (interval 0: tests drive take()). */
  async up(hooks: CheckpointsConfig["hooks"] = NO_HOOKS): Promise<void> {
    this.journal = await Journal.open({
      dir: this.journalDir,
      blockSize: this.blockSize,
      segmentSize: 4 * 1024 * 1024,
    });
    this.hasher ??= await BlockHasher.create();
    this.capture = new Capture({
      journal: this.journal,
      hasher: this.hasher,
      sources: this.sources,
      capture: this.cfg,
      logger: silentLogger(),
    });
    await this.capture.start();
    this.checkpointer = new Checkpointer({
      journal: this.journal,
      capture: this.capture,
      hooks,
      interval: 0,
      logger: silentLogger(),
    });
    this.checkpointer.start();
  }

  /** Stops capture and closes the journal (a clean shutdown). */
  async down(): Promise<void> {
    await this.checkpointer?.stop();
    await this.capture?.stop();
    await this.journal?.close();
    this.checkpointer = null;
    this.capture = null;
    this.journal = null;
  }

  /** Restores checkpoint `id` into a fresh dir and reads the tree of each source. */
  async restore(id: number | { seq: number }): Promise<Map<string, TreeEntry>> {
    const journal = this.journal!;
    const target = join(this.root, `restore-${Math.random().toString(36).slice(2, 10)}`);
    this.dirs.push(target);
    const point = resolvePoint(
      journal,
      typeof id === "number" ? { checkpoint: id } : id,
      Date.now() + 60_000,
    );
    await applyPlan({ journal, plan: buildPlan(journal, point), target, hasher: this.hasher! });
    return readTree(target);
  }

  /** The reference tree of every source, keyed like a restore (`<source>/...`, roots included). */
  async reference(): Promise<Map<string, TreeEntry>> {
    const out = new Map<string, TreeEntry>();
    for (const s of this.sources) {
      const st = await lstat(s.path);
      out.set(s.name, { kind: "dir", mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
      for (const [p, e] of await readTree(s.path)) out.set(`${s.name}/${p}`, e);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.down().catch(() => undefined);
    await rm(this.root, { recursive: true, force: true });
  }
}
