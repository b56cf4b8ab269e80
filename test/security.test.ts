/**
 * Protected mode, configured commands only, and token roles, against real
 * `pvjournal sidecar` child processes over real HTTP (issue 13, security).
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CliProcess, runCli, spawnCli } from "./helpers/cli.js";
import { freePort, tmpDir, waitFor } from "./helpers/index.js";

const OPERATOR = "op-9f3c1d7e5a2b4c6d8e0f1a3b5c7d9e1f";
const READER = "rd-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d";
const REPLICA = "rp-0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c";

interface Daemon {
  readonly dir: string;
  readonly base: string;
  readonly proc: CliProcess;
  readonly marker: string;
}

/** Writes a sidecar config (extra lines appended) in a fresh dir. */
async function sidecarConfig(extra: readonly string[], listenHost = "127.0.0.1") {
  const dir = await tmpDir("pvj-sec-");
  await mkdir(join(dir, "data"));
  await writeFile(join(dir, "data", "hello.txt"), "hello\n");
  const port = await freePort();
  const file = join(dir, "pvjournal.yaml");
  await writeFile(
    file,
    [
      "sources:",
      "  - name: data",
      "    path: data",
      "journal:",
      "  dir: journal",
      "checkpoints:",
      "  interval: 0",
      "restore:",
      "  allowedRoots: [restore]",
      ...extra.map((l) => l.replace("LISTEN", `${listenHost}:${port}`)),
      "",
    ].join("\n"),
  );
  return { dir, file, port };
}

async function startSidecar(extra: readonly string[], listenHost = "127.0.0.1"): Promise<Daemon> {
  const { dir, file, port } = await sidecarConfig(extra, listenHost);
  const proc = spawnCli(["sidecar", "-c", file], { cwd: dir, timeout: 120_000 });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      proc.assertRunning();
      const r = await fetch(`${base}/readyz`).catch(() => null);
      return r?.status === 200;
    },
    { timeout: 30_000, what: "sidecar ready" },
  );
  return { dir, base, proc, marker: join(dir, "pwned") };
}

async function call(
  d: Daemon,
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
): Promise<{ status: number; json: unknown; text: string }> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${d.base}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

async function stop(d: Daemon): Promise<string> {
  d.proc.child.kill("SIGTERM");
  const r = await d.proc.exited;
  return r.stdout + r.stderr;
}

