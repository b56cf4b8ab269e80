/**
 * Pure: the config validator. Takes what the loader read (parsed YAML, env,
 * flags; no I/O here) and returns the typed Config, or throws a ConfigError
 * naming the file and the key. Filesystem checks (existence, symlinks) are
 * done afterwards by load.ts.
 */
import path from "node:path";
import { type Converted, convert, type ListenAddress } from "./convert.js";
import { type Candidate, collectLayers, type RawInputs } from "./layers.js";
import { checkOverlaps, type PathEntry } from "./overlap.js";
import { checkProtectedMode, drillCommands } from "./protected.js";
import { type Origin, Reporter } from "./report.js";
import { FIELDS, fieldId, type Role } from "./schema.js";
import { convertSources, type SourceEntry } from "./source-list.js";
import { streamConfig } from "./stream.js";
import type { Config } from "./types.js";

/** Where `pvjournal` tools look for a journal when neither config nor flags name one. */
export const TOOL_DEFAULT_JOURNAL_DIR = ".pvjournal";

/** Validator input: the raw inputs plus the role being started. */
export interface ValidateInput extends RawInputs {
  readonly role: Role;
}

/** A file the daemon will read at start (token, TLS, CA), for the existence check. */
export interface FileEntry {
  readonly key: string;
  readonly origin: Origin;
  readonly path: string;
}

/** The validated config plus what load.ts needs for its filesystem checks. */
export interface Validated {
  readonly config: Config;
  readonly paths: readonly PathEntry[];
  readonly files: readonly FileEntry[];
}

