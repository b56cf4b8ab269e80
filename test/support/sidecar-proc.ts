/**
 * A real `pvjournal sidecar -c CONFIG` child process for end-to-end tests:
 * temp sources, journal and config; start/kill/restart; checkpoints over
 * HTTP; offline restores through the CLI (`pvjournal restore --journal`).
 */
import { lstat, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CliProcess, runCli, spawnCli } from "../helpers/cli.js";
import { freePort } from "../helpers/net.js";
import { waitFor } from "../helpers/wait.js";
import { runCommand } from "./command.js";
import { readTree, type TreeEntry } from "./tree.js";

/** A checkpoint as POST /v1/checkpoints answers it. */
export interface CheckpointAnswer {
  readonly id: number;
  readonly seq: number;
  readonly ts: string;
  readonly label: string | null;
  readonly consistency: "app" | "crash" | "fuzzy";
  readonly hooks?: Record<string, { ok: boolean; exitCode?: number | null; output?: string }>;
}

/** Options of a sidecar rig. */
export interface SidecarRigOptions {
  readonly names?: readonly string[];
  readonly usePolling?: boolean;
  /** Extra YAML lines for the `checkpoints:` section (indented by the caller), given each source's path. */
  readonly checkpoints?: (sourcePath: (name: string) => string) => readonly string[];
  readonly interval?: string;
  readonly blockSize?: string;
  /** capture.mode intercept: each source is served at `mnt-<name>` (see mnt()). */
  readonly intercept?: boolean;
}

/** Both the daemon and its spawner live longer than vitest's 30 s default kill. */
const DAEMON_TIMEOUT_MS = 600_000;

/** Everything one end-to-end test owns; `close()` kills the daemon and removes the dirs. */
export class SidecarRig {
  daemon: CliProcess | null = null;
  private restores = 0;

  private constructor(
    readonly root: string,
    readonly sources: { name: string; path: string }[],
    readonly journalDir: string,
    readonly configFile: string,
    readonly port: number,
    readonly intercept: boolean,
  ) {}

  /** Base URL of the API. */
  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Temp dir with one `src-<name>` per source, a journal dir and a config file. */
  static async create(opts: SidecarRigOptions = {}): Promise<SidecarRig> {
    const root = await mkdtemp(join(tmpdir(), "pvj-e2e-"));
    const sources = (opts.names ?? ["data"]).map((name) => ({
      name,
      path: join(root, `src-${name}`),
    }));
    for (const s of sources) await mkdir(s.path);
    const journalDir = join(root, "journal");
    const port = await freePort();
    const usePolling = opts.usePolling === true;
    const intercept = opts.intercept === true;
    const lines = [
      "sources:",
      ...sources.flatMap((s) => [
        `  - name: ${s.name}`,
        `    path: ${s.path}`,
        ...(intercept ? [`    mountPoint: ${join(root, `mnt-${s.name}`)}`] : []),
      ]),
      "journal:",
      `  dir: ${journalDir}`,
      ...(opts.blockSize || !intercept ? [`  blockSize: ${opts.blockSize ?? "4KiB"}`] : []),
      "  segmentSize: 4MiB",
      "api:",
      `  listen: 127.0.0.1:${port}`,
      "checkpoints:",
      `  interval: ${opts.interval ?? "0"}`,
      ...(opts.checkpoints?.((name) => sources.find((s) => s.name === name)!.path) ?? []),
      "capture:",
      `  mode: ${intercept ? "intercept" : "watch"}`,
      "  debounce: 50ms",
      "  maxWait: 300ms",
      "  rescanInterval: 0",
      `  usePolling: ${usePolling}`,
      "  pollInterval: 100ms",
      "restore:",
      `  allowedRoots: [${join(root, "restores")}]`,
      "drills:",
      "  sandboxRoot: null",
      "log:",
      "  level: warn",
      "",
    ];
    const configFile = join(root, "pvjournal.yaml");
    await writeFile(configFile, lines.join("\n"));
    return new SidecarRig(root, sources, journalDir, configFile, port, intercept);
  }

