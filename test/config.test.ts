import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  EMBEDDED_DEFAULT_CONFIG_PATH,
  type LoadConfigOptions,
  loadConfig,
} from "../src/config/load.js";
import { FIELDS } from "../src/config/schema.js";
import type { Config } from "../src/config/types.js";
import { ConfigError } from "../src/errors.js";
import { heapGrowthFor } from "../src/util/heap-growth.js";

const REPO = path.resolve(import.meta.dirname, "..");

let tmp: string;

beforeEach(() => {
  tmp = mkdtempSync(path.join(tmpdir(), "pvj-config-"));
  mkdirSync(path.join(tmp, "data"));
});

afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A valid sidecar config; tests append or replace sections. */
const BASE = `
sources:
  - name: data
    path: data
journal:
  dir: journal
`;

function write(name: string, text: string): string {
  const file = path.join(tmp, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

function load(yaml: string, options: Partial<LoadConfigOptions> = {}): Config {
  const file = write("pvjournal.yaml", yaml);
  return loadConfig({ file, role: "sidecar", cwd: tmp, ...options });
}

/** Asserts a ConfigError whose message starts with the file and names the key. */
function rejects(fn: () => unknown, key: string, ...fragments: string[]): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const err = caught as ConfigError;
  expect(err.code).toBe("CONFIG_INVALID");
  expect(err.message.startsWith("pvjournal.yaml: ")).toBe(true);
  expect(err.message).toContain(` ${key}`);
  expect(err.context.key).toBe(key);
  expect(err.context.file).toBe(path.join(tmp, "pvjournal.yaml"));
  for (const fragment of fragments) expect(err.message).toContain(fragment);
  return err;
}

describe("loadConfig: defaults and resolution", () => {
  it("fills every default and resolves paths against the file's directory", () => {
    const file = write(
      "etc/pvj.yaml",
      BASE.replace("path: data", "path: ../data").replace("dir: journal", "dir: ../journal"),
    );
    const config = loadConfig({ file, role: "sidecar", cwd: "/" });
    expect(config.file).toBe(file);
    expect(config.sources).toEqual([
      { name: "data", path: path.join(tmp, "data"), ignore: [], mountPoint: null },
    ]);
    expect(config.journal).toEqual({
      dir: path.join(tmp, "journal"),
      blockSize: 64 * 1024,
      retention: 24 * 3_600_000,
      retentionCheck: 60_000,
      segmentSize: 64 * 1024 * 1024,
      compression: "zstd",
      compressionLevel: 1,
      sizeLimit: 0,
    });
    expect(config.api).toEqual({
      listen: "127.0.0.1:7070",
      host: "127.0.0.1",
      port: 7070,
      tokenFile: null,
      readTokenFile: null,
      replicaTokenFile: null,
      insecureNoAuth: false,
      bodyLimit: 1024 * 1024,
      tlsCert: null,
      tlsKey: null,
    });
    expect(config.checkpoints).toEqual({
      interval: 5000,
      hooks: { pre: null, post: null, timeout: 30_000 },
    });
    expect(config.capture).toEqual({
      mode: "watch",
      debounce: 100,
      maxWait: 500,
      rescanInterval: 60_000,
      usePolling: false,
      pollInterval: 250,
    });
    expect(config.restore).toEqual({ allowedRoots: [], concurrency: 2 });
    expect(config.replica).toBeNull();
    expect(config.drills).toEqual({
      sandboxRoot: null,
      schedule: 0,
      point: "latest",
      verifyCommands: {},
      verify: null,
      allowRequestCommands: false,
      verifyTimeout: 60_000,
    });
    expect(config.log).toEqual({ level: "info" });
  });

  it("resolves relative paths from env and flags against the cwd", () => {
    mkdirSync(path.join(tmp, "sub"));
    const config = load(BASE, {
      cwd: path.join(tmp, "sub"),
      env: { PVJ_RESTORE_ALLOWED_ROOTS: "r1, ../r2" },
      flags: { "journal.dir": "j" },
    });
    expect(config.journal.dir).toBe(path.join(tmp, "sub", "j"));
    expect(config.restore.allowedRoots).toEqual([
      path.join(tmp, "sub", "r1"),
      path.join(tmp, "r2"),
    ]);
  });

  it("splits IPv6 listen addresses", () => {
    const config = load(`${BASE}api:\n  listen: "[::1]:0"\n`);
    expect(config.api.host).toBe("::1");
    expect(config.api.port).toBe(0);
  });

  it("reads every kind of value", () => {
    const config = load(`
sources:
  - name: data
    path: data
checkpoints:
  interval: 0
  hooks:
    pre: [sh, -c, "sync"]
    timeout: 1.5s
capture:
  usePolling: true
journal:
  dir: journal
  blockSize: 4096
  sizeLimit: 10GB
  compression: none
  compressionLevel: 3
drills:
  sandboxRoot: drills
  point: random
  verify: ["true"]
`);
    expect(config.checkpoints.interval).toBe(0);
    expect(config.checkpoints.hooks.pre).toEqual(["sh", "-c", "sync"]);
    expect(config.checkpoints.hooks.timeout).toBe(1500);
    expect(config.capture.usePolling).toBe(true);
    expect(config.journal.blockSize).toBe(4096);
    expect(config.journal.sizeLimit).toBe(10e9);
    expect(config.journal.compression).toBe("none");
    expect(config.journal.compressionLevel).toBe(3);
    expect(config.drills).toMatchObject({
      sandboxRoot: path.join(tmp, "drills"),
      point: "random",
      verify: ["true"],
    });
  });
});

describe("loadConfig: precedence flag > env > file > default", () => {
  // insecureNoAuth: these cases are about precedence; protected mode has its own tests.
  const file = `${BASE}api:\n  listen: 127.0.0.1:1111\n  insecureNoAuth: true\nlog:\n  level: warn\n`;

  it("default < file", () => {
    expect(load(BASE).api.port).toBe(7070);
    expect(load(file).api.port).toBe(1111);
  });

  it("file < env", () => {
    const config = load(file, { env: { PVJ_API_LISTEN: "0.0.0.0:2222", PVJ_LOG_LEVEL: "debug" } });
    expect(config.api).toMatchObject({ host: "0.0.0.0", port: 2222 });
    expect(config.log.level).toBe("debug");
  });

  it("env < flag; undefined flags are ignored", () => {
    const config = load(file, {
      env: { PVJ_API_LISTEN: "0.0.0.0:2222", PVJ_LOG_LEVEL: "debug" },
      flags: { "api.listen": "0.0.0.0:3333", "log.level": undefined },
    });
    expect(config.api.port).toBe(3333);
    expect(config.log.level).toBe("debug");
  });

  it("env values of every type", () => {
    const config = load(BASE, {
      env: {
        PVJ_JOURNAL_BLOCK_SIZE: "128KiB",
        PVJ_CHECKPOINTS_HOOKS_TIMEOUT: "10s",
        PVJ_CHECKPOINTS_HOOKS_PRE: '["sh","-c","echo hi"]',
        PVJ_CAPTURE_USE_POLLING: "true",
        PVJ_RESTORE_CONCURRENCY: "4",
        PVJ_JOURNAL_SIZE_LIMIT: "", // empty = unset (what templating leaves behind)
        HOME: "/ignored", // not PVJ_: none of our business
      },
    });
    expect(config.journal.blockSize).toBe(128 * 1024);
    expect(config.journal.sizeLimit).toBe(0);
    expect(config.checkpoints.hooks).toEqual({
      pre: ["sh", "-c", "echo hi"],
      post: null,
      timeout: 10_000,
    });
    expect(config.capture.usePolling).toBe(true);
    expect(config.restore.concurrency).toBe(4);
  });

  it("PVJ_SOURCES replaces the file's sources; a sources flag replaces both", () => {
    mkdirSync(path.join(tmp, "cfg"));
    const env = { PVJ_SOURCES: `data=${path.join(tmp, "data")},cfg=cfg` };
    expect(load(BASE, { env }).sources.map((s) => [s.name, s.path])).toEqual([
      ["data", path.join(tmp, "data")],
      ["cfg", path.join(tmp, "cfg")],
    ]);
    const config = load(BASE, { env, flags: { sources: ["cfg=cfg"] } });
    expect(config.sources.map((s) => s.name)).toEqual(["cfg"]);
  });

  it("native flag values (numbers, booleans, lists) are accepted", () => {
    const config = load(BASE, {
      flags: {
        "restore.concurrency": 3,
        "capture.usePolling": true,
        "restore.allowedRoots": ["r"],
      },
    });
    expect(config.restore).toEqual({ concurrency: 3, allowedRoots: [path.join(tmp, "r")] });
    expect(config.capture.usePolling).toBe(true);
  });
});

describe("loadConfig: freezing", () => {
  it("freezes the result deeply", () => {
    const config = load(`${BASE}checkpoints:\n  hooks:\n    pre: [a]\n`);
    for (const o of [
      config,
      config.sources,
      config.sources[0],
      config.sources[0]!.ignore,
      config.journal,
      config.checkpoints.hooks,
      config.checkpoints.hooks.pre,
      config.restore.allowedRoots,
    ]) {
      expect(Object.isFrozen(o)).toBe(true);
    }
    expect(() => {
      (config.journal as { blockSize: number }).blockSize = 1;
    }).toThrow(TypeError);
  });
});

describe("loadConfig: rejections name the file and the key", () => {
  // [what, yaml, key, ...fragments]
  const cases: Array<[string, string, string, ...string[]]> = [
    ["unknown section", `${BASE}bogus: 1\n`, "bogus", "unknown section"],
    [
      "unknown key",
      `${BASE.replace("dir: journal", "dir: journal\n  blocksize: 64KiB")}`,
      "journal.blocksize",
      "did you mean blockSize?",
    ],
    [
      "unknown nested key",
      `${BASE}checkpoints:\n  hooks:\n    prex: [a]\n`,
      "checkpoints.hooks.prex",
      "did you mean pre?",
    ],
    [
      "unknown key in a source",
      BASE.replace("path: data", "path: data\n    paths: x"),
      "sources[0].paths",
      "unknown key",
    ],
    ["section not a mapping", `${BASE}api: 7070\n`, "api", "expected a mapping"],
    ["sources not a list", `sources: data\njournal:\n  dir: j\n`, "sources", "expected a list"],
    [
      "negative duration",
      `${BASE}  retention: -5s\n`,
      "journal.retention",
      '"-5s" is not a valid duration (expected e.g. 250ms, 5s, 24h)',
    ],
    ["zero retention", `${BASE}  retention: 0\n`, "journal.retention", "greater than 0"],
    ["bare number duration", `${BASE}  retention: 5\n`, "journal.retention", "a unit"],
    [
      "garbage duration",
      `${BASE}capture:\n  debounce: soon\n`,
      "capture.debounce",
      "not a valid duration",
    ],
    [
      "timer overflow",
      `${BASE}checkpoints:\n  interval: 30d\n`,
      "checkpoints.interval",
      "too long",
    ],
    ["null for a defaulted key", `${BASE}  retention:\n`, "journal.retention", "is empty"],
    ["bool as size", `${BASE}  blockSize: true\n`, "journal.blockSize", "expected a size"],
    [
      "block size not a power of two",
      `${BASE}  blockSize: 48KiB\n`,
      "journal.blockSize",
      "power of two",
    ],
    ["block size too small", `${BASE}  blockSize: 2KiB\n`, "journal.blockSize", "too small"],
    ["block size too large", `${BASE}  blockSize: 32MiB\n`, "journal.blockSize", "too large"],
    ["negative size", `${BASE}  sizeLimit: -1\n`, "journal.sizeLimit", "not a valid size"],
    ["segment too small", `${BASE}  segmentSize: 512KiB\n`, "journal.segmentSize", "too small"],
    [
      "segment below block size",
      `${BASE}  segmentSize: 1MiB\n  blockSize: 2MiB\n`,
      "journal.segmentSize",
      "journal.blockSize",
    ],
    [
      "string as bool",
      `${BASE}capture:\n  usePolling: "yes"\n`,
      "capture.usePolling",
      "true or false",
    ],
    [
      "string as int",
      `${BASE}restore:\n  concurrency: "2"\n`,
      "restore.concurrency",
      "whole number",
    ],
    ["int out of range", `${BASE}restore:\n  concurrency: 17\n`, "restore.concurrency", "1..16"],
    [
      "string as list",
      `${BASE}restore:\n  allowedRoots: /x\n`,
      "restore.allowedRoots",
      "expected a list",
    ],
    [
      "bad list item",
      `${BASE}restore:\n  allowedRoots: [7]\n`,
      "restore.allowedRoots[0]",
      "expected a path",
    ],
    [
      "tilde path",
      `${BASE}restore:\n  allowedRoots: [~/r]\n`,
      "restore.allowedRoots[0]",
      "~ is not expanded",
    ],
    [
      "argv as string",
      `${BASE}checkpoints:\n  hooks:\n    pre: "sh -c x"\n`,
      "checkpoints.hooks.pre",
      "list of strings",
    ],
    [
      "empty argv",
      `${BASE}checkpoints:\n  hooks:\n    post: []\n`,
      "checkpoints.hooks.post",
      "empty",
    ],
    [
      "zero hook timeout",
      `${BASE}checkpoints:\n  hooks:\n    timeout: 0\n`,
      "checkpoints.hooks.timeout",
      "greater than 0",
    ],
    ["bad enum", `${BASE}log:\n  level: loud\n`, "log.level", "not one of trace, debug"],
    ["bad drill point", `${BASE}drills:\n  point: oldest\n`, "drills.point", "latest, random"],
    ["listen without port", `${BASE}api:\n  listen: localhost\n`, "api.listen", "host:port"],
    ["listen port too big", `${BASE}api:\n  listen: 1.2.3.4:70000\n`, "api.listen", "0..65535"],
    ["tls cert without key", `${BASE}api:\n  tlsCert: cert.pem\n`, "api.tlsKey", "both or neither"],
    [
      "maxWait below debounce",
      `${BASE}capture:\n  debounce: 1s\n`,
      "capture.maxWait",
      "capture.debounce",
    ],
    [
      "journal inside a source",
      BASE.replace("dir: journal", "dir: data/.pvjournal"),
      "journal.dir",
      "is inside sources[0].path",
    ],
    [
      "journal equal to a source",
      BASE.replace("dir: journal", "dir: data"),
      "journal.dir",
      "same directory",
    ],
    [
      "source inside the journal",
      BASE.replace("dir: journal", "dir: ."),
      "journal.dir",
      "contains sources[0].path",
    ],
    [
      "restore root inside a source",
      `${BASE}restore:\n  allowedRoots: [data/r]\n`,
      "restore.allowedRoots[0]",
      "is inside sources[0].path",
    ],
    [
      "sandbox inside the journal",
      `${BASE}drills:\n  sandboxRoot: journal/d\n`,
      "drills.sandboxRoot",
      "is inside journal.dir",
    ],
    [
      "duplicate source names",
      `${BASE}  - x: 1\n`.replace(
        "journal:\n  dir: journal\n  - x: 1",
        "  - name: data\n    path: data2\njournal:\n  dir: journal",
      ),
      "sources[1].name",
      "already used by sources[0]",
    ],
    [
      "nested sources",
      BASE.replace("    path: data\n", "    path: data\n  - name: inner\n    path: data/inner\n"),
      "sources[1].path",
      "is inside sources[0].path",
    ],
    [
      "upper-case source name",
      BASE.replace("name: data", "name: Data"),
      "sources[0].name",
      "[a-z0-9-]+",
    ],
    [
      "underscore source name",
      BASE.replace("name: data", "name: my_data"),
      "sources[0].name",
      "[a-z0-9-]+",
    ],
    [
      "source without name",
      BASE.replace("  - name: data\n    path: data", "  - path: data"),
      "sources[0].name",
      "is required",
    ],
    [
      "missing source directory",
      BASE.replace("path: data", "path: nope"),
      "sources[0].path",
      "does not exist",
    ],
    [
      "no sources in the sidecar role",
      "sources: []\njournal:\n  dir: journal\n",
      "sources",
      "at least one source",
    ],
    [
      "no journal in the sidecar role",
      "sources:\n  - name: data\n    path: data\n",
      "journal.dir",
      "required in the sidecar role",
    ],
    [
      "replica section in the sidecar role",
      `${BASE}replica:\n  source: http://x:7070\n  mirrorDir: m\n`,
      "replica",
      "only used in the replica role",
    ],
    ["missing token file", `${BASE}api:\n  tokenFile: token\n`, "api.tokenFile", "does not exist"],
    [
      "unknown compression codec",
      BASE.replace("dir: journal", "dir: journal\n  compression: lz4"),
      "journal.compression",
      "zstd",
      "none",
    ],
    [
      "zstd level above 9",
      BASE.replace("dir: journal", "dir: journal\n  compressionLevel: 19"),
      "journal.compressionLevel",
    ],
    [
      "zstd level 0",
      BASE.replace("dir: journal", "dir: journal\n  compressionLevel: 0"),
      "journal.compressionLevel",
    ],
  ];

  it.each(cases)("%s", (_what, yaml, key, ...fragments) => {
    rejects(() => load(yaml), key, ...fragments);
  });

  it("quotes the exact message for an invalid duration", () => {
    const err = rejects(() => load(`${BASE}  retention: -5s\n`), "journal.retention");
    expect(err.message).toBe(
      'pvjournal.yaml: journal.retention: "-5s" is not a valid duration (expected e.g. 250ms, 5s, 24h)',
    );
  });

  it("names the env var when the bad value came from the environment", () => {
    const err = rejects(
      () => load(BASE, { env: { PVJ_JOURNAL_RETENTION: "-5s" } }),
      "journal.retention",
    );
    expect(err.message).toContain("(from env PVJ_JOURNAL_RETENTION)");
  });

  it("names the flag when the bad value came from a flag", () => {
    const err = rejects(() => load(BASE, { flags: { "api.listen": "nope" } }), "api.listen");
    expect(err.message).toContain("(from flag api.listen)");
  });

  it("rejects a source that is a file", () => {
    write("file", "x");
    rejects(
      () => load(BASE.replace("path: data", "path: file")),
      "sources[0].path",
      "not a directory",
    );
  });

  it("rejects a journal that reaches into a source through a symlink", () => {
    symlinkSync(path.join(tmp, "data"), path.join(tmp, "link"));
    const yaml = BASE.replace("dir: journal", "dir: link/j");
    rejects(() => load(yaml), "journal.dir", "really", "is inside sources[0].path");
    // Without filesystem checks only the configured paths are compared.
    expect(load(yaml, { checkPaths: false }).journal.dir).toBe(path.join(tmp, "link", "j"));
  });

  it("rejects an unknown PVJ_ environment variable, suggesting the right one", () => {
    rejects(
      () => load(BASE, { env: { PVJ_JOURNAL_BLOKSIZE: "64KiB" } }),
      "PVJ_JOURNAL_BLOKSIZE",
      "unknown environment variable",
      "PVJ_JOURNAL_BLOCK_SIZE",
    );
  });

  it("accepts the PVJ_DRILL_* variables a drill's verify command runs with", () => {
    expect(() =>
      load(BASE, {
        env: { PVJ_DRILL_DIR: "/x", PVJ_DRILL_POINT_SEQ: "1", PVJ_DRILL_POINT_TS: "t" },
      }),
    ).not.toThrow();
  });

  it("rejects an unknown flag key", () => {
    rejects(
      () => load(BASE, { flags: { "api.lisen": "x" } }),
      "api.lisen",
      "did you mean api.listen?",
    );
  });

  it("rejects a bad argv from env", () => {
    rejects(
      () => load(BASE, { env: { PVJ_DRILLS_VERIFY: "sh -c true" } }),
      "drills.verify",
      "JSON array",
    );
  });

  it("rejects a malformed PVJ_SOURCES entry", () => {
    rejects(() => load(BASE, { env: { PVJ_SOURCES: "data" } }), "sources[0]", "name=path");
  });

  it("creates missing sources only when asked", () => {
    const yaml = BASE.replace("path: data", "path: fresh/data");
    rejects(() => load(yaml), "sources[0].path", "does not exist");
    const config = load(yaml, { createMissingSources: true });
    expect(existsSync(config.sources[0]!.path)).toBe(true);
  });

  it("a missing file names the file", () => {
    expect(() => loadConfig({ file: path.join(tmp, "nope.yaml"), role: "tool", cwd: tmp })).toThrow(
      /^nope\.yaml: cannot read config file: does not exist$/,
    );
  });

  it.each([
    ["bad YAML", "journal: [\n"],
    ["duplicate keys", "journal:\n  dir: a\n  dir: b\n"],
  ])("%s names the file", (_what, yaml) => {
    const file = write("broken.yaml", yaml);
    let caught: unknown;
    try {
      loadConfig({ file, role: "tool", cwd: tmp });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toMatch(/^broken\.yaml: not valid YAML: /);
    expect((caught as ConfigError).context.file).toBe(file);
  });

  it("a top level that is not a mapping is rejected", () => {
    rejects(() => load("- a\n- b\n"), "(top level)", "mapping");
  });
});

describe("loadConfig: roles", () => {
  const replica = `replica:\n  source: https://sidecar:7070/\n  mirrorDir: mirror\njournal:\n  dir: journal\n`;

  it("replica role: requires the replica section", () => {
    rejects(
      () => load("journal:\n  dir: journal\n", { role: "replica" }),
      "replica",
      "required in the replica role",
    );
  });

  it("replica role: loads and trims the trailing slash of the source URL", () => {
    const config = load(replica, { role: "replica" });
    expect(config.replica).toEqual({
      source: "https://sidecar:7070",
      id: null,
      tokenFile: null,
      mirrorDir: path.join(tmp, "mirror"),
      caFile: null,
    });
    expect(config.sources).toEqual([]);
  });

  it.each([
    [
      "source missing",
      replica.replace("  source: https://sidecar:7070/\n", ""),
      "replica.source",
      "is required with stream.transport: http",
    ],
    [
      "mirror missing",
      replica.replace("  mirrorDir: mirror\n", ""),
      "replica.mirrorDir",
      "required when the replica section",
    ],
    [
      "source not http",
      replica.replace("https://sidecar:7070/", "ftp://sidecar"),
      "replica.source",
      "http:// or https://",
    ],
    [
      "credentials in the URL",
      replica.replace("https://", "https://u:p@"),
      "replica.source",
      "credentials",
    ],
    [
      "mirror inside the journal",
      replica.replace("mirrorDir: mirror", "mirrorDir: journal/m"),
      "replica.mirrorDir",
      "is inside journal.dir",
    ],
    [
      "journal inside the mirror",
      replica.replace("mirrorDir: mirror", "mirrorDir: ."),
      "replica.mirrorDir",
      "contains journal.dir",
    ],
    [
      "mirror inside a source",
      `${replica}sources:\n  - name: data\n    path: data\n`.replace(
        "mirrorDir: mirror",
        "mirrorDir: data/m",
      ),
      "replica.mirrorDir",
      "is inside sources[0].path",
    ],
  ])("replica role: %s", (_what, yaml, key, ...fragments) => {
    rejects(() => load(yaml, { role: "replica" }), key, ...fragments);
  });

  it("replica section from env alone counts as present", () => {
    rejects(
      () =>
        load("journal:\n  dir: journal\n", {
          role: "replica",
          env: { PVJ_REPLICA_MIRROR_DIR: "m" },
        }),
      "replica.source",
      "required",
    );
  });

  it("tool role: no file, no sources, journal from a flag or ./.pvjournal", () => {
    const config = loadConfig({ role: "tool", cwd: tmp });
    expect(config.file).toBeNull();
    expect(config.sources).toEqual([]);
    expect(config.journal.dir).toBe(path.join(tmp, ".pvjournal"));
    expect(loadConfig({ role: "tool", cwd: tmp, flags: { "journal.dir": "j" } }).journal.dir).toBe(
      path.join(tmp, "j"),
    );
  });

  it("tool role: does not require sources, secrets or the replica to exist", () => {
    const yaml = `${BASE.replace("path: data", "path: gone")}api:\n  tokenFile: /nonexistent/token\n`;
    expect(load(yaml, { role: "tool" }).sources[0]!.path).toBe(path.join(tmp, "gone"));
  });

  it("tool role: still validates what is present", () => {
    rejects(() => load(`${BASE}  retention: 5x\n`, { role: "tool" }), "journal.retention");
  });

  it("no-file errors say so", () => {
    expect(() => loadConfig({ role: "tool", cwd: tmp, env: { PVJ_LOG_LEVEL: "loud" } })).toThrow(
      /^\(no config file\): log\.level \(from env PVJ_LOG_LEVEL\): /,
    );
  });
});

describe("the shipped config files", () => {
  it("EMBEDDED_DEFAULT_CONFIG_PATH points at config/pvjournal.yaml", () => {
    expect(EMBEDDED_DEFAULT_CONFIG_PATH).toBe(path.join(REPO, "config", "pvjournal.yaml"));
    expect(existsSync(EMBEDDED_DEFAULT_CONFIG_PATH)).toBe(true);
  });

  it("the default config protects ../data relative to itself (npm start from the repo root)", () => {
    const config = loadConfig({
      file: EMBEDDED_DEFAULT_CONFIG_PATH,
      role: "sidecar",
      checkPaths: false,
    });
    expect(config.sources).toEqual([
      { name: "data", path: path.join(REPO, "data"), ignore: [], mountPoint: null },
    ]);
    expect(config.journal.dir).toBe(path.join(REPO, ".pvjournal"));
    expect(config.restore.allowedRoots).toEqual([path.join(REPO, "restores")]);
    expect(config.drills.sandboxRoot).toBe(path.join(REPO, "drills"));
    expect(config.api).toMatchObject({ host: "127.0.0.1", port: 7070 });
    expect(config.replica).toBeNull();
  });

  it("the default config passes the filesystem checks in a copy of the repo layout", () => {
    cpSync(EMBEDDED_DEFAULT_CONFIG_PATH, path.join(tmp, "repo", "config", "pvjournal.yaml"), {
      recursive: true,
    });
    const file = path.join(tmp, "repo", "config", "pvjournal.yaml");
    const config = loadConfig({ file, role: "sidecar", cwd: tmp, createMissingSources: true });
    expect(existsSync(path.join(tmp, "repo", "data"))).toBe(true);
    expect(config.file).toBe(file);
  });

  it("runtime.heapGrowthPercent: unset by default (30 for a watch sidecar, else V8's), from env, range-checked", () => {
    expect(load(BASE).runtime.heapGrowthPercent).toBeNull();
    expect(heapGrowthFor(null, "sidecar-watch")).toBe(30);
    expect(heapGrowthFor(null, "sidecar-intercept")).toBe(0);
    expect(heapGrowthFor(null, "replica")).toBe(0);
    expect(heapGrowthFor(50, "replica")).toBe(50);
    expect(heapGrowthFor(0, "sidecar-watch")).toBe(0);
    expect(
      load(BASE, { env: { PVJ_RUNTIME_HEAP_GROWTH_PERCENT: "0" } }).runtime.heapGrowthPercent,
    ).toBe(0);
    rejects(
      () => load(`${BASE}runtime:\n  heapGrowthPercent: 500\n`),
      "runtime.heapGrowthPercent",
      "out of range 0..400",
    );
  });

  it("the default config documents every key", () => {
    const text = readFileSync(EMBEDDED_DEFAULT_CONFIG_PATH, "utf8");
    for (const field of FIELDS) {
      expect(text, field.key).toContain(`${field.key.split(".").at(-1)}:`);
    }
  });

  it("the Kubernetes sidecar example is valid", () => {
    const file = path.join(REPO, "config", "examples", "kubernetes-sidecar.yaml");
    const config = loadConfig({ file, role: "sidecar", checkPaths: false });
    expect(config.sources.map((s) => [s.name, s.path])).toEqual([
      ["data", "/data"],
      ["config", "/config"],
    ]);
    expect(config.journal.dir).toBe("/journal");
    expect(config.api).toMatchObject({
      host: "0.0.0.0",
      port: 7070,
      tokenFile: "/secrets/pvjournal-token",
    });
    expect(config.checkpoints.hooks.pre?.[0]).toBe("sh");
  });

  it("the replica example is valid", () => {
    const file = path.join(REPO, "config", "examples", "replica.yaml");
    const config = loadConfig({ file, role: "replica", checkPaths: false });
    expect(config.replica?.mirrorDir).toBe("/replica");
    expect(config.journal.dir).toBe("/journal");
    expect(config.drills.sandboxRoot).toBe("/drills");
    expect(config.restore.allowedRoots).toEqual(["/restore", "/drills"]);
  });
});

describe("capture.mode intercept", () => {
  const intercept = (extra = "", source = "    mountPoint: mnt\n") => `
sources:
  - name: data
    path: data
${source}journal:
  dir: journal
capture:
  mode: intercept
${extra}`;

  it("takes a mountPoint per source and defaults the block size to 8 KiB (database pages)", () => {
    const c = load(intercept());
    expect(c.capture.mode).toBe("intercept");
    expect(c.sources[0]!.mountPoint).toBe(path.join(tmp, "mnt"));
    expect(c.journal.blockSize).toBe(8192);
  });

  it("keeps an explicitly set block size", () => {
    const c = load(
      `${intercept()}`.replace("  dir: journal\n", "  dir: journal\n  blockSize: 64KiB\n"),
    );
    expect(c.journal.blockSize).toBe(65536);
  });

  it("watch mode keeps the 64 KiB default and has no mount points", () => {
    expect(load(BASE).journal.blockSize).toBe(65536);
    rejects(
      () => load(BASE.replace("    path: data\n", "    path: data\n    mountPoint: mnt\n")),
      "sources[0].mountPoint",
      "only used with capture.mode: intercept",
    );
  });

  it("requires a mountPoint for every source", () => {
    rejects(() => load(intercept("", "")), "sources[0].mountPoint", "is required");
  });

  it("refuses a mountPoint inside the source, a journal inside the mountPoint, and ignore globs", () => {
    rejects(
      () => load(intercept("", "    mountPoint: data/view\n")),
      "sources[0].mountPoint",
      "is inside",
    );
    rejects(
      () => load(intercept().replace("  dir: journal", "  dir: mnt/journal")),
      "journal.dir",
      "is inside",
    );
    rejects(
      () => load(intercept("", "    mountPoint: mnt\n    ignore: ['*.tmp']\n")),
      "sources[0].ignore",
      "not supported",
    );
  });

  it("is a sidecar mode only", () => {
    rejects(
      () =>
        load(
          "journal:\n  dir: journal\ncapture:\n  mode: intercept\nreplica:\n  source: http://s:7070\n  mirrorDir: mirror\n",
          { role: "replica" },
        ),
      "capture.mode",
      "sidecar mode",
    );
  });
});
