/**
 * The timeline: one canvas (10,000 marks draw in a few milliseconds, where
 * 10,000 DOM nodes would not), bytes written per interval as bars, checkpoints
 * as marks whose shape and colour both say their consistency, labels where
 * they fit, drill results (✓/✗) and replica positions. Zoom and pan by wheel,
 * drag, buttons or keys, from the whole window down to a few seconds.
 */
import { CONSISTENCY, time } from "./format.js";

const COLORS = {
  app: "#1a7f37",
  crash: "#0550ae",
  fuzzy: "#9a6700",
  bar: "#8c959f",
  grid: "#d0d7de",
  text: "#1b1f23",
  muted: "#57606a",
  pick: "#cf222e",
  replica: "#8250df",
  bad: "#cf222e",
};
/** Smallest span a zoom reaches: 2 s ("down to seconds"). */
const MIN_SPAN_MS = 2_000;
const STEPS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
  604800,
].map((s) => s * 1000);
/** Layout in CSS pixels. */
const Y = { label: 14, mark: 30, barTop: 44, barBottom: 150, drill: 166, axis: 180 };
/** A click this close (px) to a mark picks the checkpoint; farther picks the time. */
const HIT_PX = 7;

/** Index of the first element with tsMs >= t (binary search over a sorted array). */
export function lowerBound(items, t) {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid].tsMs < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The canvas timeline component. */
export class Timeline {
  constructor(canvas, { onPick, onView, onHover }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onPick = onPick;
    this.onView = onView;
    this.onHover = onHover;
    this.checkpoints = [];
    this.drills = [];
    this.replicas = [];
    this.buckets = [];
    this.window = { from: Date.now() - 60_000, to: Date.now() };
    this.view = { ...this.window };
    this.selected = null;
    this.pending = false;
    this.drag = null;
    this.bind();
    new ResizeObserver(() => this.redraw()).observe(canvas);
  }

  /** Sets the restorable window and the marks (checkpoints sorted oldest first). */
  setData({ from, to, checkpoints, drills, replicas }) {
    const first = this.checkpoints.length === 0;
    const whole = this.view.from <= this.window.from && this.view.to >= this.window.to;
    this.window = { from, to: Math.max(to, from + MIN_SPAN_MS) };
    this.checkpoints = checkpoints;
    this.drills = drills;
    this.replicas = replicas;
    // Follow the present while the whole window is shown.
    if (first || whole) this.setView(this.window.from, this.window.to, false);
    this.redraw();
  }

  /** Bars: the buckets of /v1/timeline for (about) the current view. */
  setBuckets(buckets) {
    this.buckets = buckets;
    this.redraw();
  }

  /** Marks `point` as picked (or null). */
  select(point) {
    this.selected = point;
    this.redraw();
  }

  /** Zooms by `factor` (< 1 = in) around time `at` (default: the picked point if in view, else the middle). */
  zoom(factor, at = this.focusTime()) {
    const span = Math.max(MIN_SPAN_MS, (this.view.to - this.view.from) * factor);
    const ratio = (at - this.view.from) / (this.view.to - this.view.from);
    this.setView(at - span * ratio, at + span * (1 - ratio));
  }

  focusTime() {
    const p = this.selected ? pointTime(this.selected) : Number.NaN;
    if (Number.isFinite(p) && p >= this.view.from && p <= this.view.to) return p;
    return (this.view.from + this.view.to) / 2;
  }

  /** Pans by a fraction of the visible span (negative = earlier). */
  pan(fraction) {
    const d = (this.view.to - this.view.from) * fraction;
    this.setView(this.view.from + d, this.view.to + d);
  }

  /** Shows the whole restorable window. */
  showAll() {
    this.setView(this.window.from, this.window.to);
  }

  /** The checkpoint before (dir -1) or after (+1) the picked point. */
  step(dir) {
    const cps = this.checkpoints;
    if (cps.length === 0) return;
    const at = this.selected ? pointTime(this.selected) : Number.NaN;
    const t = Number.isFinite(at) ? at : dir > 0 ? -Infinity : Infinity;
    let i = lowerBound(cps, t);
    if (dir > 0) {
      while (i < cps.length && cps[i].tsMs <= t) i += 1;
    } else i -= 1;
    const cp = cps[Math.min(Math.max(i, 0), cps.length - 1)];
    this.onPick({ kind: "checkpoint", cp });
    if (cp.tsMs < this.view.from || cp.tsMs > this.view.to) {
      const span = this.view.to - this.view.from;
      this.setView(cp.tsMs - span / 2, cp.tsMs + span / 2);
    }
  }

