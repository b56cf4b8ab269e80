/**
 * The NATS connection both ends of the jetstream transport use, and the
 * names and headers they agree on. The token is passed to the client only:
 * never logged, never part of an error message.
 */
import { AuthorizationError, connect, type NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, PvjError } from "../errors.js";

/** How to reach the NATS cluster (config stream.nats, with the secrets read). */
export interface NatsOptions {
  readonly servers: readonly string[];
  /** The journal's stream. */
  readonly stream: string;
  /** Replication factor of the stream and of its base bucket. */
  readonly replicas: number;
  readonly token: string | null;
  /** PEM of the CA that signed the servers' certificates; null = plain or system CAs. */
  readonly ca: string | null;
  /** A name for the connection, shown by the server (`pvjournal-sidecar`, `pvjournal-replica-ID`). */
  readonly name: string;
}

/** Message headers of a records message (journal id and the journal seqs it carries). */
export const HDR_JOURNAL = "Pvj-Journal";
export const HDR_FIRST = "Pvj-First";
export const HDR_LAST = "Pvj-Last";

/** The one subject the journal's records are published on. */
export function recordsSubject(stream: string): string {
  return `${stream}.records`;
}

/** Object Store bucket holding the base a replica bootstraps from. */
export function baseBucket(stream: string): string {
  return `${stream}-base`;
}

/** What the stream's description holds: whose history it is. */
export interface StreamIdentity {
  readonly journalId: string;
  readonly blockSize: number;
}

/** Parses the stream description written by the sidecar; null when it is not ours. */
export function parseIdentity(description: string | undefined): StreamIdentity | null {
  try {
    const v = JSON.parse(description ?? "") as Partial<StreamIdentity> & { pvjournal?: number };
    if (v.pvjournal !== 1 || typeof v.journalId !== "string" || typeof v.blockSize !== "number")
      return null;
    return { journalId: v.journalId, blockSize: v.blockSize };
  } catch {
    return null;
  }
}

/** The description a sidecar writes on the stream it creates. */
export function formatIdentity(id: StreamIdentity): string {
  return JSON.stringify({ pvjournal: 1, journalId: id.journalId, blockSize: id.blockSize });
}

/**
 * Connects, reconnecting forever once connected. A refused token or an
 * untrusted certificate is an UNAUTHORIZED error naming the servers, not the
 * secret; unreachable servers are IO_ERROR.
 */
export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: [...opts.servers],
      name: opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      ...(opts.token !== null ? { token: opts.token } : {}),
      ...(opts.ca !== null ? { tls: { ca: opts.ca } } : {}),
    });
  } catch (err) {
    throw describeConnectError(err, opts);
  }
}

function describeConnectError(err: unknown, opts: NatsOptions): PvjError {
  const where = opts.servers.join(", ");
  const msg = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : "";
  if (err instanceof AuthorizationError || /authorization/i.test(msg))
    return new PvjError(
      ErrorCode.UNAUTHORIZED,
      `NATS at ${where} refused the connection: authorization violation`,
      { hint: "check stream.nats.tokenFile (the token must match the servers' authorization)" },
    );
  const tls = `${msg} ${cause}`;
  if (/certificate|self[- ]signed|TLS|SSL|UNABLE_TO_VERIFY|DEPTH_ZERO/i.test(tls))
    return new PvjError(
      ErrorCode.UNAUTHORIZED,
      `cannot verify the NATS servers' certificate at ${where}: ${tls.trim()}`,
      { hint: "check stream.nats.caFile (the CA that signed the servers' certificates)" },
    );
  return new PvjError(ErrorCode.IO_ERROR, `cannot connect to NATS at ${where}: ${msg}`, {
    hint: "is the NATS cluster up and reachable (stream.nats.servers)?",
  });
}
