/**
 * Drills: run one at the picked point (verify: the daemon's default, none,
 * or a named command), the reports with RPO/RTO, method and pass/fail, the
 * HTML report one click away (fetched with the token, saved as a file), and
 * the newest success.
 */
import { api } from "./api.js";
import { el, pointBody, seconds, setChildren, time } from "./format.js";

const $ = (id) => document.getElementById(id);
/** Poll while a drill runs; a drill takes seconds to minutes. */
const POLL_MS = 1000;

/** The drills panel. */
export class DrillsPanel {
  constructor({ state, onReports }) {
    this.state = state;
    this.onReports = onReports;
    this.reports = [];
    this.shown = "";
    this.timer = null;
    $("drill-verify").addEventListener("change", () => {
      $("drill-name").disabled = $("drill-verify").value !== "named";
    });
    $("drill-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.run();
    });
  }

  async run() {
    const { point } = this.state();
    const msg = $("drill-msg");
    const body = point ? pointBody(point) : {};
    if (body.seq !== undefined) {
      msg.replaceChildren(
        el("span", {
          class: "error",
          text: "BAD_REQUEST: a drill takes a checkpoint or a time, not a seq",
        }),
      );
      return;
    }
    const mode = $("drill-verify").value;
    if (mode === "none") body.verify = null;
    if (mode === "named") body.verify = $("drill-name").value.trim();
    if ($("drill-keep").checked) body.keep = true;
    try {
      const r = await api("/drills", { method: "POST", body });
      msg.replaceChildren(el("span", { text: `Drill ${r.id} ${r.state}…` }));
      await this.load();
    } catch (err) {
      msg.replaceChildren(el("span", { class: "error", role: "alert", text: err.message }));
    }
  }

  /** Reloads the reports; polls again while one is queued or running. */
  async load() {
    clearTimeout(this.timer);
    const { drills } = await api("/drills?limit=100");
    // Re-render only on change, so keyboard focus in the table survives the refresh.
    const key = JSON.stringify(drills);
    this.reports = drills;
    if (key !== this.shown) this.render();
    this.shown = key;
    this.onReports(drills);
    if (drills.some((d) => d.state === "queued" || d.state === "running"))
      this.timer = setTimeout(() => this.load().catch(() => undefined), POLL_MS);
  }

  render() {
    const last = this.reports.find((d) => d.passed === true);
    $("drill-last").textContent = last
      ? `Newest success: drill ${last.id}, finished ${time(Date.parse(last.finishedAt))} UTC (RPO ${seconds(last.rpoSeconds)}, RTO ${seconds(last.rtoSeconds)}).`
      : "No drill has passed yet.";
    $("drill-schedule").textContent = scheduleWords(this.reports);
    const running = this.reports.find((d) => d.state === "queued" || d.state === "running");
    if (!running && this.reports[0]) {
      const d = this.reports[0];
      $("drill-msg").replaceChildren(
        el("span", { class: d.passed ? "ok" : "error" }, `Drill ${d.id}: ${resultWords(d)}`),
      );
    }
    setChildren(
      $("drill-table").tBodies[0],
      this.reports.map((d) =>
        el(
          "tr",
          { "data-drill": d.id },
          el("td", { text: d.id }),
          el("td", {
            text: `${d.point.checkpoint !== null ? `cp ${d.point.checkpoint} · ` : ""}${time(Date.parse(d.point.ts))}`,
          }),
          el("td", {
            text: `${d.state} (${d.trigger === "schedule" ? "scheduled" : "on request"})`,
          }),
          el(
            "td",
            {
              class:
                d.passed === true
                  ? "ok"
                  : d.passed === false || d.state === "failed"
                    ? "error"
                    : "",
            },
            resultWords(d),
          ),
          el("td", { text: seconds(d.rpoSeconds) }),
          el("td", { text: seconds(d.rtoSeconds) }),
          el("td", { text: d.method ?? "–" }),
          el("td", { text: verifyWords(d) }),
          el(
            "td",
            {},
            el("button", {
              type: "button",
              text: "HTML report",
              "aria-label": `Download the HTML report of drill ${d.id}`,
              onclick: () => this.download(d.id),
            }),
          ),
        ),
      ),
    );
  }

  /** The HTML report needs the token, so it is fetched and saved, not linked. */
  async download(id) {
    try {
      const html = await api(`/drills/${id}?format=html`, { raw: true });
      const url = URL.createObjectURL(new Blob([html], { type: "text/html" }));
      const a = el("a", { href: url, download: `pvjournal-drill-${id}.html` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      $("drill-msg").replaceChildren(el("span", { class: "error", text: err.message }));
    }
  }
}

/** "✓ passed", "✗ FAILED (verify exit 3)", "✗ could not run: CODE: message", "running". */
export function resultWords(d) {
  if (d.state === "failed")
    return `✗ could not run: ${d.error ? `${d.error.code}: ${d.error.message}` : "failed"}`;
  if (d.passed === true) return "✓ passed";
  if (d.passed === false) {
    const v = d.verify;
    let why = "";
    if (v?.timedOut) why = "verify timed out";
    else if (typeof v?.exitCode === "number") why = `verify exit ${v.exitCode}`;
    else if (v?.error) why = v.error;
    return `✗ FAILED${why ? ` (${why})` : ""}`;
  }
  return d.state;
}

function verifyWords(d) {
  const v = d.verify;
  if (!v) return "none";
  const cmd = v.command ? v.command.join(" ") : "";
  const tail = v.output ? ` — ${v.output.trim().split("\n").slice(-1)[0].slice(0, 80)}` : "";
  return `${cmd} → ${v.exitCode ?? "–"}${tail}`;
}

/**
 * The schedule as the reports show it (the API has no schedule route):
 * the newest scheduled drill and the typical gap between scheduled drills.
 */
export function scheduleWords(reports) {
  const sched = reports.filter((d) => d.trigger === "schedule").map((d) => Date.parse(d.createdAt));
  if (sched.length === 0)
    return "Schedule: no scheduled drill in the reports (drills.schedule is off, or none is due yet).";
  const gaps = sched.slice(0, -1).map((t, i) => (t - sched[i + 1]) / 1000);
  gaps.sort((a, b) => a - b);
  const every = gaps.length ? `, about every ${seconds(gaps[Math.floor(gaps.length / 2)])}` : "";
  return `Schedule: newest scheduled drill at ${time(sched[0])} UTC${every}.`;
}
