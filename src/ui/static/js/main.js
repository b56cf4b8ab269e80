/**
 * Console entry: sign-in (the token, if the daemon wants one), then the
 * header, timeline, restore, drills and replicas panels, refreshed every few
 * seconds. Nothing is shown until /v1/status answers 200 with the token.
 */
import { ApiError, api, clearToken, onUnauthorized, setToken, token } from "./api.js";
import { DrillsPanel } from "./drills.js";
import { CONSISTENCY, el, setChildren, time } from "./format.js";
import { RestorePanel } from "./restore.js";
import { ReplicasPanel, renderHeader, replicaMarks } from "./status.js";
import { hoverText, lowerBound, Timeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
/** Status and new checkpoints every 5 s: fresh enough for an operator, cheap for the daemon. */
const REFRESH_MS = 5000;
/** The API's largest checkpoint page: one request covers a 10,000-checkpoint window. */
const CP_LIMIT = 10_000;

const state = {
  status: null,
  checkpoints: [],
  drills: [],
  point: null,
  started: false,
  tableShown: false,
};
let timer = null;
let viewTimer = null;

const timeline = new Timeline($("timeline"), {
  onPick: (p) => pick(p),
  onView: () => {
    clearTimeout(viewTimer);
    viewTimer = setTimeout(() => loadBuckets().catch(showError), 120);
    renderTable();
  },
  onHover: (h) => {
    $("timeline-info").textContent = hoverText(h);
  },
});
const restore = new RestorePanel({ state: () => state, pick: (p) => pick(p) });
const drills = new DrillsPanel({
  state: () => state,
  onReports: (ds) => {
    state.drills = ds;
    updateMarks();
  },
});
const replicas = new ReplicasPanel({ state: () => state, refresh: () => refresh() });

function pick(p) {
  state.point = p;
  timeline.select(p);
  restore.picked(p);
}

function showError(err) {
  const b = $("banner");
  b.textContent = err instanceof Error ? err.message : String(err);
  b.hidden = false;
}

/** Shows the sign-in form and nothing else. */
function signedOut(message) {
  clearInterval(timer);
  state.started = false;
  $("app").hidden = true;
  $("signout").hidden = true;
  setChildren($("summary"));
  $("login").hidden = false;
  $("login-error").textContent = message ?? "";
  $("token").focus();
}

onUnauthorized((err) => {
  const had = token() !== null;
  clearToken();
  signedOut(had ? `${err.message}. Enter the token again.` : "");
});

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  setToken($("token").value.trim());
  $("token").value = "";
  start();
});
$("signout").addEventListener("click", () => {
  clearToken();
  signedOut("Token forgotten.");
});
for (const [id, fn] of [
  ["zoom-in", () => timeline.zoom(0.5)],
  ["zoom-out", () => timeline.zoom(2)],
  ["pan-left", () => timeline.pan(-0.25)],
  ["pan-right", () => timeline.pan(0.25)],
  ["zoom-all", () => timeline.showAll()],
  ["prev-cp", () => timeline.step(-1)],
  ["next-cp", () => timeline.step(1)],
])
  $(id).addEventListener("click", fn);

function toCp(c) {
  return {
    id: c.id,
    seq: c.seq,
    tsMs: Date.parse(c.ts),
    label: c.label,
    consistency: c.consistency,
  };
}

/** Pages fetched per refresh at most (10,000 each): a 24 h window at 5 s intervals is 17,280. */
const MAX_PAGES = 20;

/** Fetches the checkpoints newer than the newest known (all on the first call); true if any changed. */
async function loadCheckpoints() {
  const known = new Set(state.checkpoints.map((c) => c.id));
  const fresh = [];
  let last = state.checkpoints[state.checkpoints.length - 1]?.tsMs;
  for (let page = 0; page < MAX_PAGES; page++) {
    const q =
      last === undefined
        ? `?limit=${CP_LIMIT}`
        : `?from=${encodeURIComponent(new Date(last).toISOString())}&limit=${CP_LIMIT}`;
    const { checkpoints } = await api(`/checkpoints${q}`);
    for (const c of checkpoints.map(toCp)) {
      if (known.has(c.id)) continue;
      known.add(c.id);
      fresh.push(c);
    }
    // `from` is inclusive: a full page means there may be more after its newest.
    if (checkpoints.length < CP_LIMIT) break;
    last = Date.parse(checkpoints[checkpoints.length - 1].ts);
  }
  const oldest = state.status?.journal?.oldest
    ? Date.parse(state.status.journal.oldest)
    : -Infinity;
  // Retention drops old points: keep only those still in the window.
  const before = state.checkpoints.length;
  state.checkpoints = state.checkpoints.concat(fresh).filter((c) => c.tsMs >= oldest);
  return fresh.length > 0 || state.checkpoints.length !== before + fresh.length;
}

