/**
 * Pure: turns the three inputs (parsed YAML, environment, CLI flags) into one
 * winning raw value per key, with its origin, applying the precedence
 * flag > env > file (defaults are applied by the validator). Unknown keys,
 * unknown PVJ_ variables and unknown flags are rejected here.
 */
import path from "node:path";
import { didYouMean, type FileLayer, type Origin, type Reporter } from "./report.js";
import {
  ENV_ALLOWLIST,
  FIELDS,
  FIELDS_BY_ENV,
  FIELDS_BY_ID,
  fieldId,
  SECTIONS,
  SOURCES_ENV,
  SOURCES_FLAG,
} from "./schema.js";

/** A raw value before conversion: the key to name in messages, the value, where it came from. */
export interface Candidate {
  readonly key: string;
  readonly value: unknown;
  readonly origin: Origin;
  /** True for env values and string flags: parse "5", "true", "a,b" from text. */
  readonly text: boolean;
}

/** The winning raw values. */
export interface Layers {
  /** By dotted field id (`api.listen`). */
  readonly fields: ReadonlyMap<string, Candidate>;
  /** The whole source list from the highest layer that set it, or null. */
  readonly sources: Candidate | null;
  /** Whether any layer mentions the replica section (it is optional). */
  readonly replicaPresent: boolean;
}

/** Everything the loader read, as plain data. */
export interface RawInputs {
  readonly file: FileLayer | null;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly flags: Readonly<Record<string, unknown>>;
  readonly cwd: string;
}

/** Merges file, env and flags (in rising precedence) into one candidate per key. */
export function collectLayers(inputs: RawInputs, report: Reporter): Layers {
  const fields = new Map<string, Candidate>();
  let sources: Candidate | null = null;
  let replicaPresent = false;

  const set = (id: string, candidate: Candidate): void => {
    fields.set(id, candidate);
    if (id.startsWith("replica.")) replicaPresent = true;
  };

  if (inputs.file !== null) {
    const file = inputs.file;
    const origin: Origin = { kind: "file", name: "", baseDir: path.dirname(file.path) };
    const doc = file.data ?? {};
    if (!isMapping(doc)) {
      report.fail("(top level)", origin, "expected a mapping of sections (sources, journal, ...)");
    }
    for (const [name, value] of Object.entries(doc)) {
      if (name === "sources") {
        sources = { key: "sources", value, origin, text: false };
      } else if ((SECTIONS as readonly string[]).includes(name)) {
        // `replica:` with nothing under it reads as null: treat as absent.
        if (value === null || value === undefined) continue;
        walkSection(name, "", value, origin, report, set);
      } else {
        report.fail(name, origin, `unknown section${didYouMean(name, ["sources", ...SECTIONS])}`);
      }
    }
  }

  const envOrigin = (name: string): Origin => ({ kind: "env", name, baseDir: inputs.cwd });
  for (const [name, value] of Object.entries(inputs.env)) {
    if (!name.startsWith("PVJ_") || value === undefined || ENV_ALLOWLIST.has(name)) continue;
    if (name === SOURCES_ENV) {
      // Empty values are what unset variables become in many templating tools.
      if (value !== "") sources = { key: "sources", value, origin: envOrigin(name), text: true };
      continue;
    }
    const field = FIELDS_BY_ENV.get(name);
    if (field === undefined) {
      // origin null: the key already is the variable's name.
      report.fail(
        name,
        null,
        `unknown environment variable${didYouMean(name, [SOURCES_ENV, ...FIELDS_BY_ENV.keys()])}`,
        "every PVJ_ variable must name a config key: PVJ_<SECTION>_<KEY>",
      );
    }
    if (value === "") continue;
    set(fieldId(field), { key: fieldId(field), value, origin: envOrigin(name), text: true });
  }

  for (const [name, value] of Object.entries(inputs.flags)) {
    // Commander reports options that were not given as undefined.
    if (value === undefined) continue;
    const origin: Origin = { kind: "flag", name, baseDir: inputs.cwd };
    const text = typeof value === "string";
    if (name === SOURCES_FLAG) {
      sources = { key: "sources", value, origin, text };
    } else if (FIELDS_BY_ID.has(name)) {
      set(name, { key: name, value, origin, text });
    } else {
      report.fail(name, null, `unknown flag key${didYouMean(name, FIELDS_BY_ID.keys())}`);
    }
  }

  return { fields, sources, replicaPresent };
}

// Walks one section (or a nested group like checkpoints.hooks) of the YAML.
function walkSection(
  section: string,
  prefix: string,
  value: unknown,
  origin: Origin,
  report: Reporter,
  set: (id: string, candidate: Candidate) => void,
): void {
  const here = `${section}${prefix}`;
  if (!isMapping(value)) {
    report.fail(here, origin, `expected a mapping of keys, got ${describe(value)}`);
  }
  for (const [key, child] of Object.entries(value)) {
    const id = `${here}.${key}`;
    if (FIELDS_BY_ID.has(id)) {
      set(id, { key: id, value: child, origin, text: false });
    } else if (FIELDS.some((f) => fieldId(f).startsWith(`${id}.`))) {
      walkSection(section, `${prefix}.${key}`, child, origin, report, set);
    } else {
      const siblings = FIELDS.map(fieldId)
        .filter((f) => f.startsWith(`${here}.`))
        .map((f) => f.slice(here.length + 1).split(".")[0]!);
      report.fail(id, origin, `unknown key${didYouMean(key, siblings)}`);
    }
  }
}

/** True for a plain YAML mapping (not null, not an array). */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Short description of a raw value for messages: `"abc"`, `42`, `a list`, `null`. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing (null)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return JSON.stringify(value);
}
