/**
 * The deployment files (Dockerfile, docker-compose.yml, deploy/kubernetes,
 * deploy/prometheus, the operator's guide) cannot drift from the code: one
 * image name, one port, probe paths that are real routes, configs that the
 * real loader accepts, every path a config uses mounted where it should be,
 * tokens that come from a Secret key that exists, and alert rules that only
 * name metrics the code exports. Pure parsing: no Docker, no cluster.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { loadConfig } from "../src/config/load.js";
import type { Role } from "../src/config/schema.js";
import type { Config } from "../src/config/types.js";
import { healthRoutes } from "../src/http/routes/health.js";
import { metricsRoutes } from "../src/http/routes/metrics.js";
import { createMetrics } from "../src/metrics/registry.js";

const REPO = path.resolve(import.meta.dirname, "..");
const K8S_DIR = path.join(REPO, "deploy", "kubernetes");
const PKG = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as {
  version: string;
  bin: Record<string, string>;
  engines: { node: string };
};
/** The one image name every manifest uses; its tag follows package.json. */
const IMAGE = `pvjournal:${PKG.version}`;
const LIVENESS = "/healthz";
const READINESS = "/readyz";
const METRICS = "/metrics";

const tmp = mkdtempSync(path.join(tmpdir(), "pvj-drift-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ---- the manifests, as plain typed data ------------------------------------

interface Probe {
  readonly httpGet?: { readonly path: string; readonly port: number | string };
}
interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: readonly string[];
  readonly restartPolicy?: string;
  readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[];
  readonly startupProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly volumeMounts?: readonly {
    readonly name: string;
    readonly mountPath: string;
    readonly readOnly?: boolean;
  }[];
  readonly securityContext?: Record<string, unknown>;
}
interface Volume {
  readonly name: string;
  readonly configMap?: { readonly name: string };
  readonly secret?: { readonly secretName: string };
  readonly persistentVolumeClaim?: { readonly claimName: string };
  readonly emptyDir?: object;
}
interface PodTemplate {
  readonly metadata: {
    readonly labels: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly spec: {
    readonly initContainers?: readonly Container[];
    readonly containers: readonly Container[];
    readonly volumes?: readonly Volume[];
  };
}
interface K8sObject {
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly data?: Record<string, string>;
  readonly stringData?: Record<string, string>;
  readonly spec?: {
    readonly template?: PodTemplate;
    readonly volumeClaimTemplates?: readonly { readonly metadata: { readonly name: string } }[];
    readonly selector?: Record<string, string>;
    readonly ports?: readonly { readonly port: number; readonly targetPort: number | string }[];
  };
}

function readDocs(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, "utf8")).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return doc.toJS();
  });
}

const manifestFiles = readdirSync(K8S_DIR)
  .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
  .sort();
