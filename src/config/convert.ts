/**
 * Pure: converts one raw value (from YAML, or text from env/flags) into its
 * typed form and checks the range that belongs to its type. Cross-key rules
 * (maxWait >= debounce, overlapping paths, ...) live in validate.ts.
 */
import path from "node:path";
import { formatDuration, parseDuration } from "../util/duration.js";
import { formatBytes, parseSize } from "../util/size.js";
import type { Candidate } from "./layers.js";
import { describe } from "./layers.js";
import type { Reporter } from "./report.js";
import type { FieldType } from "./schema.js";

/** A converted value: what the Config holds for that key. */
export type Converted =
  | string
  | number
  | boolean
  | readonly string[]
  | ListenAddress
  | Readonly<Record<string, readonly string[]>>
  | null;

/** Names of drills.verifyCommands entries (they appear in requests and reports). */
export const COMMAND_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** api.listen split into its parts. */
export interface ListenAddress {
  readonly listen: string;
  readonly host: string;
  readonly port: number;
}

/** Converts and range-checks one value; `nullable` allows an explicit null. */
export function convert(
  type: FieldType,
  c: Candidate,
  nullable: boolean,
  report: Reporter,
): Converted {
  const bad: (message: string, hint?: string) => never = (message, hint) =>
    report.fail(c.key, c.origin, message, hint);
  const value = c.value;
  if (value === null || value === undefined || (c.text && value === "null" && nullable)) {
    if (nullable) return null;
    bad("is empty; remove the key to use the default, or give a value");
  }

  switch (type.kind) {
    case "string":
      return nonEmptyString(value, "a string", bad);
    case "enum": {
      const s = nonEmptyString(value, `one of ${type.values.join(", ")}`, bad);
      if (!type.values.includes(s)) bad(`${describe(s)} is not one of ${type.values.join(", ")}`);
      return s;
    }
    case "int": {
      const n =
        c.text && typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== "number" || !Number.isSafeInteger(n)) {
        bad(`expected a whole number, got ${describe(value)}`);
      }
      if (n < type.min || n > type.max) bad(`${n} is out of range ${type.min}..${type.max}`);
      return n;
    }
    case "bool": {
      if (typeof value === "boolean") return value;
      if (c.text && typeof value === "string") {
        const lower = value.toLowerCase();
        if (["true", "1", "yes"].includes(lower)) return true;
        if (["false", "0", "no"].includes(lower)) return false;
      }
      return bad(`expected true or false, got ${describe(value)}`);
    }
    case "duration": {
      // YAML reads `interval: 0` as the number 0; other bare numbers get the
      // parser's "a unit is required" message.
      const textValue = typeof value === "number" ? String(value) : value;
      if (typeof textValue !== "string") {
        bad(`expected a duration like 250ms, 5s or 24h, got ${describe(value)}`);
      }
      const ms = parse(parseDuration, textValue, bad);
      if (ms < type.min) {
        bad(
          type.min === 1
            ? "must be greater than 0"
            : `must be at least ${formatDuration(type.min)}`,
        );
      }
      if (type.max !== undefined && ms > type.max) {
        bad(`${describe(value)} is too long: at most ${formatDuration(type.max)} (a timer limit)`);
      }
      return ms;
    }
    case "size": {
      let bytes: number;
      if (typeof value === "number") {
        if (!Number.isSafeInteger(value) || value < 0) {
          bad(`${describe(value)} is not a valid size (expected e.g. 4096, 64KiB, 64MiB, 1GiB)`);
        }
        bytes = value;
      } else if (typeof value === "string") {
        bytes = parse(parseSize, value, bad);
      } else {
        return bad(`expected a size like 64KiB, got ${describe(value)}`);
      }
      if (bytes !== 0 || type.min > 0) {
        if (bytes < type.min)
          bad(`${describe(value)} is too small: at least ${formatBytes(type.min)}`);
        if (type.max !== undefined && bytes > type.max) {
          bad(`${describe(value)} is too large: at most ${formatBytes(type.max)}`);
        }
      }
      if (type.powerOfTwo === true && (bytes & (bytes - 1)) !== 0) {
        bad(`${describe(value)} is not a power of two (e.g. 4KiB, 64KiB, 1MiB)`);
      }
      return bytes;
    }
    case "path":
      return resolvePath(value, c, bad);
    case "list<string>":
    case "list<path>": {
      const items =
        c.text && typeof value === "string"
          ? value
              .split(",")
              .map((s) => s.trim())
              .filter((s) => s !== "")
          : value;
      if (!Array.isArray(items)) bad(`expected a list, got ${describe(value)}`);
      return items.map((item, i) => {
        const at: (message: string) => never = (message) =>
          report.fail(`${c.key}[${i}]`, c.origin, message);
        if (type.kind === "list<path>") return resolvePath(item, c, at);
        return nonEmptyString(item, "a string", at);
      });
    }
    case "argv":
      return argv(value, c, bad);
    case "argv|name":
      // A bare word (YAML string, or env text not starting with "[") names a command.
      if (typeof value === "string" && !(c.text && value.trim().startsWith("["))) {
        if (!COMMAND_NAME_RE.test(value))
          bad(
            `${describe(value)} is neither a command name ([a-z0-9_-]+) nor an argv list (in env: a JSON array like ["sh","-c","..."])`,
          );
        return value;
      }
      return argv(value, c, bad);
    case "map<argv>":
      return commandMap(value, c, report, bad);
    case "listen":
      return listen(nonEmptyString(value, "host:port", bad), bad);
    case "url":
      return url(nonEmptyString(value, "an http(s) URL", bad), bad);
  }
}