/** Validates everything that can be checked without touching the filesystem. */
export function validateConfig(input: ValidateInput): Validated {
  const report = new Reporter(input.file);
  const layers = collectLayers(input, report);
  const { role } = input;
  const defaults: Origin = { kind: "default", name: "", baseDir: input.cwd };

  const replicaOrigin = [...layers.fields.values()].find((c) => c.key.startsWith("replica."));
  if (role === "replica" && !layers.replicaPresent) {
    report.fail(
      "replica",
      null,
      "section is required in the replica role",
      "set replica.source and replica.mirrorDir",
    );
  }
  if (role === "sidecar" && replicaOrigin !== undefined) {
    report.fail("replica", replicaOrigin.origin, "is only used in the replica role; remove it");
  }

  const values = new Map<string, Converted>();
  const origins = new Map<string, Origin>();
  for (const field of FIELDS) {
    const id = fieldId(field);
    if (field.section === "replica" && !layers.replicaPresent) continue;
    let c: Candidate | undefined = layers.fields.get(id);
    if (c === undefined) {
      if (field.required === "section") {
        report.fail(id, null, `is required when the ${field.section} section is present`);
      }
      if (field.required?.includes(role) === true) {
        report.fail(id, null, `is required in the ${role} role`);
      }
      c = { key: id, value: field.default, origin: defaults, text: false };
    }
    origins.set(id, c.origin);
    // A null default means "unset" even for keys that users may not set to null.
    const nullable = field.nullable === true || c.origin.kind === "default";
    values.set(id, convert(field.type, c, nullable, report));
  }

  const num = (id: string) => values.get(id) as number;
  const str = (id: string) => values.get(id) as string;
  const strOrNull = (id: string) => (values.get(id) ?? null) as string | null;
  const numOrNull = (id: string) => (values.get(id) ?? null) as number | null;
  const list = (id: string) => values.get(id) as readonly string[];
  const listOrNull = (id: string) => (values.get(id) ?? null) as readonly string[] | null;
  const origin = (id: string) => origins.get(id) ?? defaults;

  const sources = convertSources(layers.sources, report);
  const mode = str("capture.mode") as Config["capture"]["mode"];
  checkCaptureMode(mode, role, sources, origin("capture.mode"), report);
  if (role === "sidecar" && sources.length === 0) {
    report.fail(
      "sources",
      layers.sources?.origin ?? null,
      "at least one source is required in the sidecar role",
    );
  }

  if ((values.get("api.tlsCert") === null) !== (values.get("api.tlsKey") === null)) {
    const missing = values.get("api.tlsCert") === null ? "api.tlsCert" : "api.tlsKey";
    const given = missing === "api.tlsCert" ? "api.tlsKey" : "api.tlsCert";
    report.fail(missing, null, `is required because ${given} is set (both or neither)`);
  }
  if (num("capture.maxWait") < num("capture.debounce")) {
    report.fail("capture.maxWait", origin("capture.maxWait"), "must be at least capture.debounce");
  }
  if (num("journal.segmentSize") < num("journal.blockSize")) {
    report.fail(
      "journal.segmentSize",
      origin("journal.segmentSize"),
      "must be at least journal.blockSize",
    );
  }

  checkProtectedMode(role, values, origin, report);
  const { verifyCommands, verify } = drillCommands(values, origin, report);

  // Tools (restore, verify, checkpoints) run without a journal in the config;
  // the repo's default config keeps it in ./.pvjournal, so look there.
  const journalDir = strOrNull("journal.dir") ?? path.resolve(input.cwd, TOOL_DEFAULT_JOURNAL_DIR);
  const listen = values.get("api.listen") as ListenAddress;

  const config: Config = {
    file: input.file?.path ?? null,
    sources: sources.map((s) => s.config),
    journal: {
      dir: journalDir,
      // Databases write 8 KiB pages: intercept mode journals whole blocks, so a
      // block that matches the page stores ~1 byte per byte written (64 KiB
      // blocks stored 14.8 per byte under 4 KiB writes, measured).
      blockSize:
        mode === "intercept" && origin("journal.blockSize").kind === "default"
          ? INTERCEPT_DEFAULT_BLOCK_SIZE
          : num("journal.blockSize"),
      retention: num("journal.retention"),
      retentionCheck: num("journal.retentionCheck"),
      segmentSize: num("journal.segmentSize"),
      compression: str("journal.compression") as Config["journal"]["compression"],
      compressionLevel: num("journal.compressionLevel"),
      sizeLimit: num("journal.sizeLimit"),
    },
    api: {
      listen: listen.listen,
      host: listen.host,
      port: listen.port,
      tokenFile: strOrNull("api.tokenFile"),
      readTokenFile: strOrNull("api.readTokenFile"),
      replicaTokenFile: strOrNull("api.replicaTokenFile"),
      insecureNoAuth: values.get("api.insecureNoAuth") as boolean,
      bodyLimit: num("api.bodyLimit"),
      tlsCert: strOrNull("api.tlsCert"),
      tlsKey: strOrNull("api.tlsKey"),
    },
    checkpoints: {
      interval: num("checkpoints.interval"),
      hooks: {
        pre: listOrNull("checkpoints.hooks.pre"),
        post: listOrNull("checkpoints.hooks.post"),
        timeout: num("checkpoints.hooks.timeout"),
      },
    },
    capture: {
      mode,
      debounce: num("capture.debounce"),
      maxWait: num("capture.maxWait"),
      rescanInterval: num("capture.rescanInterval"),
      usePolling: values.get("capture.usePolling") as boolean,
      pollInterval: num("capture.pollInterval"),
    },
    restore: {
      allowedRoots: list("restore.allowedRoots"),
      concurrency: num("restore.concurrency"),
    },
    stream: streamConfig(role, layers.replicaPresent, values, origin, report),
    replica: layers.replicaPresent
      ? {
          source: strOrNull("replica.source"),
          id: strOrNull("replica.id"),
          tokenFile: strOrNull("replica.tokenFile"),
          mirrorDir: str("replica.mirrorDir"),
          caFile: strOrNull("replica.caFile"),
        }
      : null,
    drills: {
      sandboxRoot: strOrNull("drills.sandboxRoot"),
      schedule: num("drills.schedule"),
      point: str("drills.point") as Config["drills"]["point"],
      verifyCommands,
      verify,
      allowRequestCommands: values.get("drills.allowRequestCommands") as boolean,
      verifyTimeout: num("drills.verifyTimeout"),
    },
    log: { level: str("log.level") as Config["log"]["level"] },
    runtime: { heapGrowthPercent: numOrNull("runtime.heapGrowthPercent") },
  };

  const paths: PathEntry[] = [
    ...sources.map((s) => ({
      use: "source" as const,
      key: s.key,
      origin: s.origin,
      path: s.config.path,
    })),
    ...sources.flatMap((s) =>
      s.config.mountPoint === null
        ? []
        : [
            {
              use: "mountPoint" as const,
              key: s.key.replace(/\.path$/, ".mountPoint"),
              origin: s.origin,
              path: s.config.mountPoint,
            },
          ],
    ),
    { use: "journal", key: "journal.dir", origin: origin("journal.dir"), path: journalDir },
  ];
  if (config.replica !== null) {
    paths.push({
      use: "mirror",
      key: "replica.mirrorDir",
      origin: origin("replica.mirrorDir"),
      path: config.replica.mirrorDir,
    });
  }
  if (config.drills.sandboxRoot !== null) {
    paths.push({
      use: "sandbox",
      key: "drills.sandboxRoot",
      origin: origin("drills.sandboxRoot"),
      path: config.drills.sandboxRoot,
    });
  }
  config.restore.allowedRoots.forEach((root, i) => {
    paths.push({
      use: "allowedRoot",
      key: `restore.allowedRoots[${i}]`,
      origin: origin("restore.allowedRoots"),
      path: root,
    });
  });
  checkOverlaps(paths, report);

  const files: FileEntry[] = [];
  for (const id of [
    "api.tokenFile",
    "api.readTokenFile",
    "api.replicaTokenFile",
    "api.tlsCert",
    "api.tlsKey",
    "replica.tokenFile",
    "replica.caFile",
    "stream.nats.tokenFile",
    "stream.nats.caFile",
  ]) {
    const p = values.get(id);
    if (typeof p === "string") files.push({ key: id, origin: origin(id), path: p });
  }
  return { config, paths, files };
}

/** Block size intercept mode uses unless journal.blockSize is set: PostgreSQL's page. */
export const INTERCEPT_DEFAULT_BLOCK_SIZE = 8 * 1024;

// Intercept mode serves every source at its own mount point; watch mode has
// none. Ignore globs would leave writes out of a crash-consistent order.
function checkCaptureMode(
  mode: Config["capture"]["mode"],
  role: Role,
  sources: readonly SourceEntry[],
  modeOrigin: Origin,
  report: Reporter,
): void {
  sources.forEach((s, i) => {
    const at = `sources[${i}]`;
    if (mode === "watch" && s.config.mountPoint !== null) {
      report.fail(
        `${at}.mountPoint`,
        s.origin,
        "is only used with capture.mode: intercept",
        "remove it, or set capture.mode: intercept",
      );
    }
    if (mode === "intercept" && role === "sidecar" && s.config.mountPoint === null) {
      report.fail(
        `${at}.mountPoint`,
        s.origin,
        "is required with capture.mode: intercept (the app reads and writes there)",
      );
    }
    if (mode === "intercept" && s.config.ignore.length > 0) {
      report.fail(
        `${at}.ignore`,
        s.origin,
        "is not supported with capture.mode: intercept: every write is journaled in order",
      );
    }
  });
  if (mode === "intercept" && role === "replica") {
    report.fail("capture.mode", modeOrigin, "intercept is a sidecar mode; remove it on a replica");
  }
}
