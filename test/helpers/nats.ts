/**
 * A real NATS JetStream cluster for tests: `nats-server` processes on free
 * loopback ports, each with its own store dir, that a test can kill -9 and
 * restart. Needs /usr/sbin/nats-server (.ci/run installs Debian's).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { freePort } from "./net.js";
import { StopWaiting, waitFor } from "./wait.js";

/** Where Debian installs the server. */
export const NATS_SERVER = existsSync("/usr/sbin/nats-server")
  ? "/usr/sbin/nats-server"
  : "nats-server";

/** Options of a test cluster. */
export interface NatsClusterOptions {
  /** Nodes (default 3; 1 = a single JetStream server, no cluster block). */
  readonly nodes?: number;
  /** Clients must present this token. */
  readonly token?: string;
  /** TLS for clients: PEM files of the server's certificate and key. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

/** A running test cluster. */
export interface NatsCluster {
  /** Client URLs, one per node (nats://127.0.0.1:PORT). */
  readonly urls: readonly string[];
  /** kill -9 of node i. */
  kill(i: number): Promise<void>;
  /** Starts node i again on the same ports and store dir. */
  restart(i: number): Promise<void>;
  /** Kills every node. */
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Starts a cluster below `dir` and waits until every node listens for clients. */
export async function startNatsCluster(
  dir: string,
  opts: NatsClusterOptions = {},
): Promise<NatsCluster> {
  const n = opts.nodes ?? 3;
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const routes = await Promise.all(Array.from({ length: n }, () => freePort()));
  const children: (ChildProcess | null)[] = Array.from({ length: n }, () => null);
  const confs = ports.map((port, i) => {
    const store = join(dir, `nats-${i}`);
    mkdirSync(store, { recursive: true });
    const lines = [
      `server_name: n${i}`,
      `listen: "127.0.0.1:${port}"`,
      // 8 MiB: a batch of 64 KiB blocks fits with room to spare.
      "max_payload: 8388608",
      `jetstream { store_dir: "${store}", max_file_store: 2G, max_memory_store: 64M }`,
    ];
    if (n > 1) {
      const peers = routes.map((p) => `nats-route://127.0.0.1:${p}`).join(", ");
      lines.push(`cluster { name: pvj, listen: 127.0.0.1:${routes[i]}, routes: [${peers}] }`);
    }
    if (opts.token) lines.push(`authorization { token: "${opts.token}" }`);
    if (opts.tls)
      lines.push(`tls { cert_file: "${opts.tls.certFile}", key_file: "${opts.tls.keyFile}" }`);
    const file = join(dir, `nats-${i}.conf`);
    writeFileSync(file, `${lines.join("\n")}\n`);
    return file;
  });
  const start = async (i: number) => {
    const child = spawn(NATS_SERVER, ["-c", confs[i]!], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    children[i] = child;
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new StopWaiting(`nats-server ${i} exited: ${err}`);
        return (await portOpen(ports[i]!)) || undefined;
      },
      { timeout: 15_000, interval: 50 },
    );
  };
  const kill = async (i: number) => {
    const c = children[i];
    children[i] = null;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await gone;
  };
  await Promise.all(ports.map((_, i) => start(i)));
  return {
    urls: ports.map((p) => `nats://127.0.0.1:${p}`),
    kill,
    restart: start,
    async stop() {
      await Promise.all(ports.map((_, i) => kill(i)));
    },
  };
}
