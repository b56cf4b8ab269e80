/**
 * How config problems are reported: every message starts with the config file
 * (as the user named it) and the dotted key, and says where a value came from
 * when it was not the file, so an operator knows what to edit:
 *   config/pvjournal.yaml: journal.retention: "-5s" is not a valid duration ...
 *   config/pvjournal.yaml: api.listen (from env PVJ_API_LISTEN): ...
 */
import { ConfigError } from "../errors.js";

/** Where a value came from; `baseDir` is what relative paths in it resolve against. */
export interface Origin {
  readonly kind: "file" | "env" | "flag" | "default";
  /** Env var name or flag key; empty for file and default. */
  readonly name: string;
  readonly baseDir: string;
}

/** The config file being loaded: absolute path, how the user named it, parsed YAML. */
export interface FileLayer {
  readonly path: string;
  readonly display: string;
  readonly data: unknown;
}

/** Builds and throws ConfigErrors that name the file and the key. */
export class Reporter {
  constructor(readonly file: FileLayer | null) {}

  /** Throws a ConfigError: `<file>: <key>[ (from env X)]: <message>`. */
  fail(key: string, origin: Origin | null, message: string, hint?: string): never {
    const where = this.file?.display ?? "(no config file)";
    const from =
      origin?.kind === "env"
        ? ` (from env ${origin.name})`
        : origin?.kind === "flag"
          ? ` (from flag ${origin.name})`
          : "";
    const context = {
      key,
      ...(this.file === null ? {} : { file: this.file.path }),
      ...(hint === undefined ? {} : { hint }),
    };
    throw new ConfigError(`${where}: ${key}${from}: ${message}`, context);
  }
}

/** The closest candidate to a misspelt name (case-insensitive edit distance <= 3), if any. */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const candidate of candidates) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** ` (did you mean x?)` or nothing. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const best = suggest(name, candidates);
  return best === undefined ? "" : ` (did you mean ${best}?)`;
}

// Levenshtein distance; names are short, so the O(n*m) table is fine.
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = row;
  }
  return prev[b.length]!;
}