  setView(from, to, notify = true) {
    const maxSpan = Math.max(this.window.to - this.window.from, MIN_SPAN_MS) * 1.1;
    let span = Math.min(Math.max(to - from, MIN_SPAN_MS), maxSpan);
    let f = from;
    // Keep some of the window in view: pan no further than its edges.
    const pad = span * 0.05;
    if (f + span > this.window.to + pad) f = this.window.to + pad - span;
    if (f < this.window.from - pad) f = this.window.from - pad;
    if (!Number.isFinite(span)) span = MIN_SPAN_MS;
    this.view = { from: f, to: f + span };
    // The visible range, for automation (the browser test clicks marks by time).
    this.canvas.dataset.viewFrom = String(this.view.from);
    this.canvas.dataset.viewTo = String(this.view.to);
    this.redraw();
    if (notify) this.onView(this.view);
  }

  x(t) {
    const w = this.canvas.clientWidth;
    return ((t - this.view.from) / (this.view.to - this.view.from)) * w;
  }

  t(x) {
    const w = this.canvas.clientWidth || 1;
    return this.view.from + (x / w) * (this.view.to - this.view.from);
  }

  /** The checkpoints inside the view: [start, end) indices. */
  visibleRange() {
    return [
      lowerBound(this.checkpoints, this.view.from),
      lowerBound(this.checkpoints, this.view.to + 1),
    ];
  }

  nearest(x) {
    const [a, b] = this.visibleRange();
    if (a === b) return null;
    const t = this.t(x);
    const i = lowerBound(this.checkpoints, t);
    let best = null;
    for (const j of [i - 1, i]) {
      const cp = this.checkpoints[j];
      if (!cp) continue;
      const dx = Math.abs(this.x(cp.tsMs) - x);
      if (dx <= HIT_PX && (!best || dx < best.dx)) best = { cp, dx };
    }
    return best?.cp ?? null;
  }

