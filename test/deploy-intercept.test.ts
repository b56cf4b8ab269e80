/**
 * The intercept-mode Kubernetes variant stays true: its embedded config is
 * accepted by the real loader in intercept mode, the PV is mounted only in
 * the sidecar, the shared view has the right mount propagation on each side,
 * the sidecar is privileged with /dev/fuse, and kustomize renders it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../src/config/index.js";

const DIR = path.resolve(import.meta.dirname, "..", "deploy", "kubernetes", "intercept");

interface Mount {
  name: string;
  mountPath: string;
  mountPropagation?: string;
}
interface Container {
  name: string;
  volumeMounts: Mount[];
  securityContext?: { privileged?: boolean };
  livenessProbe?: unknown;
  startupProbe?: { httpGet?: { path: string } };
}
type Doc = {
  kind: string;
  data?: Record<string, string>;
  spec?: { template?: { spec: { initContainers: Container[]; containers: Container[] } } };
};

const docs = parseAllDocuments(readFileSync(path.join(DIR, "app.yaml"), "utf8")).map(
  (d) => d.toJS() as Doc,
);

describe("deploy/kubernetes/intercept", () => {
  it("the sidecar config is a valid intercept-mode config", () => {
    const cm = docs.find((d) => d.kind === "ConfigMap" && d.data?.["pvjournal.yaml"])!;
    const tmp = mkdtempSync(path.join(tmpdir(), "pvj-k8s-"));
    try {
      const file = path.join(tmp, "pvjournal.yaml");
      writeFileSync(file, cm.data!["pvjournal.yaml"]!);
      const c = loadConfig({ file, role: "sidecar", checkPaths: false });
      expect(c.capture.mode).toBe("intercept");
      expect(c.sources[0]).toMatchObject({ path: "/backing/data", mountPoint: "/view/data" });
      expect(c.journal.blockSize).toBe(8192);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("PV only in the sidecar; view Bidirectional there, HostToContainer in the app; privileged with /dev/fuse", () => {
    const pod = docs.find((d) => d.kind === "StatefulSet")!.spec!.template!.spec;
    const sidecar = pod.initContainers.find((c) => c.name === "pvjournal")!;
    const app = pod.containers.find((c) => c.name === "postgres")!;
    expect(sidecar.securityContext?.privileged).toBe(true);
    expect(sidecar.volumeMounts.map((m) => m.mountPath)).toContain("/dev/fuse");
    expect(sidecar.volumeMounts.find((m) => m.name === "data")?.mountPath).toBe("/backing/data");
    expect(app.volumeMounts.some((m) => m.name === "data")).toBe(false);
    expect(sidecar.volumeMounts.find((m) => m.name === "view")?.mountPropagation).toBe(
      "Bidirectional",
    );
    expect(app.volumeMounts.find((m) => m.name === "view")?.mountPropagation).toBe(
      "HostToContainer",
    );
    expect(sidecar.startupProbe?.httpGet?.path).toBe("/readyz");
    expect(app.livenessProbe).toBeDefined();
  });

  it.runIf(existsSync("/usr/bin/kubectl"))("kubectl kustomize renders it", () => {
    const out = execFileSync("kubectl", ["kustomize", DIR], { encoding: "utf8" });
    expect(out).toContain("mountPropagation: Bidirectional");
  });
});
