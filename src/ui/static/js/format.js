/** Formatting and DOM helpers for the console; no dependencies. */

/** Creates an element with attributes/properties and children (strings become text, never HTML). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Number.POSITIVE_INFINITY)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
  return node;
}

/** Replaces every child of `node`. */
export function setChildren(node, ...children) {
  node.replaceChildren();
  for (const c of children.flat(Number.POSITIVE_INFINITY))
    if (c !== null && c !== undefined && c !== false) node.append(c);
}

/** 1536 → "1.5 KiB". */
export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Seconds → "850 ms", "12.3 s", "4 min 5 s", "3 h 2 min". */
export function seconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** Epoch ms → "2026-11-25 12:00:01.250" (UTC). */
export function time(ms) {
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}

/** The words of a checkpoint's consistency, so colour is never the only signal. */
export const CONSISTENCY = {
  app: { glyph: "▲", words: "app-consistent" },
  crash: { glyph: "■", words: "crash-consistent" },
  fuzzy: { glyph: "●", words: "fuzzy" },
};

/** "checkpoint 12 · 2026-… · label · app-consistent" or "time 2026-…". */
export function describePoint(p) {
  if (!p) return "none";
  if (p.kind === "checkpoint") {
    const c = p.cp;
    const parts = [`checkpoint ${c.id}`, `${time(c.tsMs)} UTC`];
    if (c.label) parts.push(`“${c.label}”`);
    parts.push(CONSISTENCY[c.consistency]?.words ?? c.consistency);
    return parts.join(" · ");
  }
  if (p.kind === "seq") return `journal position seq ${p.seq}`;
  return `time ${time(p.at)} UTC (the newest position at or before it)`;
}

/** The body fields naming a point for POST /v1/restores, /v1/drills, /v1/failover. */
export function pointBody(p) {
  if (p.kind === "checkpoint") return { checkpoint: p.cp.id };
  if (p.kind === "seq") return { seq: p.seq };
  return { at: new Date(p.at).toISOString() };
}

/** The POINT syntax of /v1/diff (cp:ID, seq:N or an ISO time). */
export function pointParam(p) {
  if (p.kind === "checkpoint") return `cp:${p.cp.id}`;
  if (p.kind === "seq") return `seq:${p.seq}`;
  return new Date(p.at).toISOString();
}
