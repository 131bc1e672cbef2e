// Calls to Labella's REST API from the pages: same origin, session cookie, CSRF header.
export class ApiError extends Error {
  constructor(status, detail) { super(`${status}: ${detail}`); this.status = status; this.detail = detail; }
}

export async function api(path, { method = "GET", json, body, signal } = {}) {
  const headers = { "X-Labella-CSRF": "1" };
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  const r = await fetch(path, { method, headers, body, signal, credentials: "same-origin" });
  if (r.status === 401) { location.href = `/login?next=${encodeURIComponent(location.pathname)}`; }
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail ?? detail; } catch (_) { /* not JSON */ }
    throw new ApiError(r.status, detail);
  }
  const type = r.headers.get("content-type") || "";
  return type.startsWith("application/json") ? r.json() : r;
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
}
