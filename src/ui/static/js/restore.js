/**
 * The restore flow: the picked point, its diff against now or another point
 * (/v1/diff), a target below restore.allowedRoots, then POST /v1/restores and
 * progress until done, failed or cancelled (DELETE /v1/restores/:id).
 */
import { api } from "./api.js";
import { bytes, describePoint, el, pointBody, pointParam, setChildren } from "./format.js";

const $ = (id) => document.getElementById(id);
/** Progress polling interval: 250 ms reads as live without loading the daemon. */
const POLL_MS = 250;
/** Longest list of paths shown per kind of change. */
const MAX_PATHS = 200;

/** Parses what an operator types as a point: cp:ID, seq:N, a bare number (checkpoint) or a time. */
export function parsePointText(text, checkpoints) {
  const s = text.trim();
  const cpMatch = /^(?:cp:)?(\d+)$/.exec(s);
  if (cpMatch) {
    const id = Number(cpMatch[1]);
    const cp = checkpoints.find((c) => c.id === id);
    if (!cp) throw new Error(`CHECKPOINT_NOT_FOUND: no checkpoint ${id} in the window`);
    return { kind: "checkpoint", cp };
  }
  const seq = /^seq:(\d+)$/.exec(s);
  if (seq) return { kind: "seq", seq: Number(seq[1]) };
  const at = Date.parse(s);
  if (Number.isNaN(at) || !/(Z|[+-]\d\d:?\d\d)$/.test(s))
    throw new Error("BAD_REQUEST: a point is cp:ID, seq:N or an ISO 8601 time with a zone");
  return { kind: "time", at };
}

/** The restore panel; `state()` gives the picked point, the checkpoints and the status. */
export class RestorePanel {
  constructor({ state, pick }) {
    this.state = state;
    this.pick = pick;
    this.job = null;
    this.timer = null;
    this.roots = null;
    $("point-form").addEventListener("submit", (e) => {
      e.preventDefault();
      try {
        this.pick(parsePointText($("point-input").value, this.state().checkpoints));
      } catch (err) {
        setChildren($("diff"), el("p", { class: "error", role: "alert", text: err.message }));
      }
    });
    $("diff-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.diff();
    });
    $("restore-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.start();
    });
    $("restore-cancel").addEventListener("click", () => this.cancel());
  }

  /** Loads restore.allowedRoots and proposes a target below the first. */
  async loadPolicy() {
    const { allowedRoots } = await api("/restore-policy");
    this.roots = allowedRoots;
    $("roots").textContent =
      allowedRoots === null ? "anywhere" : allowedRoots.length ? allowedRoots.join(", ") : "none";
    if (!$("target").value && allowedRoots?.length)
      $("target").value = `${allowedRoots[0].replace(/\/$/, "")}/restore-${stamp()}`;
  }

  /** Called when a point is picked. */
  picked(point) {
    $("point").textContent = describePoint(point);
    setChildren($("diff"));
    if (this.roots?.length && !this.job)
      $("target").value = `${this.roots[0].replace(/\/$/, "")}/restore-${stamp()}`;
  }

  async diff() {
    const { point, status } = this.state();
    const out = $("diff");
    if (!point) {
      setChildren(out, el("p", { class: "error", text: "Pick a point first." }));
      return;
    }
    let to = `seq:${status.lastSeq}`;
    const typed = $("diff-to").value.trim();
    try {
      if (typed) to = pointParam(parsePointText(typed, this.state().checkpoints));
      setChildren(out, el("p", { class: "muted", text: "Computing the diff…" }));
      const q = new URLSearchParams({ from: pointParam(point), to });
      const d = await api(`/diff?${q}`);
      setChildren(out, renderDiff(d, typed ? typed : "now"));
    } catch (err) {
      setChildren(out, el("p", { class: "error", role: "alert", text: err.message }));
    }
  }

  async start() {
    const { point } = this.state();
    const out = $("restore-progress");
    if (!point) {
      setChildren(out, el("p", { class: "error", text: "Pick a point first." }));
      return;
    }
    try {
      const body = { ...pointBody(point), target: $("target").value.trim() };
      this.job = await api("/restores", { method: "POST", body });
      $("restore-btn").disabled = true;
      $("restore-cancel").hidden = false;
      this.render();
      this.poll();
    } catch (err) {
      setChildren(out, el("p", { class: "error", role: "alert", text: err.message }));
    }
  }

  poll() {
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      try {
        this.job = await api(`/restores/${this.job.id}`);
        this.render();
        if (this.job.state === "queued" || this.job.state === "running") this.poll();
        else this.finish();
      } catch (err) {
        setChildren($("restore-progress"), el("p", { class: "error", text: err.message }));
        this.finish();
      }
    }, POLL_MS);
  }

  async cancel() {
    if (!this.job) return;
    clearTimeout(this.timer);
    try {
      this.job = await api(`/restores/${this.job.id}`, { method: "DELETE" });
      this.render();
    } catch (err) {
      setChildren($("restore-progress"), el("p", { class: "error", text: err.message }));
    }
    this.finish();
  }

  finish() {
    $("restore-btn").disabled = false;
    $("restore-cancel").hidden = true;
    this.job = null;
  }

  render() {
    const j = this.job;
    const total = j.bytesTotal || 0;
    const state =
      j.state === "done"
        ? el("strong", { class: "ok", text: "✓ done" })
        : j.state === "failed"
          ? el("strong", { class: "error", text: "✗ failed" })
          : el("strong", { text: j.state });
    setChildren(
      $("restore-progress"),
      el(
        "p",
        { id: "restore-state", "data-state": j.state },
        `Restore ${j.id} into ${j.target}: `,
        state,
      ),
      el("progress", {
        max: Math.max(total, 1),
        value: j.state === "done" ? Math.max(total, 1) : j.bytesDone,
        "aria-label": "Restore progress",
      }),
      el(
        "p",
        { class: "muted" },
        `${bytes(j.bytesDone)} of ${bytes(total)} · ${j.files} of ${j.filesTotal ?? "?"} files`,
      ),
      j.error
        ? el("p", { class: "error", role: "alert", text: `${j.error.code}: ${j.error.message}` })
        : null,
    );
  }
}

