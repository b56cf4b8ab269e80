import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.js";

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
