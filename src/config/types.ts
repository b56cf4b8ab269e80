/**
 * The validated, frozen configuration every component receives. Produced only
 * by src/config/load.ts (the one module that reads files and the environment);
 * durations are milliseconds and sizes are bytes by the time they get here.
 */

/** One protected directory (a mounted volume or a ConfigMap mount). */
export interface SourceConfig {
  /** Unique, [a-z0-9-]+; the directory name in restores (`TARGET/<name>/...`). */
  readonly name: string;
  /** Absolute path (resolved at load time). */
  readonly path: string;
  /** Globs (relative to the source root) that capture ignores. */
  readonly ignore: readonly string[];
  /** Intercept mode: absolute path where the journaled view of `path` is served; null in watch mode. */
  readonly mountPoint: string | null;
}

/** Where and how the journal lives. */
export interface JournalConfig {
  /** Absolute path; must not be inside a source or the mirror. */
  readonly dir: string;
  /** Change-tracking granularity in bytes (power of two, 4 KiB..16 MiB). */
  readonly blockSize: number;
  /** Restore window in ms; older history is folded into a base. */
  readonly retention: number;
  /** How often retention looks for segments to fold, ms (default 60 s). */
  readonly retentionCheck: number;
  /** Segment rollover size in bytes. */
  readonly segmentSize: number;
  /** Per-block compression of blocks this journal captures (not of blocks a replica receives). */
  readonly compression: "zstd" | "none";
  /** zstd level, 1..9. */
  readonly compressionLevel: number;
  /** Warn (log, status, metric) when the journal grows past this many bytes; 0 = no limit. */
  readonly sizeLimit: number;
}

/** HTTP API settings. */
export interface ApiConfig {
  /** host:port, e.g. 127.0.0.1:7070 */
  readonly listen: string;
  readonly host: string;
  readonly port: number;
  /** File holding the operator token; when set every /v1 route requires a token. */
  readonly tokenFile: string | null;
  /** File holding a read-only token (GET routes except the stream); needs tokenFile. */
  readonly readTokenFile: string | null;
  /** Sidecar: file holding the replicas' token (stream + ack only); needs tokenFile. */
  readonly replicaTokenFile: string | null;
  /** Opt-out of protected mode: no token on a non-loopback listen address. */
  readonly insecureNoAuth: boolean;
  /** Maximum request body in bytes. */
  readonly bodyLimit: number;
  /** TLS certificate and key (PEM files); both or neither. */
  readonly tlsCert: string | null;
  readonly tlsKey: string | null;
}

/** Automatic and application-consistent checkpoints. */
export interface CheckpointsConfig {
  /** Automatic checkpoint interval in ms while there are changes; 0 = off. */
  readonly interval: number;
  readonly hooks: {
    /** argv run before the settle (quiesce the app); null = none. */
    readonly pre: readonly string[] | null;
    /** argv run after the settle, always; null = none. */
    readonly post: readonly string[] | null;
    /** Per-hook timeout in ms. */
    readonly timeout: number;
  };
}

/** How the sidecar captures changes (design.md "Capture modes"). */
export type CaptureMode = "watch" | "intercept";

/** How the sidecar captures changes. */
export interface CaptureConfig {
  /** watch: observe files (fuzzy checkpoints); intercept: FUSE, every write journaled in order (crash). */
  readonly mode: CaptureMode;
  /** Quiet period in ms before a dirty path is re-read. */
  readonly debounce: number;
  /** A path dirty this long (ms) is read even if writes continue. */
  readonly maxWait: number;
  /** Periodic reconcile rescan interval in ms; 0 = only at start. */
  readonly rescanInterval: number;
  /** Use polling instead of inotify (network filesystems). */
  readonly usePolling: boolean;
  /** Polling interval in ms when usePolling is set. */
  readonly pollInterval: number;
}

/** Restore safety. */
export interface RestoreConfig {
  /** Absolute paths; restore and drill targets must resolve below one of them. */
  readonly allowedRoots: readonly string[];
  /** Restores that run at the same time. */
  readonly concurrency: number;
}

/** Replica role settings; null in the sidecar role. */
export interface ReplicaConfig {
  /** Base URL of the sidecar, e.g. http://sidecar:7070; null with the jetstream transport. */
  readonly source: string | null;
  /** Durable consumer name (jetstream); null = the stable id kept in the replica's journal. */
  readonly id: string | null;
  readonly tokenFile: string | null;
  /** Absolute path of the live mirror directory. */
  readonly mirrorDir: string;
  /** CA file to verify the sidecar's certificate; null = system CAs. */
  readonly caFile: string | null;
}

/** How the change stream travels (design.md "Stream transport"). */
export interface StreamConfig {
  readonly transport: "http" | "jetstream";
  readonly nats: {
    /** NATS server URLs. */
    readonly servers: readonly string[];
    /** The journal's JetStream stream (also names its base bucket). */
    readonly stream: string;
    /** The stream's replication factor. */
    readonly replicas: number;
    readonly tokenFile: string | null;
    readonly caFile: string | null;
  };
}

/** Failover drills. */
export interface DrillsConfig {
  /** Absolute path under which drill sandboxes are created; null = drills off. */
  readonly sandboxRoot: string | null;
  /** Scheduled drill interval in ms; 0 = no schedule. */
  readonly schedule: number;
  /** Which point a scheduled drill picks. */
  readonly point: "latest" | "random";
  /** Named verify commands; a drill request picks one with `verify: "NAME"`. */
  readonly verifyCommands: Readonly<Record<string, readonly string[]>>;
  /** Default verify command (a drills.verify name is resolved to its argv); null = none. */
  readonly verify: readonly string[] | null;
  /** Whether a drill request may carry its own argv (`verify: {command}`); off by default. */
  readonly allowRequestCommands: boolean;
  /** Verify timeout in ms. */
  readonly verifyTimeout: number;
}

/** Logging. */
export interface LogConfig {
  readonly level: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
}

/** Process tuning of the daemons (applied at start, see util/heap-growth.ts). */
export interface RuntimeConfig {
  /**
   * V8 old-space growth beyond live data after a full GC, in percent; 0 =
   * V8's default; null = the role's default (util/heap-growth.ts).
   */
  readonly heapGrowthPercent: number | null;
}

/** The whole configuration: validated once, deeply frozen. */
export interface Config {
  /** Absolute path of the file it was loaded from, or null for the embedded default. */
  readonly file: string | null;
  readonly sources: readonly SourceConfig[];
  readonly journal: JournalConfig;
  readonly api: ApiConfig;
  readonly checkpoints: CheckpointsConfig;
  readonly capture: CaptureConfig;
  readonly restore: RestoreConfig;
  readonly stream: StreamConfig;
  readonly replica: ReplicaConfig | null;
  readonly drills: DrillsConfig;
  readonly log: LogConfig;
  readonly runtime: RuntimeConfig;
}
