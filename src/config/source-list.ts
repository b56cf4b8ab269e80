/**
 * The `sources` list: a YAML list of mappings, PVJ_SOURCES text or flag
 * strings, converted entry by entry with the key and origin to blame.
 */
import { convert } from "./convert.js";
import { type Candidate, describe, isMapping } from "./layers.js";
import { didYouMean, type Origin, type Reporter } from "./report.js";
import { SOURCE_FIELDS, SOURCE_NAME_RE } from "./schema.js";
import type { SourceConfig } from "./types.js";

/** One converted source with the key and origin to blame in later checks. */
export interface SourceEntry {
  readonly config: SourceConfig;
  readonly key: string;
  readonly origin: Origin;
}

// Sources come as a YAML list of mappings, or as text `name=path,name2=path2`
// (PVJ_SOURCES, a string flag), or as a flag list of `name=path` strings.
export function convertSources(c: Candidate | null, report: Reporter): SourceEntry[] {
  if (c === null || c.value === null) return [];
  let raw: unknown = c.value;
  if (typeof raw === "string" && c.text) raw = raw.split(",").filter((s) => s.trim() !== "");
  if (!Array.isArray(raw)) {
    return report.fail(
      "sources",
      c.origin,
      `expected a list of {name, path}, got ${describe(raw)}`,
    );
  }
  const seen = new Map<string, string>();
  return raw.map((item: unknown, i): SourceEntry => {
    const key = `sources[${i}]`;
    let entry: unknown = item;
    if (typeof item === "string" && c.origin.kind !== "file") {
      const eq = item.indexOf("=");
      if (eq < 0) report.fail(key, c.origin, `${describe(item)} is not name=path`);
      entry = { name: item.slice(0, eq).trim(), path: item.slice(eq + 1).trim() };
    }
    if (!isMapping(entry)) {
      return report.fail(
        key,
        c.origin,
        `expected a mapping with name and path, got ${describe(item)}`,
      );
    }
    for (const k of Object.keys(entry)) {
      if (!(k in SOURCE_FIELDS)) {
        report.fail(
          `${key}.${k}`,
          c.origin,
          `unknown key${didYouMean(k, Object.keys(SOURCE_FIELDS))}`,
        );
      }
    }
    const part = (k: keyof typeof SOURCE_FIELDS, value: unknown): Candidate => ({
      key: `${key}.${k}`,
      value,
      origin: c.origin,
      text: false,
    });
    if (entry.name === undefined) report.fail(`${key}.name`, c.origin, "is required");
    if (entry.path === undefined) report.fail(`${key}.path`, c.origin, "is required");
    const name = convert(
      SOURCE_FIELDS.name.type,
      part("name", entry.name),
      false,
      report,
    ) as string;
    if (!SOURCE_NAME_RE.test(name)) {
      report.fail(
        `${key}.name`,
        c.origin,
        `${describe(name)} must match [a-z0-9-]+ (it names a directory in restores)`,
      );
    }
    const previous = seen.get(name);
    if (previous !== undefined) {
      report.fail(`${key}.name`, c.origin, `${describe(name)} is already used by ${previous}`);
    }
    seen.set(name, key);
    const sourcePath = convert(
      SOURCE_FIELDS.path.type,
      part("path", entry.path),
      false,
      report,
    ) as string;
    const ignore = convert(
      SOURCE_FIELDS.ignore.type,
      part("ignore", entry.ignore ?? []),
      false,
      report,
    ) as readonly string[];
    const mountPoint =
      entry.mountPoint === undefined
        ? null
        : (convert(
            SOURCE_FIELDS.mountPoint.type,
            part("mountPoint", entry.mountPoint),
            false,
            report,
          ) as string);
    return {
      config: { name, path: sourcePath, ignore, mountPoint },
      key: `${key}.path`,
      origin: c.origin,
    };
  });
}
