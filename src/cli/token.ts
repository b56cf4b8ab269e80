import { readFileSync } from "node:fs";
import type { ApiConfig } from "../config/types.js";
import { ConfigError } from "../errors.js";
import type { ApiTokens } from "../http/auth.js";

/**
 * Reads a bearer token file (a mounted Kubernetes Secret, typically). One
 * trailing newline is stripped because `echo token > file` and most secret
 * tooling add one; anything else is part of the token. An unreadable or empty
 * file is a ConfigError naming `key` (a config key such as api.tokenFile, or a
 * flag such as --token-file), so the CLI exits 2. The token never appears in
 * messages.
 */
export function readTokenFile(file: string, key: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ConfigError(`cannot read the token file (${reason})`, { key, file }, err);
  }
  const token = text.replace(/\r?\n$/, "");
  if (token.trim() === "") throw new ConfigError("the token file is empty", { key, file });
  return token;
}

/**
 * Reads the API's role tokens (api.tokenFile, api.readTokenFile,
 * api.replicaTokenFile); null when no operator token is configured. Two roles
 * sharing one token would make the weaker one the stronger: refused (exit 2).
 */
export function readApiTokens(api: ApiConfig): ApiTokens | null {
  if (api.tokenFile === null) return null;
  const operator = readTokenFile(api.tokenFile, "api.tokenFile");
  const read =
    api.readTokenFile === null ? null : readTokenFile(api.readTokenFile, "api.readTokenFile");
  const replica =
    api.replicaTokenFile === null
      ? null
      : readTokenFile(api.replicaTokenFile, "api.replicaTokenFile");
  const same = (a: string | null, b: string | null) => a !== null && a === b;
  if (same(read, operator) || same(replica, operator) || same(read, replica)) {
    throw new ConfigError("two roles share one token; give each role its own token file", {
      key:
        same(replica, operator) || same(read, replica)
          ? "api.replicaTokenFile"
          : "api.readTokenFile",
    });
  }
  return { operator, read, replica };
}
