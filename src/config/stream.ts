/**
 * Pure: builds the `stream` section of the Config and checks the rules that
 * span keys: jetstream needs servers and names NATS accepts; http needs the
 * replica's source URL.
 */
import type { Converted } from "./convert.js";
import type { Origin, Reporter } from "./report.js";
import type { Role } from "./schema.js";
import { NATS_NAME_RE } from "./schema-stream.js";
import type { StreamConfig } from "./types.js";

/** The stream section from converted values; fails the report on a broken combination. */
export function streamConfig(
  role: Role,
  replicaPresent: boolean,
  values: ReadonlyMap<string, Converted>,
  origin: (id: string) => Origin,
  report: Reporter,
): StreamConfig {
  const transport = values.get("stream.transport") as StreamConfig["transport"];
  const servers = values.get("stream.nats.servers") as readonly string[];
  const stream = values.get("stream.nats.stream") as string;
  const id = (values.get("replica.id") ?? null) as string | null;
  if (transport === "jetstream" && role !== "tool") {
    if (servers.length === 0)
      report.fail("stream.nats.servers", null, "is required with stream.transport: jetstream");
    for (const [i, s] of servers.entries()) {
      if (!/^(nats|tls):\/\/[^/\s]+$/.test(s) && !/^[^/\s:]+:\d+$/.test(s))
        report.fail(
          `stream.nats.servers[${i}]`,
          origin("stream.nats.servers"),
          `${JSON.stringify(s)} is not a NATS server (nats://host:4222, tls://host:4222 or host:4222)`,
        );
    }
  }
  if (!NATS_NAME_RE.test(stream))
    report.fail(
      "stream.nats.stream",
      origin("stream.nats.stream"),
      `${JSON.stringify(stream)} is not a JetStream name: 1..64 of A-Z a-z 0-9 _ -`,
    );
  if (id !== null && !NATS_NAME_RE.test(id))
    report.fail(
      "replica.id",
      origin("replica.id"),
      `${JSON.stringify(id)} is not a valid replica id (the durable consumer's name): 1..64 of A-Z a-z 0-9 _ -`,
    );
  if (replicaPresent && transport === "http" && values.get("replica.source") == null)
    report.fail("replica.source", null, "is required with stream.transport: http (the default)");
  return {
    transport,
    nats: {
      servers,
      stream,
      replicas: values.get("stream.nats.replicas") as number,
      tokenFile: (values.get("stream.nats.tokenFile") ?? null) as string | null,
      caFile: (values.get("stream.nats.caFile") ?? null) as string | null,
    },
  };
}
