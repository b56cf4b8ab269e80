/**
 * Intercept capture (capture.mode: intercept): each source's `path` is served
 * at its `mountPoint` through our own FUSE filesystem, and every mutation is
 * journaled in the order the kernel delivered it, before it is answered. A
 * checkpoint is a cut of that order: crash-consistent.
 *
 * Start: a stale mount left by a killed sidecar is detached, the volume is
 * reconciled against the journal (the watch capture's full pass: anything
 * written but not journaled before a crash is journaled now), and only then
 * is the mount served. Stop: the mount is detached and the log flushed.
 */
import { lstatSync } from "node:fs";
import { FileReader } from "../capture/reader.js";
import { SourceMap } from "../capture/sources.js";
import { newCounters, Syncer } from "../capture/syncer.js";
import { warmTree } from "../capture/warm-tree.js";
import type { SourceConfig } from "../config/types.js";
import type { Journal } from "../journal/journal.js";
import type { Logger } from "../log/logger.js";
import type { BlockHasher } from "../util/hash.js";
import { cutAttrs, type FsContext } from "./context.js";
import {
  abortConnection,
  closeDevice,
  connectionId,
  isMounted,
  mountFuse,
  openFuseDevice,
  unmountLazy,
} from "./mount.js";
import { Namespace } from "./namespace.js";
import { NodeTable } from "./nodes.js";
import { checkPrivilege } from "./privilege.js";
import { FuseSession, type SessionStats } from "./session.js";
import { startWatchdog, WATCHDOG_LIMIT_MS } from "./watchdog.js";
import { WriteLog, type WriteLogStats } from "./write-log.js";

/** Options of an InterceptCapture. */
export interface InterceptOptions {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly sources: readonly SourceConfig[];
  readonly logger: Logger;
  readonly onError?: (err: unknown) => void;
}

interface Mounted {
  readonly source: SourceConfig;
  readonly mountPoint: string;
  readonly fd: number;
  readonly ctx: FsContext;
  readonly session: FuseSession;
}

/** Status of one mount. */
export interface MountStatus {
  readonly source: string;
  readonly mountPoint: string;
  readonly serving: boolean;
  readonly requests: SessionStats;
}

/** The intercept part of /v1/status. */
export interface InterceptStatus {
  readonly mounts: readonly MountStatus[];
  readonly log: WriteLogStats;
}

/** See the module comment. */
export class InterceptCapture {
  /** Every write delivered before a cut is in it, none after: what a power cut leaves. */
  readonly consistency = "crash" as const;
  private readonly opts: InterceptOptions;
  private readonly log: WriteLog;
  private readonly mounts: Mounted[] = [];
  private devices = new Map<string, number>();
  private ready = false;
  private stopped = false;
  private lastError: { message: string; at: number } | null = null;
  private errors = 0;
  private lastCaptureAt: number | null = null;
  private reconciled = { paths: 0, bytes: 0 };
  private stopWatchdog: (() => void) | null = null;

  constructor(opts: InterceptOptions) {
    this.opts = opts;
    this.log = new WriteLog(
      opts.journal,
      (err) => this.record(err, "journal append (retrying; new writes get ENOSPC/EIO)"),
      () => opts.logger.info("intercept: the journal takes writes again"),
    );
  }

  /**
   * Before the API listens: the FUSE device opens and the privilege is there
   * (ConfigError, exit 2, saying what to grant), and stale mounts are detached.
   */
  async prepare(): Promise<void> {
    checkPrivilege();
    for (const s of this.opts.sources) {
      const mp = s.mountPoint!;
      if (isMounted(mp)) {
        this.opts.logger.warn(
          { mountPoint: mp },
          "intercept: detaching a stale mount left by a previous sidecar",
        );
        await unmountLazy(mp);
      }
      this.devices.set(s.name, openFuseDevice());
    }
  }

  /** Reconciles the volumes against the journal, then mounts and serves every source. */
  async start(): Promise<void> {
    if (this.devices.size === 0) await this.prepare();
    const { journal, hasher, logger } = this.opts;
    const sources = new SourceMap(this.opts.sources);
    const t0 = Date.now();
    const syncer = new Syncer({
      journal,
      sources,
      reader: new FileReader({ blockSize: journal.blockSize, hasher }),
      tree: warmTree(journal, sources, null),
      counters: newCounters(),
    });
    const res = await syncer.sync(sources.roots(), { walk: true, deferVanish: false });
    for (const f of res.failures) this.record(f.error, `reconcile of ${f.path}`);
    this.reconciled = { paths: syncer.tree.count, bytes: syncer.tree.bytes };
    logger.info(
      { ms: Date.now() - t0, paths: syncer.tree.count, bytes: syncer.tree.bytes },
      "intercept: volume reconciled against the journal",
    );
    for (const s of this.opts.sources) {
      if (this.stopped) return;
      const ns = new Namespace(s.name, () => journal.allocateFileId());
      const byIno = new Map<number, string[]>();
      for (const path of syncer.tree.paths()) {
        if (path !== s.name && !path.startsWith(`${s.name}/`)) continue;
        const t = syncer.tree.get(path)!;
        const rel = path === s.name ? "" : path.slice(s.name.length + 1);
        ns.adopt(rel, { fileId: t.fileId, kind: t.kind });
        if (t.kind === "file" && t.ino !== undefined) {
          const list = byIno.get(t.ino) ?? [];
          list.push(rel);
          byIno.set(t.ino, list);
        }
      }
      for (const [ino, rels] of byIno)
        if (rels.length > 1) for (const r of rels) ns.addLink(ino, r);
      await this.mountOne(s, ns);
    }
    this.ready = true;
    this.lastCaptureAt = Date.now();
    // A commit in flight this long (without failing, which is retried and
    // visible) means the journal's disk hangs: exit rather than hang the app.
    this.stopWatchdog = startWatchdog(() => {
      const s = this.log.stats();
      return (
        s.failing !== null ||
        s.oldestQueuedAt === null ||
        Date.now() - s.oldestQueuedAt < WATCHDOG_LIMIT_MS
      );
    });
  }

