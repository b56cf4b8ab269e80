/**
 * deploy/kubernetes/nats stays true: a three-node JetStream StatefulSet whose
 * routes name its own pods, a server config Debian's nats-server accepts, and
 * a `stream:` section the real config loader accepts.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { loadConfig } from "../src/config/load.js";
import { NATS_SERVER } from "./helpers/nats.js";

const DIR = path.resolve(import.meta.dirname, "..", "deploy", "kubernetes", "nats");

interface Obj {
  kind: string;
  metadata: { name: string };
  spec?: {
    replicas?: number;
    serviceName?: string;
    template?: { spec: { containers: { env?: { name: string }[] }[] } };
  };
  data?: Record<string, string>;
}

const objects = ["secret.yaml", "nats.yaml", "pvjournal-stream.yaml"].flatMap((f) =>
  parseAllDocuments(readFileSync(path.join(DIR, f), "utf8")).map((d) => d.toJS() as Obj),
);
const find = (kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name)!;

describe("deploy/kubernetes/nats", () => {
  it("the kustomization lists every manifest", () => {
    const k = parse(readFileSync(path.join(DIR, "kustomization.yaml"), "utf8")) as {
      resources: string[];
    };
    expect(k.resources.sort()).toEqual(["nats.yaml", "pvjournal-stream.yaml", "secret.yaml"]);
  });

  it("is a three-node StatefulSet whose routes are its own pods", () => {
    const sts = find("StatefulSet", "nats");
    expect(sts.spec?.replicas).toBe(3);
    expect(sts.spec?.serviceName).toBe("nats");
    const conf = find("ConfigMap", "nats-config").data!["nats.conf"]!;
    expect(conf).toMatch(/jetstream \{/);
    for (let i = 0; i < 3; i++) expect(conf).toContain(`nats://nats-${i}.nats:6222`);
    const env = sts.spec!.template!.spec.containers[0]!.env!.map((e) => e.name);
    expect(env).toEqual(expect.arrayContaining(["POD_NAME", "NATS_TOKEN"]));
  });

  it("nats-server accepts its config", () => {
    const tmp = mkdtempSync(path.join(tmpdir(), "pvj-deploy-nats-"));
    try {
      const conf = find("ConfigMap", "nats-config")
        .data!["nats.conf"]!.replace("/data/jetstream", path.join(tmp, "js"))
        .replace("/var/run/nats/nats.pid", path.join(tmp, "nats.pid"));
      writeFileSync(path.join(tmp, "nats.conf"), conf);
      const out = execFileSync(NATS_SERVER, ["-t", "-c", path.join(tmp, "nats.conf")], {
        env: { ...process.env, POD_NAME: "nats-0", NATS_TOKEN: "t" },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      expect(out).not.toMatch(/error/i);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("the stream section is a valid jetstream config for a sidecar and a replica", () => {
    const stream = find("ConfigMap", "pvjournal-stream").data!["stream.yaml"]!;
    const tmp = mkdtempSync(path.join(tmpdir(), "pvj-deploy-nats-"));
    try {
      const sidecar = path.join(tmp, "sidecar.yaml");
      writeFileSync(
        sidecar,
        `sources:\n  - name: data\n    path: /data\njournal:\n  dir: /journal\n${stream}`,
      );
      const s = loadConfig({ file: sidecar, role: "sidecar", checkPaths: false });
      expect(s.stream).toMatchObject({ transport: "jetstream", nats: { replicas: 3 } });
      expect(s.stream.nats.servers).toHaveLength(3);
      const replica = path.join(tmp, "replica.yaml");
      writeFileSync(
        replica,
        `journal:\n  dir: /journal\nreplica:\n  id: dr-east\n  mirrorDir: /replica\n${stream}`,
      );
      const r = loadConfig({ file: replica, role: "replica", checkPaths: false });
      expect(r.replica).toMatchObject({ source: null, id: "dr-east" });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
