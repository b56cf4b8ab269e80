/**
 * The sidecar's view of its replicas: what each has acknowledged as durable.
 * Persisted in the journal index (meta `replica:<id>`), so retention keeps
 * every unacknowledged record across sidecar restarts too.
 */
import type { Journal } from "../journal/journal.js";

/** One replica as the sidecar knows it. */
export interface ReplicaState {
  readonly id: string;
  ackedSeq: number;
  lastSeen: number;
  connected: number;
  /** The newest ack this sidecar refused (401, 403, 400...), cleared by an accepted one. */
  lastAckError?: { readonly status: number; readonly at: string } | null;
}

/** Tracks replicas' acknowledged positions. */
export class ReplicaTracker {
  private readonly replicas = new Map<string, ReplicaState>();

  constructor(private readonly journal: Journal) {
    for (const row of journal.index.metaWithPrefix("replica:")) {
      const st = JSON.parse(row.value) as { ackedSeq: number; lastSeen: number };
      const id = row.key.slice("replica:".length);
      this.replicas.set(id, { id, ackedSeq: st.ackedSeq, lastSeen: st.lastSeen, connected: 0 });
    }
  }

  private get(id: string): ReplicaState {
    let r = this.replicas.get(id);
    if (!r) {
      r = { id, ackedSeq: 0, lastSeen: Date.now(), connected: 0 };
      this.replicas.set(id, r);
    }
    return r;
  }

  /** A replica connected (or reconnected) asking for records from `from`: everything before is durable there. */
  connected(id: string, from: number): ReplicaState {
    const r = this.get(id);
    r.connected += 1;
    this.ack(id, from - 1);
    return r;
  }

  /** A replica's stream ended. */
  disconnected(id: string): void {
    const r = this.replicas.get(id);
    if (r) r.connected = Math.max(0, r.connected - 1);
  }

  /**
   * Notes a refused ack of a known replica (shown as replicas[].lastAckError):
   * a replica whose token no longer matches keeps this sidecar from folding
   * anything. Unknown ids are ignored, so that requests without a valid token
   * cannot add replicas (each would hold retention).
   */
  ackRefused(id: string, status: number): void {
    const r = this.replicas.get(id);
    if (r) r.lastAckError = { status, at: new Date().toISOString() };
  }

  /** Records an acknowledgement (never moves backwards, never past the journal's end). */
  ack(id: string, seq: number): void {
    const r = this.get(id);
    r.lastSeen = Date.now();
    r.lastAckError = null;
    const s = Math.min(seq, this.journal.lastSeq);
    if (s <= r.ackedSeq) return;
    r.ackedSeq = s;
    this.journal.index.setMeta(
      `replica:${id}`,
      JSON.stringify({ ackedSeq: r.ackedSeq, lastSeen: r.lastSeen }),
    );
  }

  /** Newest seq every known replica has: retention keeps everything after it. Undefined without replicas. */
  keepAfterSeq(): number | undefined {
    if (this.replicas.size === 0) return undefined;
    return Math.min(...[...this.replicas.values()].map((r) => r.ackedSeq));
  }

  /** Status rows: who is behind by how much. */
  list(): {
    id: string;
    ackedSeq: number;
    behindSeq: number;
    connected: boolean;
    lastSeen: string;
    pendingSince: string | null;
    lastAckError: { readonly status: number; readonly at: string } | null;
  }[] {
    return [...this.replicas.values()].map((r) => {
      const since =
        r.ackedSeq < this.journal.lastSeq ? this.journal.index.tsAfterSeq(r.ackedSeq) : null;
      return {
        id: r.id,
        ackedSeq: r.ackedSeq,
        behindSeq: this.journal.lastSeq - r.ackedSeq,
        connected: r.connected > 0,
        lastSeen: new Date(r.lastSeen).toISOString(),
        pendingSince: since === null ? null : new Date(since).toISOString(),
        lastAckError: r.lastAckError ?? null,
      };
    });
  }
}