describe("protected mode", () => {
  it("a non-loopback listen address without a token exits 2 naming api.listen and api.tokenFile", async () => {
    const { dir, file } = await sidecarConfig(["api:", "  listen: LISTEN"], "0.0.0.0");
    const r = await runCli(["sidecar", "-c", file], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("api.listen");
    expect(r.stderr).toContain("api.tokenFile");
    expect(r.stderr).toContain("api.insecureNoAuth");
    expect(existsSync(join(dir, "journal"))).toBe(false);
  });

  it("the same listen address from the environment is refused too", async () => {
    const { dir, file, port } = await sidecarConfig([]);
    const r = await runCli(["sidecar", "-c", file], {
      cwd: dir,
      env: { PVJ_API_LISTEN: `0.0.0.0:${port}` },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/api\.listen.*PVJ_API_LISTEN|PVJ_API_LISTEN.*api\.listen/s);
  });

  it("a role token without the operator token exits 2 naming api.tokenFile", async () => {
    const { dir, file } = await sidecarConfig(["api:", "  readTokenFile: read.txt"]);
    await writeFile(join(dir, "read.txt"), READER);
    const r = await runCli(["sidecar", "-c", file], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("api.tokenFile");
    expect(r.stderr).toContain("api.readTokenFile");
  });
});

describe("configured commands only", () => {
  it("the RCE attack is refused with 403 and runs nothing, even on an open (insecureNoAuth) API", async () => {
    const d = await startSidecar(
      [
        "api:",
        "  listen: LISTEN",
        "  insecureNoAuth: true",
        "drills:",
        "  sandboxRoot: drills",
        "  verifyCommands:",
        '    hello: ["sh", "-c", "grep -qx hello \\"$PVJ_DRILL_DIR/data/hello.txt\\""]',
      ],
      "0.0.0.0",
    );
    expect((await call(d, "POST", "/v1/checkpoints", null, {})).status).toBe(201);
    const attack = await call(d, "POST", "/v1/drills", null, {
      verify: { command: ["sh", "-c", `id > ${d.marker}`] },
    });
    expect(attack.status).toBe(403);
    expect(Object.keys(attack.json as object)).toEqual(["error"]);
    expect(attack.json).toMatchObject({
      error: {
        code: "COMMAND_NOT_ALLOWED",
        message: expect.stringContaining("drills.allowRequestCommands"),
      },
    });
    const unknown = await call(d, "POST", "/v1/drills", null, { verify: "nope" });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({ error: { code: "BAD_REQUEST" } });
    // Nothing was queued for either refusal.
    const list = await call(d, "GET", "/v1/drills", null);
    expect((list.json as { drills: unknown[] }).drills).toEqual([]);

    const named = await call(d, "POST", "/v1/drills", null, { verify: "hello" });
    expect(named.status).toBe(202);
    const id = (named.json as { id: string }).id;
    const report = await waitFor(
      async () => {
        const r = (await call(d, "GET", `/v1/drills/${id}`, null)).json as {
          state: string;
          passed: boolean | null;
          verify: { command: string[]; exitCode: number } | null;
        };
        return r.state === "done" || r.state === "failed" ? r : null;
      },
      { timeout: 30_000, what: "named drill" },
    );
    expect(report).toMatchObject({ passed: true, verify: { exitCode: 0 } });
    expect(report.verify?.command[0]).toBe("sh");

    // The CLI's --verify gets the same refusal, naming the key; nothing runs.
    const cli = await runCli(["drill", "--server", d.base, "--verify", `id > ${d.marker}`]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain("drills.allowRequestCommands");
    const byName = await runCli(["drill", "--server", d.base, "--verify-name", "hello"]);
    expect(byName.code).toBe(0);
    expect(existsSync(d.marker)).toBe(false);
    await stop(d);
    expect(existsSync(d.marker)).toBe(false);
  });

  it("drills.allowRequestCommands: true is the explicit opt-in for request argv", async () => {
    const d = await startSidecar([
      "api:",
      "  listen: LISTEN",
      "drills:",
      "  sandboxRoot: drills",
      "  allowRequestCommands: true",
    ]);
    expect((await call(d, "POST", "/v1/checkpoints", null, {})).status).toBe(201);
    const r = await call(d, "POST", "/v1/drills", null, {
      verify: { command: ["sh", "-c", `echo ran > ${d.marker}`] },
    });
    expect(r.status).toBe(202);
    await waitFor(() => existsSync(d.marker), { timeout: 30_000, what: "opt-in command ran" });
    await stop(d);
  });
});

describe("token roles", () => {
  it("read-only may GET (not the stream), replica may only stream and ack, operator may do everything; no token leaks", async () => {
    const d0 = await sidecarConfig([]);
    await writeFile(join(d0.dir, "op.txt"), `${OPERATOR}\n`);
    await writeFile(join(d0.dir, "read.txt"), `${READER}\n`);
    await writeFile(join(d0.dir, "replica.txt"), `${REPLICA}\n`);
    const d = await startSidecar(
      [
        "api:",
        "  listen: LISTEN",
        `  tokenFile: ${join(d0.dir, "op.txt")}`,
        `  readTokenFile: ${join(d0.dir, "read.txt")}`,
        `  replicaTokenFile: ${join(d0.dir, "replica.txt")}`,
        "  insecureNoAuth: false",
        "drills:",
        "  sandboxRoot: drills",
        "log:",
        "  level: debug",
      ],
      "0.0.0.0",
    );
    const seen: string[] = [];
    const expectStatus = async (
      token: string | null,
      method: string,
      path: string,
      status: number,
      body?: unknown,
    ) => {
      const r = await call(d, method, path, token, body);
      seen.push(r.text);
      expect(r.status, `${method} ${path} with ${token?.slice(0, 2) ?? "no token"}`).toBe(status);
      if (status >= 400) expect(Object.keys(r.json as object)).toEqual(["error"]);
      return r;
    };
    await expectStatus(null, "GET", "/v1/status", 401);
    await expectStatus("wrong", "GET", "/v1/status", 401);
    await expectStatus(OPERATOR, "POST", "/v1/checkpoints", 201, { label: "x" });

    await expectStatus(READER, "GET", "/v1/status", 200);
    await expectStatus(READER, "GET", "/v1/checkpoints", 200);
    await expectStatus(READER, "GET", "/v1/drills", 200);
    const denied = await expectStatus(READER, "POST", "/v1/checkpoints", 403, {});
    expect(denied.json).toMatchObject({ error: { code: "FORBIDDEN" } });
    await expectStatus(READER, "POST", "/v1/drills", 403, {});
    await expectStatus(READER, "POST", "/v1/restores", 403, { seq: 1, target: "restore/x" });
    await expectStatus(READER, "GET", "/v1/stream?from=1&replica=r1", 403);
    await expectStatus(READER, "POST", "/v1/replicas/r1/ack", 403, { seq: 1 });

    await expectStatus(REPLICA, "GET", "/v1/status", 403);
    await expectStatus(REPLICA, "GET", "/v1/checkpoints", 403);
    await expectStatus(REPLICA, "POST", "/v1/drills", 403, {});
    await expectStatus(REPLICA, "POST", "/v1/replicas/r1/ack", 200, { seq: 1 });
    const ctl = new AbortController();
    const stream = await fetch(`${d.base}/v1/stream?from=1&replica=r1`, {
      headers: { authorization: `Bearer ${REPLICA}` },
      signal: ctl.signal,
    });
    expect(stream.status).toBe(200);
    ctl.abort();

    // A refused ack of a known replica shows on the sidecar (an old token after a rotation).
    await expectStatus("stale-token", "POST", "/v1/replicas/r1/ack", 401, { seq: 1 });
    const st = await expectStatus(OPERATOR, "GET", "/v1/status", 200);
    const r1 = (
      st.json as { replicas: { id: string; lastAckError: { status: number } | null }[] }
    ).replicas.find((r) => r.id === "r1");
    expect(r1?.lastAckError).toMatchObject({ status: 401 });
    // Unknown ids are not added by refused requests (each replica would hold retention).
    await expectStatus("stale-token", "POST", "/v1/replicas/ghost/ack", 401, { seq: 1 });
    const ids = (
      (await expectStatus(OPERATOR, "GET", "/v1/status", 200)).json as {
        replicas: { id: string }[];
      }
    ).replicas.map((r) => r.id);
    expect(ids).not.toContain("ghost");
    await expectStatus(OPERATOR, "POST", "/v1/drills", 202, {});
    const docs = await expectStatus(null, "GET", "/docs/json", 200);
    expect(docs.text).toContain("bearerAuth");
    await expectStatus(null, "GET", "/metrics", 200);

    const logs = await stop(d);
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [OPERATOR, READER, REPLICA]) {
      expect(logs).not.toContain(secret);
      for (const body of seen) expect(body).not.toContain(secret);
    }
  });
});
