/**
 * The declarative schema of every config key: where it lives, its type, its
 * default (written the way a user would write it in YAML, so defaults go
 * through the same parsers as user values) and the roles that require it.
 * The loader, the env-var names, unknown-key rejection and the commented
 * default file in config/pvjournal.yaml all follow this table.
 */
import { LOG_LEVELS } from "../log/logger.js";
import { MAX_TIMER_MS } from "../util/duration.js";
import { JOURNAL_FIELDS } from "./schema-journal.js";
import { STREAM_FIELDS } from "./schema-stream.js";

/** Which daemon or tool is loading the config; decides what is required. */
export type Role = "sidecar" | "replica" | "tool";

/** Every role, for iteration and validation of CLI input. */
export const ROLES: readonly Role[] = ["sidecar", "replica", "tool"];

/** Top-level sections other than `sources` (which is a list, described by SOURCE_FIELDS). */
export const SECTIONS = [
  "journal",
  "api",
  "checkpoints",
  "capture",
  "restore",
  "stream",
  "replica",
  "drills",
  "log",
  "runtime",
] as const;

/** One of SECTIONS. */
export type Section = (typeof SECTIONS)[number];

import type { FieldSpec, FieldType } from "./field-types.js";

export type { FieldSpec, FieldType };

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const timer = (min: number): FieldType => ({ kind: "duration", min, max: MAX_TIMER_MS });

/** Every key except `sources`. Order is the order of the commented default file. */
export const FIELDS: readonly FieldSpec[] = [
  ...JOURNAL_FIELDS,
  {
    section: "api",
    key: "listen",
    type: { kind: "listen" },
    default: "127.0.0.1:7070",
    doc: "host:port of the HTTP API; 0.0.0.0:7070 in containers",
  },
  {
    section: "api",
    key: "tokenFile",
    type: { kind: "path" },
    default: null,
    nullable: true,
    doc: "file holding the operator token (every /v1 route); required on a non-loopback listen",
  },
  {
    section: "api",
    key: "readTokenFile",
    type: { kind: "path" },
    default: null,
    nullable: true,
    doc: "file holding a read-only token: GET routes except the stream; needs tokenFile",
  },
  {
    section: "api",
    key: "replicaTokenFile",
    type: { kind: "path" },
    default: null,
    nullable: true,
    doc: "sidecar: file holding the replicas' token: GET /v1/stream and its ack only; needs tokenFile",
  },
  {
    section: "api",
    key: "insecureNoAuth",
    type: { kind: "bool" },
    default: false,
    doc: "serve /v1 without a token on a non-loopback listen address (unsafe opt-out)",
  },
  {
    section: "api",
    key: "bodyLimit",
    type: { kind: "size", min: 1 * KiB, max: GiB },
    default: "1MiB",
    doc: "maximum request body",
  },
  {
    section: "api",
    key: "tlsCert",
    type: { kind: "path" },
    default: null,
    nullable: true,
    doc: "PEM certificate; set together with tlsKey",
  },
  {
    section: "api",
    key: "tlsKey",
    type: { kind: "path" },
    default: null,
    nullable: true,
    doc: "PEM private key; set together with tlsCert",
  },
  {
    section: "checkpoints",
    key: "interval",
    type: timer(0),
    default: "5s",
    doc: "automatic checkpoints while there are changes; 0 = off",
  },
  {
    section: "checkpoints",
    key: "hooks.pre",
    type: { kind: "argv" },
    default: null,
    nullable: true,
    doc: "argv run before the settle (quiesce the app)",
  },
  {
    section: "checkpoints",
    key: "hooks.post",
    type: { kind: "argv" },
    default: null,
    nullable: true,
    doc: "argv run after the settle, always",
  },
  {
    section: "checkpoints",
    key: "hooks.timeout",
    type: timer(1),
    default: "30s",
    doc: "per-hook timeout",
  },
  {
    section: "capture",
    key: "mode",
    type: { kind: "enum", values: ["watch", "intercept"] },
    default: "watch",
    doc: "watch (observe the files; checkpoints fuzzy) or intercept (serve each source at its mountPoint through FUSE and journal every write in order; checkpoints crash-consistent; needs /dev/fuse and CAP_SYS_ADMIN)",
  },
  {
    section: "capture",
    key: "debounce",
    type: timer(0),
    default: "100ms",
    doc: "quiet period before a dirty path is re-read",
  },
  {
    section: "capture",
    key: "maxWait",
    type: timer(0),
    default: "500ms",
    doc: "a path dirty this long is read even if writes continue; >= debounce",
  },
  {
    section: "capture",
    key: "rescanInterval",
    type: timer(0),
    default: "60s",
    doc: "periodic reconcile rescan; 0 = only at start",
  },
  {
    section: "capture",
    key: "usePolling",
    type: { kind: "bool" },
    default: false,
    doc: "poll instead of inotify (network filesystems)",
  },
  {
    section: "capture",
    key: "pollInterval",
    type: timer(1),
    default: "250ms",
    doc: "polling interval when usePolling is set",
  },
  {
    section: "restore",
    key: "allowedRoots",
    type: { kind: "list<path>" },
    default: [],
    doc: "restores and drills may only write below these",
  },
  {
    section: "restore",
    key: "concurrency",
    type: { kind: "int", min: 1, max: 16 },
    default: 2,
    doc: "restores that run at the same time, 1..16",
  },
  ...STREAM_FIELDS,
  {
    section: "replica",
    key: "source",
    type: { kind: "url" },
    default: null,
    nullable: true,
    doc: "base URL of the sidecar, e.g. http://sidecar:7070; required with stream.transport: http",
  },
  {
    section: "replica",
    key: "id",
    type: { kind: "string" },
    default: null,
    nullable: true,
    doc: "jetstream: the replica's durable consumer name, unique per replica; default the id kept in its journal",
  },
  {
    section: "replica",
    key: "tokenFile",
    type: { kind: "path" },
    default: null,
    nullable: true,
    doc: "file holding the sidecar's bearer token",
  },
  {
    section: "replica",
    key: "mirrorDir",
    type: { kind: "path" },
    default: null,
    required: "section",
    doc: "live mirror of the volume; not inside a source or the journal",
  },
  {
    section: "replica",
    key: "caFile",
    type: { kind: "path" },
    default: null,
    nullable: true,
    doc: "CA file to verify the sidecar's certificate; unset = system CAs",
  },
  {
    section: "drills",
    key: "sandboxRoot",
    type: { kind: "path" },
    default: null,
    nullable: true,
    doc: "drill sandboxes are created below this; unset = drills off",
  },
  {
    section: "drills",
    key: "schedule",
    type: timer(0),
    default: 0,
    doc: "scheduled drill interval; 0 = no schedule",
  },
  {
    section: "drills",
    key: "point",
    type: { kind: "enum", values: ["latest", "random"] },
    default: "latest",
    doc: "which point a scheduled drill picks: latest or random",
  },
  {
    section: "drills",
    key: "verifyCommands",
    type: { kind: "map<argv>" },
    default: null,
    nullable: true,
    doc: "named verify commands {name: argv}; a drill request picks one by name",
  },
  {
    section: "drills",
    key: "verify",
    type: { kind: "argv|name" },
    default: null,
    nullable: true,
    doc: "default verify command: a name from verifyCommands, or an argv",
  },
  {
    section: "drills",
    key: "allowRequestCommands",
    type: { kind: "bool" },
    default: false,
    doc: "let a drill request carry its own argv (runs as the daemon's user; off by default)",
  },
  {
    section: "drills",
    key: "verifyTimeout",
    type: timer(1),
    default: "60s",
    doc: "verify command timeout",
  },
  {
    section: "log",
    key: "level",
    type: { kind: "enum", values: LOG_LEVELS },
    default: "info",
    doc: "trace, debug, info, warn, error, fatal or silent",
  },
  {
    section: "runtime",
    key: "heapGrowthPercent",
    type: { kind: "int", min: 0, max: 400 },
    default: null,
    nullable: true,
    doc: "JS heap growth beyond live data before V8's next full GC, in %; 0 = V8's own (up to 4x); unset = 30 for a watch-mode sidecar, 0 otherwise",
  },
];

