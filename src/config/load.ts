/**
 * The one place that reads settings: the YAML file, the environment and CLI
 * flags (precedence flag > env > file > default). It validates once, checks
 * the filesystem, and returns a deeply frozen Config. Nothing else in
 * pvjournal reads process.env; the CLI passes it in here.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import { ConfigError } from "../errors.js";
import { deepFreeze } from "./freeze.js";
import { checkFilesystem } from "./fs-checks.js";
import { type FileLayer, Reporter } from "./report.js";
import type { Role } from "./schema.js";
import type { Config } from "./types.js";
import { validateConfig } from "./validate.js";

// src/config/load.ts and dist/config/load.js are both two levels below the package root.
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Absolute path of the commented default config shipped with the package (config/pvjournal.yaml). */
export const EMBEDDED_DEFAULT_CONFIG_PATH = path.join(PACKAGE_ROOT, "config", "pvjournal.yaml");

/** Options of loadConfig. */
export interface LoadConfigOptions {
  /** Config file; null/undefined = no file (built-in defaults, env and flags only). */
  readonly file?: string | null;
  /** Environment to read PVJ_* variables from; the CLI passes process.env. Default: none. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Flat dotted keys (`api.listen`, `journal.dir`, `sources`); undefined values are ignored. */
  readonly flags?: Readonly<Record<string, unknown>>;
  readonly role: Role;
  /** Base for relative paths from env and flags, and for displaying the file. Default: process.cwd(). */
  readonly cwd?: string;
  /** Check the filesystem (sources exist, files exist, real-path overlaps). Default true. */
  readonly checkPaths?: boolean;
  /** Create missing source directories instead of rejecting them. Default false. */
  readonly createMissingSources?: boolean;
}

/** Loads, validates and deeply freezes the config; throws ConfigError (exit code 2) naming file and key. */
export function loadConfig(options: LoadConfigOptions): Config {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const file = options.file == null ? null : readConfigFile(options.file, cwd);
  const input = {
    role: options.role,
    cwd,
    file,
    env: options.env ?? {},
    flags: options.flags ?? {},
  };
  const validated = validateConfig(input);
  if (options.checkPaths !== false) {
    checkFilesystem(
      validated,
      { role: options.role, createMissingSources: options.createMissingSources === true },
      new Reporter(file),
    );
  }
  return deepFreeze(validated.config);
}

/** Reads and parses a YAML config file; a missing file or bad YAML is a ConfigError naming it. */
export function readConfigFile(file: string, cwd: string): FileLayer {
  const absolute = path.resolve(cwd, file);
  // Show the path as the user would type it from here.
  const rel = path.relative(cwd, absolute);
  const display = rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : absolute;
  let text: string;
  try {
    text = fs.readFileSync(absolute, "utf8");
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : (err as Error).message;
    throw new ConfigError(
      `${display}: cannot read config file: ${reason}`,
      { file: absolute },
      err,
    );
  }
  // uniqueKeys (the default) makes a key written twice an error instead of "last one wins".
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    throw new ConfigError(
      `${display}: not valid YAML: ${first.message}`,
      { file: absolute },
      first,
    );
  }
  return { path: absolute, display, data: doc.toJS() };
}
