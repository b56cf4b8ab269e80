import { readFileSync } from "node:fs";

/**
 * The package version, read from package.json next to dist/ (and src/ under
 * tsx): both this file's compiled and source locations are two levels deep.
 */
export function packageVersion(): string {
  const url = new URL("../../package.json", import.meta.url);
  const parsed = JSON.parse(readFileSync(url, "utf8")) as { version?: unknown };
  return typeof parsed.version === "string" ? parsed.version : "0.0.0";
}
