/**
 * Where a replica's change stream comes from. One implementation today (HTTP
 * from a sidecar, http-source.ts); a replicated log such as NATS JetStream can
 * implement the same interface when a deployment outgrows one link.
 */
import type { StreamMessage } from "./wire.js";

/** A source of journal records for a replica. */
export interface StreamSource {
  /** Opens the stream at `from` (the first seq the reader lacks). Ends when the connection does. */
  open(from: number, signal: AbortSignal): AsyncIterable<StreamMessage>;
  /** Tells the source that everything up to `seq` is durable at the reader. */
  ack(seq: number): Promise<void>;
  /** Human-readable location, for logs and status. */
  readonly description: string;
}