const objects = manifestFiles.flatMap((f) =>
  readDocs(path.join(K8S_DIR, f)).filter((d) => d !== null),
) as K8sObject[];
const byKind = (kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);
const named = (kind: string, name: string): K8sObject => {
  const found = byKind(kind).find((o) => o.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
  return found;
};
const workloads = objects.filter((o) => o.spec?.template !== undefined);

// ---- one view of every place a pvjournal daemon runs ------------------------

/** What a path inside the container is backed by. */
interface Mount {
  readonly path: string;
  readonly readOnly: boolean;
  readonly kind: "pvc" | "volume" | "emptyDir" | "configMap" | "secret" | "bind";
  /** Keys (file names) a configMap or secret provides; for a bind mount, the host path. */
  readonly keys: readonly string[];
  readonly hostPath?: string;
}
interface Daemon {
  readonly where: string;
  readonly role: Role;
  readonly image: string;
  readonly configPath: string;
  readonly config: Config;
  readonly ports: readonly number[];
  readonly mounts: readonly Mount[];
}

function mountFor(mounts: readonly Mount[], p: string): Mount | undefined {
  return mounts
    .filter((m) => p === m.path || p.startsWith(`${m.path}/`))
    .sort((a, b) => b.path.length - a.path.length)[0];
}

function roleOf(args: readonly string[] | undefined, where: string): [Role, string] {
  expect(args?.length, `${where}: args`).toBe(3);
  const [role, flag, file] = args as [string, string, string];
  expect(["sidecar", "replica"], where).toContain(role);
  expect(flag, where).toBe("-c");
  return [role as Role, file];
}

function k8sDaemons(): Daemon[] {
  const out: Daemon[] = [];
  for (const w of workloads) {
    const pod = w.spec!.template!;
    const claims = new Set((w.spec!.volumeClaimTemplates ?? []).map((t) => t.metadata.name));
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      if (!c.image.startsWith("pvjournal")) continue;
      const where = `${w.kind}/${w.metadata.name} container ${c.name}`;
      const mounts: Mount[] = (c.volumeMounts ?? []).map((vm) => {
        const vol = pod.spec.volumes?.find((v) => v.name === vm.name);
        const base = { path: vm.mountPath, readOnly: vm.readOnly === true };
        if (vol === undefined) {
          expect(claims.has(vm.name), `${where}: volume ${vm.name} is not declared`).toBe(true);
          return { ...base, kind: "pvc", keys: [] };
        }
        if (vol.configMap) {
          const cm = named("ConfigMap", vol.configMap.name);
          return { ...base, kind: "configMap", keys: Object.keys(cm.data ?? {}) };
        }
        if (vol.secret) {
          const s = named("Secret", vol.secret.secretName);
          const keys = [...Object.keys(s.stringData ?? {}), ...Object.keys(s.data ?? {})];
          return { ...base, kind: "secret", keys };
        }
        if (vol.persistentVolumeClaim) {
          named("PersistentVolumeClaim", vol.persistentVolumeClaim.claimName);
          return { ...base, kind: "pvc", keys: [] };
        }
        expect(vol.emptyDir, `${where}: volume ${vm.name}`).toBeDefined();
        return { ...base, kind: "emptyDir", keys: [] };
      });
      const [role, configPath] = roleOf(c.args, where);
      const configMount = mountFor(mounts, configPath);
      expect(configMount?.kind, `${where}: ${configPath} comes from a ConfigMap`).toBe("configMap");
      const vol = pod.spec.volumes?.find(
        (v) => v.name === c.volumeMounts?.find((m) => m.mountPath === configMount!.path)?.name,
      );
      const cmName = vol!.configMap!.name;
      const text = named("ConfigMap", cmName).data?.[path.basename(configPath)];
      expect(text, `${where}: ${configPath} is a key of its ConfigMap`).toBeTypeOf("string");
      // Named so that a loader error points at the ConfigMap and its key.
      const file = path.join(tmp, `configmap-${cmName}-${path.basename(configPath)}`);
      writeFileSync(file, text!);
      out.push({
        where,
        role,
        image: c.image,
        configPath,
        config: loadConfig({ file, role, checkPaths: false }),
        ports: (c.ports ?? []).map((p) => p.containerPort),
        mounts,
      });
    }
  }
  return out;
}

interface ComposeService {
  readonly image?: string;
  readonly build?: { readonly context: string; readonly dockerfile: string };
  readonly command?: readonly string[];
  readonly volumes?: readonly string[];
  readonly secrets?: readonly string[];
  readonly ports?: readonly string[];
}
interface ComposeFile {
  readonly services: Record<string, ComposeService>;
  readonly secrets: Record<string, { readonly file: string }>;
  readonly volumes: Record<string, unknown>;
}
const compose = parse(readFileSync(path.join(REPO, "docker-compose.yml"), "utf8")) as ComposeFile;

function composeDaemons(): Daemon[] {
  const out: Daemon[] = [];
  for (const [name, svc] of Object.entries(compose.services)) {
    if (!svc.image?.startsWith("pvjournal")) continue;
    const where = `docker-compose service ${name}`;
    const mounts: Mount[] = (svc.volumes ?? []).map((spec) => {
      const [src, dst, mode] = spec.split(":") as [string, string, string | undefined];
      const bind = src.startsWith(".") || src.startsWith("/");
      if (!bind) expect(compose.volumes, `${where}: volume ${src}`).toHaveProperty(src);
      return {
        path: dst,
        readOnly: mode === "ro",
        kind: bind ? "bind" : "volume",
        keys: [],
        ...(bind ? { hostPath: path.resolve(REPO, src) } : {}),
      };
    });
    for (const s of svc.secrets ?? []) {
      expect(compose.secrets, `${where}: secret ${s}`).toHaveProperty(s);
      mounts.push({ path: `/run/secrets/${s}`, readOnly: true, kind: "secret", keys: [""] });
    }
    const [role, configPath] = roleOf(svc.command, where);
    const configMount = mounts.find((m) => m.path === configPath);
    expect(configMount?.kind, `${where}: ${configPath} is a bind-mounted file`).toBe("bind");
    out.push({
      where,
      role,
      image: svc.image,
      configPath,
      config: loadConfig({ file: configMount!.hostPath!, role, checkPaths: false }),
      ports: (svc.ports ?? []).map((p) => Number(p.split(":").at(-1))),
      mounts,
    });
  }
  return out;
}