  bind() {
    const c = this.canvas;
    c.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        const rect = c.getBoundingClientRect();
        this.zoom(e.deltaY < 0 ? 0.8 : 1.25, this.t(e.clientX - rect.left));
      },
      { passive: false },
    );
    c.addEventListener("pointerdown", (e) => {
      c.setPointerCapture(e.pointerId);
      this.drag = { x: e.clientX, from: this.view.from, to: this.view.to, moved: false };
    });
    c.addEventListener("pointermove", (e) => {
      const rect = c.getBoundingClientRect();
      const x = e.clientX - rect.left;
      if (this.drag) {
        const dx = e.clientX - this.drag.x;
        if (Math.abs(dx) > 3) this.drag.moved = true;
        if (this.drag.moved) {
          const per = (this.drag.to - this.drag.from) / (c.clientWidth || 1);
          this.setView(this.drag.from - dx * per, this.drag.to - dx * per);
        }
        return;
      }
      const cp = this.nearest(x);
      this.onHover(cp ? cp : { tsMs: this.t(x) });
    });
    c.addEventListener("pointerup", (e) => {
      const d = this.drag;
      this.drag = null;
      if (!d || d.moved) return;
      const x = e.clientX - c.getBoundingClientRect().left;
      this.pickAt(x);
    });
    c.addEventListener("keydown", (e) => {
      const keys = {
        ArrowLeft: () => this.pan(-0.1),
        ArrowRight: () => this.pan(0.1),
        "+": () => this.zoom(0.8),
        "=": () => this.zoom(0.8),
        "-": () => this.zoom(1.25),
        Home: () => this.showAll(),
        "[": () => this.step(-1),
        "]": () => this.step(1),
        Enter: () => this.pickAt(c.clientWidth / 2),
      };
      const fn = keys[e.key];
      if (fn) {
        e.preventDefault();
        fn();
      }
    });
  }

  pickAt(x) {
    const cp = this.nearest(x);
    if (cp) this.onPick({ kind: "checkpoint", cp });
    else {
      const t = Math.min(Math.max(this.t(x), this.window.from), this.window.to);
      this.onPick({ kind: "time", at: Math.round(t) });
    }
  }

  redraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = this.ctx;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = "11px system-ui, sans-serif";
    this.drawAxis(g, w, h);
    this.drawBars(g);
    this.drawCheckpoints(g, w);
    this.drawDrills(g);
    this.drawReplicas(g);
    const picked = this.selected ? pointTime(this.selected) : Number.NaN;
    if (Number.isFinite(picked)) {
      const x = this.x(picked);
      g.strokeStyle = COLORS.pick;
      g.lineWidth = 2;
      g.beginPath();
      g.moveTo(x, Y.mark - 10);
      g.lineTo(x, Y.axis);
      g.stroke();
      g.fillStyle = COLORS.pick;
      g.fillText("picked", Math.min(x + 4, w - 40), Y.barTop + 10);
    }
  }

  drawAxis(g, w) {
    const span = this.view.to - this.view.from;
    const step = STEPS.find((s) => (s / span) * w >= 90) ?? STEPS[STEPS.length - 1];
    g.strokeStyle = COLORS.grid;
    g.fillStyle = COLORS.muted;
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(0, Y.axis + 0.5);
    g.lineTo(w, Y.axis + 0.5);
    g.stroke();
    for (let t = Math.ceil(this.view.from / step) * step; t <= this.view.to; t += step) {
      const x = Math.round(this.x(t)) + 0.5;
      g.beginPath();
      g.moveTo(x, Y.barTop);
      g.lineTo(x, Y.axis + 5);
      g.stroke();
      const iso = time(t);
      const text =
        step < 60_000 ? iso.slice(11, 19) : step < 86_400_000 ? iso.slice(5, 16) : iso.slice(0, 10);
      g.fillText(text, x + 3, Y.axis + 16);
    }
    // Outside the restorable window: shaded.
    g.fillStyle = "rgba(140,149,159,0.15)";
    const a = this.x(this.window.from);
    const b = this.x(this.window.to);
    if (a > 0) g.fillRect(0, 0, a, Y.axis);
    if (b < w) g.fillRect(b, 0, w - b, Y.axis);
  }

  drawBars(g) {
    const max = Math.max(1, ...this.buckets.map((b) => b.bytesWritten));
    g.fillStyle = COLORS.bar;
    const hMax = Y.barBottom - Y.barTop;
    for (const b of this.buckets) {
      if (b.bytesWritten === 0) continue;
      const x0 = this.x(b.startMs);
      const x1 = this.x(b.endMs);
      if (x1 < 0 || x0 > this.canvas.clientWidth) continue;
      const bh = Math.max(1, (b.bytesWritten / max) * hMax);
      g.fillRect(x0, Y.barBottom - bh, Math.max(1, x1 - x0 - 1), bh);
    }
  }

  drawCheckpoints(g, w) {
    const [a, b] = this.visibleRange();
    const dense = b - a > w / 3;
    let labelEnd = -Infinity;
    for (let i = a; i < b; i++) {
      const cp = this.checkpoints[i];
      const x = this.x(cp.tsMs);
      g.fillStyle = COLORS[cp.consistency] ?? COLORS.text;
      if (!dense) {
        g.fillRect(x, Y.mark + 5, 1, Y.barBottom - Y.mark - 5);
      }
      shape(g, cp.consistency, x, Y.mark);
      if (cp.label && !dense && x > labelEnd) {
        const text = cp.label.length > 24 ? `${cp.label.slice(0, 23)}…` : cp.label;
        g.fillStyle = COLORS.text;
        g.fillText(text, x - 3, Y.label);
        labelEnd = x + g.measureText(text).width + 8;
      }
    }
  }

  drawDrills(g) {
    g.font = "bold 13px system-ui, sans-serif";
    for (const d of this.drills) {
      const x = this.x(d.tsMs);
      if (x < -10 || x > this.canvas.clientWidth + 10) continue;
      g.fillStyle = d.passed ? COLORS.app : COLORS.bad;
      g.fillText(d.passed ? "✓" : "✗", x - 4, Y.drill + 4);
    }
    g.font = "11px system-ui, sans-serif";
  }

  drawReplicas(g) {
    g.strokeStyle = COLORS.replica;
    g.fillStyle = COLORS.replica;
    g.setLineDash([3, 3]);
    for (const r of this.replicas) {
      const x = this.x(r.tsMs);
      g.beginPath();
      g.moveTo(x, Y.barTop);
      g.lineTo(x, Y.axis);
      g.stroke();
      g.fillText(
        `replica ${r.name}`,
        x - 4 - g.measureText(`replica ${r.name}`).width,
        Y.barTop + 10,
      );
    }
    g.setLineDash([]);
  }
}

/** Draws a mark: ▲ app, ■ crash, ● fuzzy (shape carries the meaning, colour repeats it). */
function shape(g, consistency, x, y) {
  g.beginPath();
  if (consistency === "app") {
    g.moveTo(x, y - 6);
    g.lineTo(x + 6, y + 5);
    g.lineTo(x - 6, y + 5);
    g.closePath();
  } else if (consistency === "crash") {
    g.rect(x - 4.5, y - 4.5, 9, 9);
  } else g.arc(x, y, 4.5, 0, Math.PI * 2);
  g.fill();
}

/** The time of a picked point (epoch ms). */
export function pointTime(p) {
  if (p.kind === "checkpoint") return p.cp.tsMs;
  return p.kind === "time" ? p.at : Number.NaN;
}

/** Words for a hovered checkpoint or time. */
export function hoverText(h) {
  if (h.id === undefined) return `${time(h.tsMs)} UTC — click to pick this time`;
  const words = CONSISTENCY[h.consistency]?.words ?? h.consistency;
  return `checkpoint ${h.id} · ${time(h.tsMs)} UTC · ${words}${h.label ? ` · “${h.label}”` : ""} — click to pick`;
}
