/**
 * The `stream:` section's keys (design.md "Stream transport"): which
 * transport carries the change stream, and how to reach NATS JetStream.
 * Kept beside schema.ts so the table stays one screen per concern.
 */
import type { FieldSpec } from "./field-types.js";

/** Stream transports. */
export const STREAM_TRANSPORTS = ["http", "jetstream"] as const;

/** JetStream names (streams, consumers, buckets): no dots, spaces, wildcards or slashes. */
export const NATS_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Keys of the `stream` section, in the order of the commented default file. */
export const STREAM_FIELDS: readonly FieldSpec[] = [
  {
    section: "stream",
    key: "transport",
    type: { kind: "enum", values: STREAM_TRANSPORTS },
    default: "http",
    doc: "http (replicas pull GET /v1/stream from the sidecar) or jetstream (through a NATS JetStream cluster)",
  },
  {
    section: "stream",
    key: "nats.servers",
    type: { kind: "list<string>" },
    default: [],
    doc: "jetstream: NATS server URLs (nats://host:4222 or tls://host:4222); required with jetstream",
  },
  {
    section: "stream",
    key: "nats.stream",
    type: { kind: "string" },
    default: "pvjournal",
    doc: "jetstream: the journal's stream, created if missing; one journal per stream ([A-Za-z0-9_-])",
  },
  {
    section: "stream",
    key: "nats.replicas",
    type: { kind: "int", min: 1, max: 5 },
    default: 3,
    doc: "jetstream: the stream's replication factor in the NATS cluster, 1..5",
  },
  {
    section: "stream",
    key: "nats.tokenFile",
    type: { kind: "path" },
    default: null,
    nullable: true,
    doc: "jetstream: file holding the NATS token; default none",
  },
  {
    section: "stream",
    key: "nats.caFile",
    type: { kind: "path" },
    default: null,
    nullable: true,
    doc: "jetstream: CA file that verifies the NATS servers' certificates (TLS); default system CAs",
  },
];
