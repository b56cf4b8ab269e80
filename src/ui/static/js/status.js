/**
 * The header (role, capture mode, ready, newest checkpoint, journal size and
 * limit, lag, degraded state with its error), the replicas panel, and on a
 * replica: its mirror, promoted state and failover behind a confirmation
 * that names the point.
 */
import { api } from "./api.js";
import { bytes, describePoint, el, pointBody, seconds, setChildren, time } from "./format.js";

const $ = (id) => document.getElementById(id);

function item(term, value, bad = false) {
  return el(
    "div",
    {},
    el("dt", { text: term }),
    el("dd", { class: bad ? "bad" : "", text: value }),
  );
}

/** Renders the header summary from GET /v1/status. */
export function renderHeader(s) {
  const cap = s.capture ?? null;
  const cp = s.lastCheckpoint;
  const j = s.journal ?? {};
  const degraded = [];
  if (cap?.degraded) degraded.push(`capture failing: ${cap.lastError?.message ?? "unknown error"}`);
  if (j.nearLimit) degraded.push("journal near its size limit");
  if (s.replica?.lastError && !s.replica.connected)
    degraded.push(`stream: ${s.replica.lastError.message}`);
  const items = [
    item("Role", s.role),
    cap?.mode ? item("Capture", cap.mode) : null,
    item("Ready", s.ready === false ? "no" : "yes", s.ready === false),
    item(
      "Newest checkpoint",
      cp ? `${cp.id} · ${time(Date.parse(cp.ts))} · ${cp.consistency}` : "none",
    ),
    item(
      "Journal",
      `${bytes(j.bytes)}${j.sizeLimit ? ` of ${bytes(j.sizeLimit)}` : " (no limit)"}`,
      j.nearLimit,
    ),
    item(
      s.role === "replica" ? "Replication lag" : "Capture lag",
      seconds(s.lagSeconds),
      s.lagSeconds > 60,
    ),
    s.role === "sidecar" ? item("Replicas", String(s.replicas?.length ?? 0)) : null,
    item(
      "State",
      degraded.length ? `⚠ degraded: ${degraded.join("; ")}` : "ok",
      degraded.length > 0,
    ),
  ];
  setChildren($("summary"), items);
}

/** Where each replica is on the timeline: [{name, tsMs}]. */
export function replicaMarks(s, now) {
  if (s.role === "sidecar")
    return (s.replicas ?? []).map((r) => ({
      name: r.id,
      tsMs: r.pendingSince ? Date.parse(r.pendingSince) : now,
    }));
  if (s.replica) return [{ name: "mirror", tsMs: now - (s.replica.lagSeconds ?? 0) * 1000 }];
  return [];
}

/** The replicas panel and the failover control. */
export class ReplicasPanel {
  constructor({ state, refresh }) {
    this.state = state;
    this.refresh = refresh;
    $("failover-btn").addEventListener("click", () => this.confirm());
    $("confirm-cancel").addEventListener("click", () => $("confirm").close());
    $("confirm-ok").addEventListener("click", () => this.failover());
  }

  render(s) {
    const out = $("replicas");
    if (s.role === "sidecar") {
      const rs = s.replicas ?? [];
      setChildren(
        out,
        rs.length === 0
          ? el("p", { class: "muted", text: "No replica has connected to this sidecar." })
          : el(
              "table",
              { class: "grid" },
              el(
                "thead",
                {},
                el(
                  "tr",
                  {},
                  [
                    "Replica",
                    "Acknowledged seq",
                    "Behind (records)",
                    "Lag",
                    "Connected",
                    "Last seen",
                    "Oldest unacknowledged",
                  ].map((h) => el("th", { text: h })),
                ),
              ),
              el(
                "tbody",
                {},
                rs.map((r) =>
                  el(
                    "tr",
                    {},
                    el("td", { text: r.id }),
                    el("td", { text: String(r.ackedSeq) }),
                    el("td", { text: String(r.behindSeq) }),
                    el("td", {
                      text: r.pendingSince
                        ? seconds((Date.now() - Date.parse(r.pendingSince)) / 1000)
                        : "caught up",
                    }),
                    el("td", {
                      class: r.connected ? "ok" : "error",
                      text: r.connected ? "✓ yes" : "✗ no",
                    }),
                    el("td", { text: r.lastSeen }),
                    el("td", { text: r.pendingSince ?? "–" }),
                  ),
                ),
              ),
            ),
      );
      $("failover").hidden = true;
      return;
    }
    const r = s.replica ?? {};
    setChildren(
      out,
      el(
        "dl",
        { class: "kv" },
        [
          ["Source", r.source],
          ["Connected", r.connected ? "✓ yes" : "✗ no"],
          ["Mirror", `${r.mirrorDir ?? "?"} at seq ${r.mirrorSeq}`],
          ["Journal seq", `${r.lastSeq} of ${r.sourceLastSeq ?? "?"} at the source`],
          ["Lag", seconds(r.lagSeconds)],
          ["Promoted", r.promoted ? "yes — no longer following" : "no"],
          ["Last error", r.lastError ? `${r.lastError.message} (${r.lastError.at})` : "none"],
        ].map(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v ?? "–") })]),
      ),
    );
    $("failover").hidden = false;
    $("failover-btn").disabled = r.promoted === true;
  }

  confirm() {
    const { point } = this.state();
    if (!point) {
      $("failover-msg").textContent = "Pick a point first (a checkpoint or a time).";
      return;
    }
    if (point.kind === "seq") {
      $("failover-msg").textContent =
        "BAD_REQUEST: failover takes a checkpoint or a time, not a seq";
      return;
    }
    $("confirm-text").textContent =
      `Fail over to ${describePoint(point)}? The replica stops following its sidecar, ` +
      "materialises this point into its mirror and is marked promoted. This cannot be undone from the console.";
    $("confirm").showModal();
  }

  async failover() {
    $("confirm").close();
    const { point } = this.state();
    try {
      const r = await api("/failover", { method: "POST", body: pointBody(point) });
      $("failover-msg").textContent =
        `Promoted at ${r.promotedAt}: seq ${r.point.seq} in ${r.target} (${r.method}, RTO ${seconds(r.rtoSeconds)}).`;
      await this.refresh();
    } catch (err) {
      $("failover-msg").textContent = err.message;
    }
  }
}
