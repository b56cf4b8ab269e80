/** The replica's status and promotion record types, and its metric hooks. */
import type { AckStatus } from "./acker.js";

/** The replica's state for /v1/status, /readyz and metrics. */
export interface ReplicaStatus {
  readonly connected: boolean;
  /** Readiness: caught up once, or the sidecar unreachable for READY_WITHOUT_SOURCE_MS. */
  readonly ready: boolean;
  /** Caught up with the sidecar at least once since start. */
  readonly caughtUp: boolean;
  readonly sourceLastSeq: number | null;
  readonly lastSeq: number;
  readonly mirrorSeq: number;
  readonly lagSeconds: number;
  readonly promoted: boolean;
  /** When and at which point a failover promoted this replica; null while it follows. */
  readonly promotion: Promotion | null;
  /** Set when the promotion record does not parse (reported, never replaced). */
  readonly promotionError?: string;
  readonly lastError: { readonly message: string; readonly at: string } | null;
  readonly reconnects: number;
  /** Acks to the sidecar: failures and the newest one (ack.lastError). */
  readonly ack: AckStatus;
  /** Stream sessions that failed; `corrupt` counts bad data apart from lost connections. */
  readonly stream: {
    readonly lastError: {
      readonly message: string;
      readonly at: string;
      readonly corrupt: boolean;
    } | null;
    readonly errors: number;
    readonly corrupt: number;
  };
}

/** Callbacks for the daemon's metrics. */
export interface ReplicaHooks {
  /** An ack the sidecar did not accept (code: the error code). */
  readonly onAckFailure?: (code: string) => void;
  /** A stream session that failed: corrupt data or a lost connection. */
  readonly onStreamError?: (kind: "corrupt" | "connection") => void;
}

/** What a failover recorded (journal meta "promoted", JSON). */
export interface Promotion {
  /** ISO time of the promotion. */
  readonly at: string;
  /** Journal position the promoted copy shows. */
  readonly seq: number;
  readonly checkpoint: number | null;
  /** Where the point was materialised (the mirror, or a failover target). */
  readonly target: string;
}
