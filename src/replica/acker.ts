/**
 * Acknowledges durable positions to the sidecar, coalescing: one request in
 * flight, the newest position next. A failed ack is never silent: the sidecar
 * keeps every unacknowledged record, so an ack that keeps failing (a rotated
 * token answering 401, say) fills the sidecar's disk. Each failure is logged
 * (error for auth refusals, warn otherwise), counted, and shown in the
 * replica's status as `ack.lastError` until an ack succeeds again.
 */
import { ErrorCode, PvjError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import type { StreamSource } from "../stream/source.js";

/** The ack side of the replica's status. */
export interface AckStatus {
  /** Newest seq the sidecar accepted an ack for (this process). */
  readonly ackedSeq: number;
  readonly failures: number;
  /** The newest failure, cleared by the next successful ack. */
  readonly lastError: {
    readonly code: string;
    readonly message: string;
    readonly at: string;
  } | null;
}

/** Sends acks for a replica. */
export class Acker {
  private inFlight: Promise<void> | null = null;
  private wanted = 0;
  private acked = 0;
  private failures = 0;
  private lastError: AckStatus["lastError"] = null;

  constructor(
    private readonly source: StreamSource,
    private readonly log: Logger,
    private readonly onFailure: (code: string) => void = () => {},
  ) {}

  /** Asks for `seq` to be acknowledged soon. */
  ack(seq: number): void {
    this.wanted = Math.max(this.wanted, seq);
    if (this.inFlight) return;
    this.inFlight = this.run().finally(() => {
      this.inFlight = null;
    });
  }

  /** Waits for the request in flight, if any. */
  async idle(): Promise<void> {
    if (this.inFlight) await this.inFlight.catch(() => undefined);
  }

  status(): AckStatus {
    return { ackedSeq: this.acked, failures: this.failures, lastError: this.lastError };
  }

  private async run(): Promise<void> {
    while (this.wanted > 0) {
      const seq = this.wanted;
      this.wanted = 0;
      try {
        await this.source.ack(seq);
        this.acked = Math.max(this.acked, seq);
        if (this.lastError !== null)
          this.log.info({ seq, failures: this.failures }, "ack accepted again");
        this.lastError = null;
      } catch (err) {
        const code = err instanceof PvjError ? err.code : ErrorCode.IO_ERROR;
        const message = err instanceof Error ? err.message : String(err);
        this.failures += 1;
        this.lastError = { code, message, at: new Date().toISOString() };
        this.onFailure(code);
        const refused = code === ErrorCode.UNAUTHORIZED || code === ErrorCode.FORBIDDEN;
        this.log[refused ? "error" : "warn"](
          { err, seq, code, failures: this.failures },
          refused
            ? "the sidecar refused the ack (check replica.tokenFile): it keeps every unacknowledged record"
            : "ack failed; the next ack carries the position",
        );
      }
    }
  }
}
