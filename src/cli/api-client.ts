/**
 * A small JSON client for the daemon API, used by the CLI's --server commands.
 * node:http(s) rather than fetch so a private CA can be trusted (--ca-file),
 * imported on the first request: every command module imports this one,
 * and loading both at start cost each CLI run ~10 ms, offline restores too.
 */
import { readFileSync } from "node:fs";
import { type ErrorCode as Code, ErrorCode, errorBodyOf, PvjError } from "../errors.js";
import { readTokenFile } from "./token.js";

/** Where and how to reach a daemon. */
export interface ApiTarget {
  readonly server: URL;
  readonly tokenFile?: string;
  readonly caFile?: string;
}

/** An API answer that was not 2xx, carrying the server's stable code. */
export class ApiError extends PvjError {
  constructor(
    readonly status: number,
    code: Code,
    message: string,
  ) {
    super(code, message);
  }
}

/** Sends one JSON request; resolves with the parsed body of a 2xx answer, throws ApiError otherwise. */
export async function apiRequest<T>(
  target: ApiTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const url = new URL(path, target.server);
  const token = target.tokenFile ? readTokenFile(target.tokenFile, "--token-file") : null;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { accept: "application/json" };
  if (payload) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const ca = target.caFile ? readFileSync(target.caFile) : undefined;
  const { request: send } =
    url.protocol === "https:" ? await import("node:https") : await import("node:http");
  return new Promise<T>((resolve, reject) => {
    const req = send(url, { method, headers, ...(ca ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          let parsed: unknown = null;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            parsed = null;
          }
          resolve(parsed as T);
          return;
        }
        const err = errorBodyOf(text);
        const code = err.code ?? (status === 401 ? ErrorCode.UNAUTHORIZED : ErrorCode.INTERNAL);
        const message =
          err.message ??
          (status === 401 ? "the daemon wants a valid token (--token-file)" : `HTTP ${status}`);
        reject(new ApiError(status, code, `${url.origin}: ${message} (${code})`));
      });
    });
    req.on("error", (err) =>
      reject(
        new PvjError(
          ErrorCode.IO_ERROR,
          `cannot reach ${url.origin}: ${err.message}`,
          { hint: "is the daemon running? check --server" },
          err,
        ),
      ),
    );
    req.setTimeout(120_000, () => req.destroy(new Error("no answer within 120 s")));
    if (payload) req.write(payload);
    req.end();
  });
}
