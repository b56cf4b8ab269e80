/** The `stream:` section (stream.transport: jetstream) and replica.id, in the config test style. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type LoadConfigOptions, loadConfig } from "../src/config/load.js";
import type { Config } from "../src/config/types.js";
import { ConfigError } from "../src/errors.js";

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(path.join(tmpdir(), "pvj-config-stream-"));
  mkdirSync(path.join(tmp, "data"));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const SIDECAR = "sources:\n  - name: data\n    path: data\njournal:\n  dir: journal\n";
const REPLICA = "journal:\n  dir: journal\nreplica:\n  mirrorDir: mirror\n";
const JS =
  "stream:\n  transport: jetstream\n  nats:\n    servers: [nats://n0:4222, tls://n1:4222, n2:4222]\n";

function load(yaml: string, options: Partial<LoadConfigOptions> = {}): Config {
  const file = path.join(tmp, "pvjournal.yaml");
  writeFileSync(file, yaml);
  return loadConfig({ file, role: "sidecar", cwd: tmp, checkPaths: false, ...options });
}

function rejects(fn: () => unknown, key: string, ...fragments: string[]): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const err = caught as ConfigError;
  expect(err.message.startsWith("pvjournal.yaml: ")).toBe(true);
  expect(err.context.key).toBe(key);
  for (const f of fragments) expect(err.message).toContain(f);
  return err;
}

describe("config: stream", () => {
  it("defaults to http with the documented nats defaults", () => {
    expect(load(SIDECAR).stream).toEqual({
      transport: "http",
      nats: { servers: [], stream: "pvjournal", replicas: 3, tokenFile: null, caFile: null },
    });
  });

  it("jetstream: servers, stream, replicas, token and CA files (resolved against the file)", () => {
    const c = load(
      `${SIDECAR}${JS}    stream: pvj-data\n    replicas: 1\n    tokenFile: secrets/nats-token\n    caFile: /etc/nats/ca.pem\n`,
    );
    expect(c.stream).toEqual({
      transport: "jetstream",
      nats: {
        servers: ["nats://n0:4222", "tls://n1:4222", "n2:4222"],
        stream: "pvj-data",
        replicas: 1,
        tokenFile: path.join(tmp, "secrets", "nats-token"),
        caFile: "/etc/nats/ca.pem",
      },
    });
  });

  it("a replica with jetstream needs no source URL; replica.id names its consumer", () => {
    const c = load(`${REPLICA}  id: dr-east\n${JS}`, { role: "replica" });
    expect(c.replica).toMatchObject({ source: null, id: "dr-east" });
    expect(c.stream.transport).toBe("jetstream");
  });

  it("env and flags set the keys too", () => {
    const c = load(SIDECAR, {
      env: {
        PVJ_STREAM_TRANSPORT: "jetstream",
        PVJ_STREAM_NATS_SERVERS: "nats://a:4222,nats://b:4222",
      },
      flags: { "stream.nats.replicas": "5" },
    });
    expect(c.stream.transport).toBe("jetstream");
    expect(c.stream.nats.servers).toEqual(["nats://a:4222", "nats://b:4222"]);
    expect(c.stream.nats.replicas).toBe(5);
  });

  it.each([
    [
      "unknown transport",
      `${SIDECAR}stream:\n  transport: kafka\n`,
      "stream.transport",
      "not one of http, jetstream",
    ],
    [
      "jetstream without servers",
      `${SIDECAR}stream:\n  transport: jetstream\n`,
      "stream.nats.servers",
      "is required with stream.transport: jetstream",
    ],
    [
      "a server that is not NATS",
      `${SIDECAR}stream:\n  transport: jetstream\n  nats:\n    servers: [http://n0:4222]\n`,
      "stream.nats.servers[0]",
      "is not a NATS server",
    ],
    [
      "a stream name with a dot",
      `${SIDECAR}${JS}    stream: pvj.data\n`,
      "stream.nats.stream",
      "is not a JetStream name",
    ],
    [
      "replication factor 0",
      `${SIDECAR}${JS}    replicas: 0\n`,
      "stream.nats.replicas",
      "out of range 1..5",
    ],
    [
      "replication factor 7",
      `${SIDECAR}${JS}    replicas: 7\n`,
      "stream.nats.replicas",
      "out of range 1..5",
    ],
    [
      "an unknown nats key",
      `${SIDECAR}${JS}    token: hunter2\n`,
      "stream.nats.token",
      "unknown key",
    ],
  ])("rejects %s", (_name, yaml, key, fragment) => {
    const err = rejects(() => load(yaml), key, fragment);
    expect(err.message).not.toContain("hunter2");
  });

  it.each([
    [
      "replica.id with a space",
      `${REPLICA}  id: dr east\n${JS}`,
      "replica.id",
      "is not a valid replica id",
    ],
    [
      "http replica without a source",
      REPLICA,
      "replica.source",
      "is required with stream.transport: http",
    ],
  ])("replica role: rejects %s", (_name, yaml, key, fragment) => {
    rejects(() => load(yaml, { role: "replica" }), key, fragment);
  });
});