function stamp() {
  return new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
}

function list(title, items, fmt) {
  if (items.length === 0) return null;
  const shown = items.slice(0, MAX_PATHS);
  return el(
    "div",
    {},
    el("h3", { text: `${title} (${items.length})` }),
    el(
      "ul",
      {},
      shown.map((i) => el("li", { text: fmt(i) })),
    ),
    items.length > shown.length
      ? el("p", { class: "muted", text: `…and ${items.length - shown.length} more` })
      : null,
  );
}

/** The diff answer as lists of paths with byte counts. */
export function renderDiff(d, toWords) {
  const s = d.summary;
  return el(
    "div",
    { class: "diff", id: "diff-result" },
    el(
      "p",
      {},
      `From seq ${d.from.seq} to ${toWords} (seq ${d.to.seq}): `,
      el(
        "strong",
        {},
        `${s.created} created, ${s.deleted} deleted, ${s.renamed} renamed, ${s.changed} changed`,
      ),
      ` · ${bytes(s.createdBytes)} new, ${bytes(s.changedBytes)} changed`,
    ),
    list("Created", d.created, (c) => `+ ${c.path} (${c.kind}, ${bytes(c.bytes)})`),
    list("Deleted", d.deleted, (c) => `− ${c.path} (${c.kind})`),
    list("Renamed", d.renamed, (c) => `→ ${c.from} → ${c.to}`),
    list(
      "Changed",
      d.changed,
      (c) =>
        `~ ${c.path} (${bytes(c.changedBytes)} changed, ${bytes(c.sizeBefore)} → ${bytes(c.sizeAfter)})`,
    ),
  );
}
