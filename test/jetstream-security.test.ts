/**
 * The jetstream transport's NATS connection: a token from a file and TLS
 * verified with a CA file. A wrong token or a wrong CA is a clear error and
 * exit code 1 at start, and no secret reaches the logs.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, selfSignedCert, spawnCli, tmpDir, waitFor } from "./helpers/index.js";
import { type NatsCluster, startNatsCluster } from "./helpers/nats.js";
import { makeTmpDir } from "./helpers/tmp.js";

const NATS_TOKEN = "nats-secret-7f3a9c";
const WRONG_TOKEN = "nats-wrong-51be02";

let dir: string;
let cluster: NatsCluster;
let certDir: string;
beforeAll(async () => {
  dir = await makeTmpDir("pvj-jetstream-sec-");
  certDir = join(dir, "server");
  await mkdir(certDir);
  const cert = selfSignedCert(certDir);
  cluster = await startNatsCluster(dir, { nodes: 1, token: NATS_TOKEN, tls: cert });
}, 30_000);
afterAll(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function sidecar(token: string, caFile: string) {
  const d = await tmpDir("pvj-jetstream-sec-run-");
  await mkdir(join(d, "data"));
  await writeFile(join(d, "nats-token"), `${token}\n`);
  const port = await freePort();
  const yaml = join(d, "sidecar.yaml");
  await writeFile(
    yaml,
    [
      "sources:",
      "  - name: data",
      "    path: ./data",
      "journal:",
      "  dir: ./journal",
      "api:",
      `  listen: 127.0.0.1:${port}`,
      "stream:",
      "  transport: jetstream",
      "  nats:",
      `    servers: [${cluster.urls[0]!.replace("nats://", "tls://")}]`,
      "    stream: pvj-sec",
      "    replicas: 1",
      "    tokenFile: ./nats-token",
      `    caFile: ${caFile}`,
      "log:",
      "  level: debug",
    ].join("\n"),
  );
  return {
    p: spawnCli(["sidecar", "-c", yaml], { cwd: d, timeout: 60_000 }),
    base: `http://127.0.0.1:${port}`,
    d,
  };
}

const noSecrets = (text: string) => {
  expect(text).not.toContain(NATS_TOKEN);
  expect(text).not.toContain(WRONG_TOKEN);
};

describe("jetstream: NATS token and TLS", () => {
  it("a wrong token is a clear error, exit code 1, and no secret in the logs", async () => {
    const { p } = await sidecar(WRONG_TOKEN, join(certDir, "cert.pem"));
    const r = await p.exited;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /NATS at tls:\/\/127\.0\.0\.1:\d+ refused the connection: authorization violation/,
    );
    expect(r.stderr).toContain("stream.nats.tokenFile");
    noSecrets(r.stdout + r.stderr);
  });

  it("a CA that did not sign the servers' certificate is a clear error, exit code 1", async () => {
    const other = await tmpDir("pvj-jetstream-sec-ca-");
    selfSignedCert(other);
    const { p } = await sidecar(NATS_TOKEN, join(other, "cert.pem"));
    const r = await p.exited;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot verify the NATS servers' certificate/);
    expect(r.stderr).toContain("stream.nats.caFile");
    noSecrets(r.stdout + r.stderr);
  });

  it("the right token and CA connect, publish, and log no secret", async () => {
    const { p, base } = await sidecar(NATS_TOKEN, join(certDir, "cert.pem"));
    await waitFor(
      async () => {
        p.assertRunning();
        const s = await fetch(`${base}/v1/status`).catch(() => null);
        const body = (await s?.json().catch(() => null)) as {
          stream?: { publisher?: { state: string } };
        } | null;
        return body?.stream?.publisher?.state === "publishing";
      },
      { timeout: 20_000, what: "sidecar publishing over TLS" },
    );
    p.child.kill("SIGTERM");
    const r = await p.exited;
    noSecrets(r.stdout + r.stderr);
  });
});