/** Keys of one `sources` entry. name and path are required, ignore defaults to []. */
export const SOURCE_FIELDS = {
  name: { type: { kind: "string" }, doc: "unique, [a-z0-9-]+; the directory name in restores" },
  path: { type: { kind: "path" }, doc: "a mounted volume or a ConfigMap mount" },
  ignore: { type: { kind: "list<string>" }, doc: "globs (relative to the source) not captured" },
  mountPoint: {
    type: { kind: "path" },
    doc: "intercept mode only: where the app sees the journaled view of path",
  },
} as const satisfies Record<string, { type: FieldType; doc: string }>;

/** Source names become directory names in restores, URLs and metrics labels. */
export const SOURCE_NAME_RE = /^[a-z0-9-]+$/;

/** The dotted id of a field: `checkpoints.hooks.timeout`. Also the flag key. */
export function fieldId(field: FieldSpec): string {
  return `${field.section}.${field.key}`;
}

/** `blockSize` → `BLOCK_SIZE`. */
function upperSnake(camel: string): string {
  return camel.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Env var of a field: PVJ_ + each dotted part in upper snake case (PVJ_CHECKPOINTS_HOOKS_TIMEOUT). */
export function envName(field: FieldSpec): string {
  return `PVJ_${fieldId(field).split(".").map(upperSnake).join("_")}`;
}

/** Env var that replaces the whole source list: `name=path,name2=path2`. */
export const SOURCES_ENV = "PVJ_SOURCES";

/** Flag key that replaces the whole source list (string like PVJ_SOURCES, or a list of `name=path`). */
export const SOURCES_FLAG = "sources";

/**
 * PVJ_ variables that are not config and must not be rejected. The drill
 * runner sets these for the verify command, which may itself run pvjournal.
 */
export const ENV_ALLOWLIST: ReadonlySet<string> = new Set([
  "PVJ_DRILL_DIR",
  "PVJ_DRILL_POINT_TS",
  "PVJ_DRILL_POINT_SEQ",
]);

/** Fields by dotted id (`api.listen`). */
export const FIELDS_BY_ID: ReadonlyMap<string, FieldSpec> = new Map(
  FIELDS.map((f) => [fieldId(f), f]),
);

/** Fields by env var name (`PVJ_API_LISTEN`). */
export const FIELDS_BY_ENV: ReadonlyMap<string, FieldSpec> = new Map(
  FIELDS.map((f) => [envName(f), f]),
);
