/**
 * The console's only way to the daemon: same-origin fetches to /v1 with the
 * bearer token from sessionStorage (this tab only; never in a URL).
 */

const KEY = "pvjournal.token";

/** The token given in this tab, or null. */
export function token() {
  return sessionStorage.getItem(KEY);
}

/** Keeps the token for this tab. */
export function setToken(t) {
  sessionStorage.setItem(KEY, t);
}

/** Forgets the token. */
export function clearToken() {
  sessionStorage.removeItem(KEY);
}

/** An API error in the contract's words: `{error: {code, message}}` and the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

/** Listeners told about every 401 (the token is wrong or gone). */
const unauthorized = new Set();

/** Calls `fn(error)` on every 401 answer. */
export function onUnauthorized(fn) {
  unauthorized.add(fn);
}

/** fetch /v1<path>; JSON in and out; throws ApiError with the contract's code and message. */
export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { accept: raw ? "text/html" : "application/json" };
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(`/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch (err) {
    throw new ApiError(0, "UNREACHABLE", `the daemon did not answer (${err.message})`);
  }
  if (res.ok) return raw ? res.text() : res.json();
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const e = (await res.json()).error;
    if (e?.code) code = e.code;
    if (e?.message) message = e.message;
  } catch {
    // Not the contract's error shape: keep the HTTP status.
  }
  const err = new ApiError(res.status, code, message);
  if (res.status === 401) for (const fn of unauthorized) fn(err);
  throw err;
}