  /** Intercept mode: where the app reads and writes source `name` (default: the first). */
  mnt(name?: string): string {
    return join(this.root, `mnt-${name ?? this.sources[0]!.name}`);
  }

  /** Source directory of `name` (default: the first). */
  src(name?: string): string {
    return (name ? this.sources.find((s) => s.name === name) : this.sources[0])!.path;
  }

  /** Spawns the sidecar and waits for /readyz 200 (the initial scan is done). */
  async start(): Promise<void> {
    if (this.daemon) throw new Error("sidecar already running");
    const daemon = spawnCli(["sidecar", "-c", this.configFile], {
      cwd: this.root,
      timeout: DAEMON_TIMEOUT_MS,
    });
    this.daemon = daemon;
    await waitFor(
      async () => {
        daemon.assertRunning();
        return (await fetch(`${this.base}/readyz`)).status === 200;
      },
      { timeout: 30_000, interval: 20, what: "sidecar /readyz 200" },
    );
  }

  /** SIGKILL: no flush, no clean shutdown. */
  async kill(): Promise<void> {
    const d = this.daemon;
    if (!d) return;
    this.daemon = null;
    d.child.kill("SIGKILL");
    await d.exited;
  }

  /** SIGTERM and wait; throws unless the daemon exits 0. */
  async stop(): Promise<void> {
    const d = this.daemon;
    if (!d) return;
    this.daemon = null;
    d.child.kill("SIGTERM");
    const res = await d.exited;
    if (res.code !== 0) throw new Error(`sidecar exited ${res.code ?? res.signal}: ${res.stderr}`);
  }

  /** POST /v1/checkpoints; throws unless 201. */
  async checkpoint(label: string | null = null): Promise<CheckpointAnswer> {
    const res = await fetch(`${this.base}/v1/checkpoints`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ label }),
    });
    const body = (await res.json()) as unknown;
    if (res.status !== 201)
      throw new Error(`POST /v1/checkpoints: ${res.status} ${JSON.stringify(body)}`);
    return body as CheckpointAnswer;
  }

  /** GET /v1/status. */
  async status(): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.base}/v1/status`);
    if (res.status !== 200) throw new Error(`GET /v1/status: ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  }

  /** Stderr of the running daemon (for failure messages). */
  stderr(): string {
    return this.daemon?.stderr() ?? "";
  }

  /** The live tree of every source, keyed like a restore (`<source>/...`, roots included). */
  async reference(): Promise<Map<string, TreeEntry>> {
    const out = new Map<string, TreeEntry>();
    for (const s of this.sources) {
      const st = await lstat(s.path);
      out.set(s.name, { kind: "dir", mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
      for (const [p, e] of await readTree(s.path)) out.set(`${s.name}/${p}`, e);
    }
    return out;
  }

  /** Restores a checkpoint OFFLINE with `pvjournal restore --journal` into a fresh dir; its tree. */
  async restoreOffline(checkpoint: number): Promise<Map<string, TreeEntry>> {
    const target = await this.restoreOfflineTo(checkpoint);
    try {
      return await readTree(target);
    } finally {
      await rm(target, { recursive: true, force: true });
    }
  }

  /** Restores a checkpoint OFFLINE into a fresh dir below the rig and returns the dir (caller removes it). */
  async restoreOfflineTo(checkpoint: number): Promise<string> {
    this.restores += 1;
    const target = join(this.root, "restores", `cp${checkpoint}-${this.restores}`);
    const res = await runCli(
      [
        "restore",
        "--checkpoint",
        String(checkpoint),
        "--target",
        target,
        "--journal",
        this.journalDir,
      ],
      { cwd: this.root, timeout: 120_000 },
    );
    if (res.code !== 0)
      throw new Error(`restore of checkpoint ${checkpoint} exited ${res.code}: ${res.stderr}`);
    return target;
  }

  async close(): Promise<void> {
    await this.kill().catch(() => undefined);
    if (this.intercept) {
      // A killed sidecar leaves its mounts behind (ENOTCONN): detach them first.
      for (const s of this.sources) {
        await runCommand(["umount", "-l", this.mnt(s.name)]).catch(() => undefined);
      }
    }
    await rm(this.root, { recursive: true, force: true });
  }
}
