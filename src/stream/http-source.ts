/** The change stream over HTTP(S) from a sidecar: the one StreamSource implementation today. */
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { CorruptionError, ErrorCode, errorBodyOf, PvjError } from "../errors.js";
import type { StreamSource } from "./source.js";
import { FrameDecoder, type StreamMessage } from "./wire.js";

/** Options of an HttpStreamSource. */
export interface HttpStreamOptions {
  /** Sidecar base URL. */
  readonly source: string;
  readonly replicaId: string;
  readonly token: string | null;
  /** PEM of the CA that signed the sidecar's certificate; null = system CAs. */
  readonly ca: Buffer | null;
  /** Abandon an ack after this many ms (default DEFAULT_ACK_TIMEOUT_MS). */
  readonly ackTimeoutMs?: number;
}

/**
 * 10 s: an ack is a tiny POST; one that hangs (a stalled sidecar, a dead
 * NAT entry) must fail and be retried with the next position, not block
 * every later ack forever.
 */
export const DEFAULT_ACK_TIMEOUT_MS = 10_000;

/** Reads a CA file for the stream (config replica.caFile). */
export function readCa(file: string | null): Buffer | null {
  return file === null ? null : readFileSync(file);
}

/** Pulls the stream from a sidecar over HTTP(S), verifying its certificate. */
export class HttpStreamSource implements StreamSource {
  readonly description: string;

  constructor(private readonly opts: HttpStreamOptions) {
    this.description = opts.source;
  }

  private send(
    method: string,
    path: string,
    body: Buffer | null,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.opts.source);
    const headers: Record<string, string> = {};
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (body) headers["content-type"] = "application/json";
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, {
      method,
      headers,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
      ...(signal ? { signal } : {}),
    });
    return new Promise((resolve, reject) => {
      req.on("response", resolve);
      req.on("error", reject);
      if (body) req.write(body);
      req.end();
    });
  }

  private async failure(res: IncomingMessage): Promise<PvjError> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const err = errorBodyOf(Buffer.concat(chunks).toString("utf8"));
    // Not the contract's body (a proxy's page): the status line says what there is.
    const code = err.code || (res.statusCode === 401 ? ErrorCode.UNAUTHORIZED : ErrorCode.IO_ERROR);
    const message = err.message || `HTTP ${res.statusCode}`;
    return new PvjError(code, `${this.opts.source} refused the stream: ${message}`);
  }

  async *open(from: number, signal: AbortSignal): AsyncGenerator<StreamMessage> {
    const path = `/v1/stream?from=${from}&replica=${encodeURIComponent(this.opts.replicaId)}`;
    const res = await this.send("GET", path, null, signal);
    if (res.statusCode !== 200) throw await this.failure(res);
    const decoder = new FrameDecoder();
    for await (const chunk of res) {
      for (const msg of decoder.push(chunk as Buffer)) yield msg;
    }
    if (decoder.pending > 0)
      throw new CorruptionError(
        `stream from ${this.opts.source} ended inside a frame (${decoder.pending} bytes)`,
      );
  }

  async ack(seq: number): Promise<void> {
    const timeoutMs = this.opts.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await this.send(
        "POST",
        `/v1/replicas/${encodeURIComponent(this.opts.replicaId)}/ack`,
        Buffer.from(JSON.stringify({ seq })),
        signal,
      );
      if (res.statusCode !== 200) throw await this.failure(res);
      res.resume();
    } catch (err) {
      if (signal.aborted && !(err instanceof PvjError))
        throw new PvjError(
          ErrorCode.IO_ERROR,
          `ack to ${this.opts.source} timed out after ${timeoutMs} ms`,
          {},
          err,
        );
      throw err;
    }
  }
}