const daemons = [...k8sDaemons(), ...composeDaemons()];

// ---- the Dockerfile ---------------------------------------------------------

/** Instructions of the final stage, continuation lines joined, comments dropped. */
function dockerfile(): { instr: string; arg: string }[] {
  const text = readFileSync(path.join(REPO, "Dockerfile"), "utf8")
    .split("\n")
    .filter((l) => !l.trimStart().startsWith("#"))
    .join("\n")
    .replace(/\\\n/g, " ");
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const stages = lines.map((l) => l.trim()).filter((l) => /^FROM /i.test(l));
  // Every stage on the same supported LTS line (Node 20 reached end of life in
  // April 2026), and that line is one package.json's engines admits.
  for (const from of stages) expect(from).toMatch(/^FROM node:24-bookworm-slim\b/);
  expect(PKG.engines.node.split("||").map((r) => r.trim())).toContain("^24.0.0");
  const lastFrom = lines.findLastIndex((l) => /^FROM /i.test(l.trim()));
  return lines.slice(lastFrom).map((l) => {
    const m = /^\s*(\w+)\s+(.*)$/.exec(l)!;
    return { instr: m[1]!.toUpperCase(), arg: m[2]!.trim() };
  });
}
const runtime = dockerfile();
const instr = (name: string): string[] => runtime.filter((i) => i.instr === name).map((i) => i.arg);
const EXPOSED = Number(instr("EXPOSE")[0]);
const IMAGE_UID = Number(instr("USER")[0]!.split(":")[0]);

// ---- the tests ----------------------------------------------------------------