  private async mountOne(source: SourceConfig, ns: Namespace): Promise<void> {
    const fd = this.devices.get(source.name)!;
    const mountPoint = source.mountPoint!;
    const ctx: FsContext = {
      root: source.path,
      ns,
      nodes: new NodeTable(lstatSync(source.path).ino),
      log: this.log,
      blockSize: this.opts.journal.blockSize,
      hash: (d) => this.opts.hasher.hash(d),
      logger: this.opts.logger,
      dirtyFiles: new Set(),
      dirtyDirs: new Set(),
    };
    const session = new FuseSession(fd, ctx, (err) =>
      this.record(err, `FUSE session of ${mountPoint}`),
    );
    await mountFuse(fd, mountPoint);
    session.start();
    await session.holdWaker(mountPoint);
    this.mounts.push({ source, mountPoint, fd, ctx, session });
    this.opts.logger.info(
      { source: source.name, path: source.path, mountPoint },
      "intercept: serving",
    );
  }

  /**
   * The checkpoint barrier: mtimes of what changed since the last cut are
   * journaled, then everything delivered so far is durable. Milliseconds: one
   * group commit, no rescan.
   */
  async settle(): Promise<void> {
    if (this.stopped) throw new Error("capture is stopped");
    if (!this.ready)
      throw new Error("intercept capture is not serving yet (reconcile in progress)");
    for (const m of this.mounts) this.log.submit(cutAttrs(m.ctx));
    await this.log.durable();
    this.lastCaptureAt = Date.now();
  }

  /** Detaches every mount (the app sees ENOTCONN until a sidecar serves again) and flushes the log. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopWatchdog?.();
    for (const m of this.mounts) {
      const id = connectionId(m.mountPoint);
      await unmountLazy(m.mountPoint).catch((err: unknown) => this.record(err, "unmount"));
      abortConnection(id);
      if (!(await m.session.stop()))
        this.opts.logger.warn(
          { mountPoint: m.mountPoint },
          "intercept: the FUSE reader thread did not end; the process may not exit",
        );
    }
    await this.log.close();
    for (const m of this.mounts) {
      for (const h of m.ctx.nodes.allFiles()) closeDevice(h.fd);
      closeDevice(m.fd);
    }
    for (const [name, fd] of this.devices)
      if (!this.mounts.some((m) => m.source.name === name)) closeDevice(fd);
  }

  /** Status in the watch capture's shape, plus the mounts and the write log. */
  status() {
    const log = this.log.stats();
    const dirty = this.mounts.reduce((a, m) => a + m.ctx.dirtyFiles.size + m.ctx.dirtyDirs.size, 0);
    return {
      mode: "intercept" as const,
      ready: this.ready && this.mounts.every((m) => m.session.serving),
      scanning: {
        active: !this.ready && !this.stopped,
        paths: this.reconciled.paths,
        bytesRead: this.reconciled.bytes,
      },
      dirtyPaths: dirty + (log.queuedBytes > 0 ? 1 : 0),
      oldestDirtyAt: log.oldestQueuedAt,
      lastCaptureAt: this.lastCaptureAt,
      lastError: this.lastError,
      degraded: log.failing !== null,
      errors: this.errors,
      filesTracked: this.mounts.reduce((a, m) => a + m.ctx.ns.size, 0),
      bytesTracked: this.reconciled.bytes,
      intercept: {
        mounts: this.mounts.map((m) => ({
          source: m.source.name,
          mountPoint: m.mountPoint,
          serving: m.session.serving,
          requests: { ...m.session.stats },
        })),
        log,
      } satisfies InterceptStatus,
    };
  }

  private record(err: unknown, what: string): void {
    this.errors += 1;
    const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    this.lastError = { message, at: Date.now() };
    this.opts.logger.error({ err, what }, "intercept capture error");
    try {
      this.opts.onError?.(err);
    } catch {
      // a faulty callback must not stop the capture
    }
  }
}