function parse(parser: (text: string) => number, text: string, bad: (m: string) => never): number {
  try {
    return parser(text);
  } catch (err) {
    return bad((err as Error).message);
  }
}

function nonEmptyString(value: unknown, expected: string, bad: (m: string) => never): string {
  if (typeof value !== "string") return bad(`expected ${expected}, got ${describe(value)}`);
  if (value.trim() === "") return bad(`expected ${expected}, got an empty string`);
  return value;
}

/** Resolves a path value against its origin's base directory (the file's dir, or the cwd). */
function resolvePath(value: unknown, c: Candidate, bad: (m: string, h?: string) => never): string {
  const s = nonEmptyString(value, "a path", bad);
  // Nothing expands ~ here (no shell); resolving it would create a dir named "~".
  if (s === "~" || s.startsWith("~/")) {
    bad(`${describe(s)}: ~ is not expanded`, "write the absolute path, e.g. /home/me/...");
  }
  if (s.includes("\0")) bad("a path cannot contain a NUL byte");
  return path.resolve(c.origin.baseDir, s);
}

function argv(
  value: unknown,
  c: Candidate,
  bad: (m: string, h?: string) => never,
): string[] | null {
  let list = value;
  if (c.text && typeof value === "string") {
    try {
      list = JSON.parse(value);
    } catch {
      bad(`expected a JSON array of strings like ["sh","-c","..."], got ${describe(value)}`);
    }
    if (list === null) return null;
  }
  if (!Array.isArray(list) || !list.every((a) => typeof a === "string")) {
    return bad(
      `expected a command as a list of strings like ["sh", "-c", "..."], got ${describe(value)}`,
      "commands run without a shell: wrap shell syntax in [sh, -c, ...]",
    );
  }
  if (list.length === 0 || list[0] === "") bad("the command is empty; remove the key instead");
  return list;
}

function commandMap(
  value: unknown,
  c: Candidate,
  report: Reporter,
  bad: (m: string, h?: string) => never,
): Readonly<Record<string, readonly string[]>> {
  let map = value;
  if (c.text && typeof value === "string") {
    try {
      map = JSON.parse(value);
    } catch {
      bad(`expected a JSON object like {"name": ["sh","-c","..."]}, got ${describe(value)}`);
    }
  }
  if (typeof map !== "object" || map === null || Array.isArray(map)) {
    return bad(`expected a mapping of names to argv lists, got ${describe(value)}`);
  }
  const out: Record<string, readonly string[]> = {};
  for (const [name, cmd] of Object.entries(map)) {
    const key = `${c.key}.${name}`;
    const at = (m: string, h?: string): never => report.fail(key, c.origin, m, h);
    if (!COMMAND_NAME_RE.test(name)) at("a command name must match [a-z0-9][a-z0-9_-]*");
    const list = argv(cmd, { ...c, key, text: false }, at);
    if (list === null) at("is empty; remove the entry instead");
    out[name] = list as string[];
  }
  return out;
}

// host:port, with IPv6 hosts in brackets ([::1]:7070).
const LISTEN_RE = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/;

function listen(value: string, bad: (m: string) => never): ListenAddress {
  const m = LISTEN_RE.exec(value.trim());
  const port = Number(m?.[3]);
  if (m === null || port > 65535) {
    return bad(`${describe(value)} is not host:port with a port 0..65535 (e.g. 127.0.0.1:7070)`);
  }
  return { listen: value.trim(), host: (m[1] ?? m[2])!, port };
}

function url(value: string, bad: (m: string, h?: string) => never): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return bad(`${describe(value)} is not a URL (expected e.g. http://sidecar:7070)`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    bad(`${describe(value)} must start with http:// or https://`);
  }
  // Credentials in a URL end up in logs and status output.
  if (parsed.username !== "" || parsed.password !== "") {
    bad("must not contain credentials", "put the token in a file and set replica.tokenFile");
  }
  // Consumers append /v1/...; a trailing slash would double it.
  return value.trim().replace(/\/+$/, "");
}
