/**
 * A token-protected `pvjournal sidecar` and a `pvjournal replica` following
 * it, as real child processes, for the console's browser tests: temp source,
 * journals, mirror, allowed restore root, drill sandbox root and a drills.verify
 * command that fails on purpose (exit 3).
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CliProcess, freePort, makeTmpDir, spawnCli, waitFor } from "../helpers/index.js";

/** Both daemons outlive vitest's default kill. */
const DAEMON_TIMEOUT_MS = 600_000;

/** The token both daemons require. */
export const UI_TOKEN = "console-e2e-token-7f3a";

/** Exit code of the failing verify command. */
export const VERIFY_EXIT = 3;

/** The rig: paths, base URLs, daemons; `close()` kills both and removes the dirs. */
export class UiRig {
  readonly procs: CliProcess[] = [];

  private constructor(
    readonly root: string,
    readonly source: string,
    readonly restores: string,
    readonly sidecarPort: number,
    readonly replicaPort: number,
  ) {}

  get sidecar(): string {
    return `http://127.0.0.1:${this.sidecarPort}`;
  }

  get replica(): string {
    return `http://127.0.0.1:${this.replicaPort}`;
  }

  static async create(): Promise<UiRig> {
    const root = await makeTmpDir("pvj-ui-");
    const rig = new UiRig(
      root,
      join(root, "data"),
      join(root, "restores"),
      await freePort(),
      await freePort(),
    );
    for (const d of ["data", "restores", "drills", "mirror", "replica-restores"])
      await mkdir(join(root, d));
    await writeFile(join(root, "token"), `${UI_TOKEN}\n`);
    const common = (port: number) => [
      "api:",
      `  listen: 127.0.0.1:${port}`,
      `  tokenFile: ${join(root, "token")}`,
      "log:",
      "  level: warn",
    ];
    await writeFile(
      join(root, "sidecar.yaml"),
      [
        "sources:",
        "  - name: data",
        `    path: ${rig.source}`,
        "journal:",
        `  dir: ${join(root, "sidecar-journal")}`,
        "  blockSize: 4KiB",
        ...common(rig.sidecarPort),
        "checkpoints:",
        "  interval: 0",
        "capture:",
        "  debounce: 30ms",
        "  maxWait: 200ms",
        "restore:",
        `  allowedRoots: [${rig.restores}]`,
        "drills:",
        `  sandboxRoot: ${join(root, "drills")}`,
        `  verify: ["sh", "-c", "echo 'rows missing in the sandbox'; exit ${VERIFY_EXIT}"]`,
        "",
      ].join("\n"),
    );
    await writeFile(
      join(root, "replica.yaml"),
      [
        "journal:",
        `  dir: ${join(root, "replica-journal")}`,
        ...common(rig.replicaPort),
        "replica:",
        `  source: ${rig.sidecar}`,
        `  tokenFile: ${join(root, "token")}`,
        `  mirrorDir: ${join(root, "mirror")}`,
        "restore:",
        `  allowedRoots: [${join(root, "replica-restores")}]`,
        "",
      ].join("\n"),
    );
    return rig;
  }

  private async spawn(role: "sidecar" | "replica", base: string): Promise<void> {
    const p = spawnCli([role, "-c", join(this.root, `${role}.yaml`)], {
      cwd: this.root,
      timeout: DAEMON_TIMEOUT_MS,
    });
    this.procs.push(p);
    await waitFor(
      async () => {
        p.assertRunning();
        return (await fetch(`${base}/readyz`)).status === 200;
      },
      { timeout: 30_000, interval: 25, what: `${role} /readyz 200` },
    );
  }

  async startSidecar(): Promise<void> {
    await this.spawn("sidecar", this.sidecar);
  }

  async startReplica(): Promise<void> {
    await this.spawn("replica", this.replica);
  }

  /** A /v1 call with the token; throws unless the status is `expect`. */
  async api<T>(base: string, path: string, init: RequestInit = {}, expect = 200): Promise<T> {
    const res = await fetch(`${base}/v1${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${UI_TOKEN}`,
        ...(init.body ? { "content-type": "application/json" } : {}),
      },
    });
    const body = (await res.json()) as T;
    if (res.status !== expect)
      throw new Error(`${init.method ?? "GET"} ${path}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  }

  /** POST /v1/checkpoints on the sidecar. */
  async checkpoint(label: string): Promise<{ id: number; seq: number; ts: string }> {
    return this.api(
      this.sidecar,
      "/checkpoints",
      { method: "POST", body: JSON.stringify({ label }) },
      201,
    );
  }

  /** Everything the daemons wrote to stderr (for failure messages). */
  stderr(): string {
    return this.procs.map((p) => p.stderr()).join("\n");
  }

  async close(): Promise<void> {
    for (const p of this.procs.splice(0)) {
      p.child.kill("SIGKILL");
      await p.exited.catch(() => undefined);
    }
    await rm(this.root, { recursive: true, force: true });
  }
}