describe("deployment files agree with the code", () => {
  it("finds every daemon: the Kubernetes sidecar and replica, the compose sidecar and replica", () => {
    expect(daemons.map((d) => `${d.role} in ${d.where}`)).toEqual([
      "sidecar in StatefulSet/app container pvjournal",
      "replica in Deployment/pvjournal-replica container replica",
      "sidecar in docker-compose service sidecar",
      "replica in docker-compose service replica",
    ]);
  });

  it("uses one image name everywhere, tagged with package.json's version", () => {
    for (const d of daemons) expect(d.image, d.where).toBe(IMAGE);
    for (const svc of Object.values(compose.services).filter((s) => s.build))
      expect(svc.build).toEqual({ context: ".", dockerfile: "Dockerfile" });
    expect(readFileSync(path.join(REPO, "Dockerfile"), "utf8")).toContain(
      `docker build -t ${IMAGE} .`,
    );
  });

  it("the Dockerfile runs dist/cli.js as a numeric non-root user and exposes the API port", () => {
    expect(PKG.bin.pvjournal).toBe("dist/cli.js");
    expect(JSON.parse(instr("ENTRYPOINT")[0]!)).toEqual(["node", "/app/dist/cli.js"]);
    expect(instr("WORKDIR")).toContain("/app");
    expect(instr("COPY")).toContain("--from=build /src/dist ./dist");
    expect(JSON.parse(instr("CMD")[0]!)).toEqual([
      "sidecar",
      "-c",
      "/etc/pvjournal/pvjournal.yaml",
    ]);
    expect(IMAGE_UID).toBeGreaterThan(0);
    expect(EXPOSED).toBe(7070);
    expect(instr("HEALTHCHECK")[0]).toContain(`http://127.0.0.1:${EXPOSED}${LIVENESS}`);
  });

  it("every config is accepted by the real loader and listens on the exposed port", () => {
    for (const d of daemons) {
      expect(d.config.api.port, d.where).toBe(EXPOSED);
      expect(d.config.api.host, d.where).toBe("0.0.0.0");
      expect(d.ports, d.where).toEqual([EXPOSED]);
      expect(d.config.replica !== null, d.where).toBe(d.role === "replica");
    }
  });

  it("every path a config uses is mounted, sources read-only and state writable", () => {
    for (const d of daemons) {
      const c = d.config;
      for (const s of c.sources) {
        const m = mountFor(d.mounts, s.path);
        expect(m, `${d.where}: source ${s.path}`).toBeDefined();
        expect(m!.readOnly, `${d.where}: source ${s.path} is mounted read-only`).toBe(true);
      }
      const state = [
        c.journal.dir,
        ...c.restore.allowedRoots,
        ...(c.replica ? [c.replica.mirrorDir] : []),
        ...(c.drills.sandboxRoot ? [c.drills.sandboxRoot] : []),
      ];
      for (const p of state) {
        const m = mountFor(d.mounts, p);
        expect(m, `${d.where}: ${p} is mounted`).toBeDefined();
        expect(m!.readOnly, `${d.where}: ${p} is writable`).toBe(false);
        expect(["pvc", "volume", "emptyDir"], `${d.where}: ${p}`).toContain(m!.kind);
      }
      expect(mountFor(d.mounts, c.journal.dir)!.kind, `${d.where}: journal`).not.toBe("emptyDir");
    }
  });

  it("token files are keys of the mounted Secret", () => {
    for (const d of daemons) {
      const files = [d.config.api.tokenFile, d.config.replica?.tokenFile].filter(
        (f): f is string => typeof f === "string",
      );
      expect(files.length, d.where).toBeGreaterThan(0);
      for (const f of files) {
        const m = mountFor(d.mounts, f);
        expect(m?.kind, `${d.where}: ${f} comes from a secret`).toBe("secret");
        expect(m!.keys, `${d.where}: ${f}`).toContain(path.relative(m!.path, f));
      }
    }
    for (const s of Object.values(compose.secrets))
      expect(readFileSync(path.resolve(REPO, s.file), "utf8").trim()).not.toBe("");
  });

  it("the replicas follow the sidecar's address", () => {
    for (const d of daemons.filter((x) => x.role === "replica")) {
      const url = new URL(d.config.replica!.source as string);
      if (d.where.startsWith("docker-compose")) {
        expect(compose.services, d.where).toHaveProperty(url.hostname);
        expect(compose.services[url.hostname]!.command?.[0]).toBe("sidecar");
        expect(Number(url.port)).toBe(EXPOSED);
      } else {
        const svc = named("Service", url.hostname);
        const port = svc.spec!.ports!.find((p) => p.port === Number(url.port));
        expect(port, `${d.where}: ${url.hostname} serves port ${url.port}`).toBeDefined();
        expect(targetsOf(svc).map((t) => t.role)).toEqual(["sidecar"]);
      }
    }
  });

  it("probe and scrape paths are real routes", async () => {
    let ready = false;
    const app = Fastify();
    await app.register(healthRoutes, { readiness: () => ({ ready }) });
    await app.register(metricsRoutes, { metrics: createMetrics() });
    try {
      expect((await app.inject({ url: LIVENESS })).statusCode).toBe(200);
      expect((await app.inject({ url: READINESS })).statusCode).toBe(503);
      ready = true;
      expect((await app.inject({ url: READINESS })).statusCode).toBe(200);
      expect((await app.inject({ url: METRICS })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it("Kubernetes probes, ports, scrape annotations and the native sidecar are wired to the API", () => {
    for (const w of workloads) {
      const pod = w.spec!.template!;
      const pvj = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].filter((c) =>
        c.image.startsWith("pvjournal"),
      );
      for (const c of pvj) {
        const where = `${w.kind}/${w.metadata.name} ${c.name}`;
        const port = (p: Probe | undefined): number | undefined => {
          const ref = p?.httpGet?.port;
          return typeof ref === "number"
            ? ref
            : c.ports?.find((x) => x.name === ref)?.containerPort;
        };
        expect(c.livenessProbe?.httpGet?.path, where).toBe(LIVENESS);
        expect(c.startupProbe?.httpGet?.path, where).toBe(LIVENESS);
        expect(c.readinessProbe?.httpGet?.path, where).toBe(READINESS);
        for (const p of [c.livenessProbe, c.startupProbe, c.readinessProbe])
          expect(port(p), where).toBe(EXPOSED);
        expect(c.securityContext, where).toMatchObject({
          runAsNonRoot: true,
          runAsUser: IMAGE_UID,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        });
        expect(pod.metadata.annotations, where).toMatchObject({
          "prometheus.io/scrape": "true",
          "prometheus.io/port": String(EXPOSED),
          "prometheus.io/path": METRICS,
        });
      }
      const sidecar = pod.spec.initContainers?.find((c) => c.image.startsWith("pvjournal"));
      if (sidecar) expect(sidecar.restartPolicy, "native sidecar").toBe("Always");
    }
    for (const svc of byKind("Service"))
      for (const t of targetsOf(svc))
        if (t.role !== null) expect(t.port, `Service ${svc.metadata.name}`).toBe(EXPOSED);
  });

  it("kustomization.yaml lists every manifest", () => {
    const k = parse(readFileSync(path.join(K8S_DIR, "kustomization.yaml"), "utf8")) as {
      resources: string[];
    };
    expect([...k.resources].sort()).toEqual(manifestFiles);
  });

  it("the example configs are accepted by the real loader", () => {
    const dirs = [path.join(REPO, "config", "examples"), path.join(REPO, "deploy", "compose")];
    const files = dirs.flatMap((dir) =>
      readdirSync(dir)
        .filter((f) => f.endsWith(".yaml"))
        .map((f) => path.join(dir, f)),
    );
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const file of files) {
      const role: Role =
        "replica" in (parse(readFileSync(file, "utf8")) ?? {}) ? "replica" : "sidecar";
      expect(() => loadConfig({ file, role, checkPaths: false }), file).not.toThrow();
    }
  });

  it("alert rules name only metrics the code exports, and the guide shows the same rules", () => {
    const rulesFile = path.join(REPO, "deploy", "prometheus", "pvjournal-alerts.yaml");
    const rules = parse(readFileSync(rulesFile, "utf8")) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const guide = readFileSync(path.join(REPO, "docs", "operations.md"), "utf8");
    const blocks = [...guide.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const inGuide = blocks.filter((b) => b.startsWith("groups:")).map((b) => parse(b));
    expect(inGuide).toEqual([rules]);

    const exported = exportedMetrics();
    const used = rules.groups
      .flatMap((g) => g.rules)
      .flatMap((r) => [...r.expr.matchAll(/\bpvjournal_[a-z0-9_]+/g)].map((m) => m[0]));
    expect(used.length).toBeGreaterThan(0);
    for (const name of new Set(used)) expect(exported, `metric ${name}`).toContain(name);
  });
});

describe("the Grafana dashboard", () => {
  it("queries only metrics the code exports, and covers RPO, lag, journal size, drills and capture errors", () => {
    const dir = path.join(REPO, "deploy", "grafana");
    const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
    expect(files.length).toBeGreaterThan(0);
    const exported = exportedMetrics();
    for (const f of files) {
      const dash = JSON.parse(readFileSync(path.join(dir, f), "utf8")) as {
        title: string;
        panels: { title: string; targets: { expr: string }[] }[];
      };
      expect(dash.title, f).toBe("pvjournal");
      const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
      expect(exprs.length, f).toBeGreaterThan(0);
      const used = exprs.flatMap((e) =>
        [...e.matchAll(/\bpvjournal_[a-z0-9_]+/g)].map((m) => m[0]),
      );
      // A counter's _total is its registered name here (prom-client keeps it).
      for (const name of new Set(used)) expect(exported, `${f}: metric ${name}`).toContain(name);
      for (const needed of [
        "pvjournal_last_checkpoint_timestamp_seconds",
        "pvjournal_replica_lag_seconds",
        "pvjournal_journal_bytes",
        "pvjournal_journal_size_limit_bytes",
        "pvjournal_drill_last_success_timestamp_seconds",
        "pvjournal_capture_errors_total",
      ])
        expect(used, `${f} queries ${needed}`).toContain(needed);
    }
  });
});

/** For each port of a Service: the container port it lands on and the pvjournal role there. */
function targetsOf(svc: K8sObject): { port: number | undefined; role: string | null }[] {
  const sel = svc.spec!.selector!;
  const pods = workloads.filter((w) =>
    Object.entries(sel).every(([k, v]) =>
      k === "statefulset.kubernetes.io/pod-name"
        ? w.kind === "StatefulSet" && v === `${w.metadata.name}-0`
        : w.spec!.template!.metadata.labels[k] === v,
    ),
  );
  expect(pods.length, `Service ${svc.metadata.name} selects a workload`).toBe(1);
  const pod = pods[0]!.spec!.template!;
  const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  return svc.spec!.ports!.map((p) => {
    for (const c of containers) {
      const hit = c.ports?.find((x) =>
        typeof p.targetPort === "number"
          ? x.containerPort === p.targetPort
          : x.name === p.targetPort,
      );
      if (hit)
        return {
          port: hit.containerPort,
          role: c.image.startsWith("pvjournal") ? (c.args?.[0] ?? null) : null,
        };
    }
    throw new Error(
      `Service ${svc.metadata.name}: targetPort ${p.targetPort} matches no container`,
    );
  });
}

/** Metric names registered anywhere in src (`name: "pvjournal_..."`). */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts"))
        for (const m of readFileSync(p, "utf8").matchAll(/name:\s*"(pvjournal_[a-z0-9_]+)"/g))
          names.add(m[1]!);
    }
  };
  walk(path.join(REPO, "src"));
  return names;
}