async function loadBuckets() {
  const w = timeline.window;
  const from = Math.max(w.from, timeline.view.from);
  const to = Math.min(Date.now(), Math.max(from, timeline.view.to));
  const q = new URLSearchParams({
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
  });
  const t = await api(`/timeline?${q}`);
  timeline.setBuckets(
    t.buckets.map((b) => ({
      startMs: Date.parse(b.start),
      endMs: Date.parse(b.end),
      bytesWritten: b.bytesWritten,
    })),
  );
}

function windowOf(s) {
  const now = Date.now();
  const first = state.checkpoints[0]?.tsMs;
  const oldest = s.journal?.oldest ? Date.parse(s.journal.oldest) : (first ?? now - 60_000);
  return { from: Math.min(oldest, first ?? oldest), to: now };
}

function updateMarks() {
  if (!state.status) return;
  const w = windowOf(state.status);
  timeline.setData({
    ...w,
    checkpoints: state.checkpoints,
    drills: state.drills
      .filter((d) => d.passed !== null || d.state === "failed")
      .map((d) => ({ id: d.id, tsMs: Date.parse(d.point.ts), passed: d.passed === true })),
    replicas: replicaMarks(state.status, w.to),
  });
  const n = state.checkpoints.length;
  $("view-range").textContent = `${n} checkpoint${n === 1 ? "" : "s"} in the window`;
}

/** The newest 50 checkpoints in view, as a table with a Pick button each (keyboard path). */
function renderTable() {
  const cps = state.checkpoints;
  const a = lowerBound(cps, timeline.view.from);
  const b = lowerBound(cps, timeline.view.to + 1);
  const rows = cps.slice(Math.max(a, b - 50), b).reverse();
  setChildren(
    $("cp-table").tBodies[0],
    rows.map((c) =>
      el(
        "tr",
        { "data-cp": c.id },
        el("td", { text: String(c.id) }),
        el("td", { text: time(c.tsMs) }),
        el("td", { text: c.label ?? "" }),
        el("td", { text: `${CONSISTENCY[c.consistency]?.glyph ?? ""} ${c.consistency}` }),
        el(
          "td",
          {},
          el("button", {
            type: "button",
            text: "Pick",
            "aria-label": `Pick checkpoint ${c.id}`,
            onclick: () => pick({ kind: "checkpoint", cp: c }),
          }),
        ),
      ),
    ),
  );
}

async function refresh() {
  const s = await api("/status");
  state.status = s;
  renderHeader(s);
  replicas.render(s);
  const changed = await loadCheckpoints();
  updateMarks();
  // Re-render the table only when it changed, so keyboard focus on a Pick button survives the refresh.
  if (changed || !state.tableShown) {
    renderTable();
    state.tableShown = true;
  }
  $("banner").hidden = true;
}

async function start() {
  try {
    await refresh();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return; // onUnauthorized showed the form
    showError(err);
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = token() === null;
  if (!state.started) {
    state.started = true;
    await Promise.all([restore.loadPolicy(), drills.load(), loadBuckets()]).catch(showError);
    clearInterval(timer);
    timer = setInterval(() => {
      refresh()
        .then(() => drills.load())
        .catch((err) => {
          if (!(err instanceof ApiError && err.status === 401)) showError(err);
        });
    }, REFRESH_MS);
  }
  // First data drawn and every control wired: the page is interactive.
  requestAnimationFrame(() => {
    performance.mark("pvj-interactive");
    document.body.dataset.ready = "true";
  });
}

start();
