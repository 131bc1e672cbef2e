// Similarity search in the data browser: search by meaning, "more like this" from the open
// item, and the results labelled in bulk or queued for the signed-in annotator.
import { api, el } from "/static/api.js";
import { pct } from "/static/charts.js";

const box = document.getElementById("similar");
const projectId = box.dataset.projectId;
const multi = box.dataset.multiLabel === "true";
const $ = (id) => document.getElementById(id);
let hits = [];
let lastQuery = null; // () => Promise: repeats the last search after a change

function status(text) { $("similar-status").textContent = text || ""; }

function params() {
  const k = Math.min(500, Math.max(1, Number($("similar-k").value) || 20));
  return new URLSearchParams({ k: String(k), unlabelled_only: String($("similar-unlabelled").checked) });
}

function labelText(labels) { return labels && labels.length ? labels.join(", ") : "(none)"; }

function render(result, title) {
  hits = result.hits;
  $("similar-hint").textContent = `${title} — ${result.hits.length} of ${result.n_searched} pool items, `
    + `${result.method === "exact" ? "exact search" : `approximate index (${result.method})`}`
    + (result.note ? ` (${result.note})` : "");
  $("similar-all").checked = false;
  $("similar-go").hidden = true;
  $("similar-table").querySelector("tbody").replaceChildren(...hits.map((h) => {
    const check = el("input", { type: "checkbox", class: "pick", "data-item-id": String(h.id),
      "aria-label": `Select item ${h.id}` });
    if (!h.labels) check.checked = true; // unlabelled results are selected by default
    const what = h.image_url
      ? el("img", { src: h.image_url, alt: h.image_name || `item ${h.id}`, class: "thumb", loading: "lazy" })
      : el("span", { class: "clip" }, (h.text || "").length > 160 ? `${h.text.slice(0, 160)}…` : (h.text || ""));
    return el("tr", { "data-item-id": String(h.id) },
      el("td", {}, check), el("td", {}, String(h.id)), el("td", { class: "payload" }, what),
      el("td", { class: "num" }, h.score.toFixed(3)),
      el("td", { class: h.labels ? "" : "muted" }, h.labels ? labelText(h.labels) : "—"),
      el("td", {}, h.prediction ? `${labelText(h.prediction)} (${pct(h.confidence)})` : ""));
  }));
  $("similar-results").hidden = false;
}

async function run(path, title) {
  status("searching…");
  try {
    render(await api(`${path}${path.includes("?") ? "&" : "?"}${params()}`), title);
    status("");
  } catch (err) {
    status(`search failed: ${err.detail || err.message}`);
  }
}

function searchText() {
  const q = $("similar-q").value.trim();
  if (!q) { status("type something to search for"); return Promise.resolve(); }
  lastQuery = () => run(`/api/projects/${projectId}/search?q=${encodeURIComponent(q)}`, `Closest to “${q}”`);
  return lastQuery();
}

export function moreLikeThis(itemId) {
  lastQuery = () => run(`/api/projects/${projectId}/items/${itemId}/similar`, `More like item ${itemId}`);
  box.scrollIntoView({ block: "nearest" });
  return lastQuery();
}

function selected() {
  return [...document.querySelectorAll("#similar-table input.pick:checked")].map((c) => Number(c.dataset.itemId));
}

async function apply() {
  const ids = selected();
  if (!ids.length) { status("select some results first"); return; }
  const label = $("similar-label").value;
  status(`labelling ${ids.length}…`);
  try {
    const r = await api(`/api/projects/${projectId}/bulk-label`, { method: "POST", json: {
      item_ids: ids, ...(multi ? { labels: [label] } : { label }),
      request_id: `bulk-${Date.now()}-${Math.random().toString(36).slice(2, 8)}` } });
    await lastQuery?.();
    status(`labelled ${r.labelled} item${r.labelled === 1 ? "" : "s"} as ${label}`);
  } catch (err) {
    status(`not labelled: ${err.detail || err.message}`);
  }
}

async function queue() {
  const ids = selected();
  if (!ids.length) { status("select some results first"); return; }
  try {
    const r = await api(`/api/projects/${projectId}/queue`, { method: "POST", json: { item_ids: ids } });
    status(`queued ${ids.length} for you (${r.item_ids.length} in your queue): the labelling view shows them next`);
    $("similar-go").hidden = false;
  } catch (err) {
    status(`not queued: ${err.detail || err.message}`);
  }
}

$("similar-form").addEventListener("submit", (e) => { e.preventDefault(); if ($("similar-q")) searchText(); });
$("similar-all").addEventListener("change", (e) => {
  for (const c of document.querySelectorAll("#similar-table input.pick")) c.checked = e.target.checked;
});
$("similar-apply").addEventListener("click", apply);
$("similar-queue").addEventListener("click", queue);
$("similar-unlabelled").addEventListener("change", () => lastQuery?.());
// "More like this" in the item details (the browser's detail box holds the open item's id)
$("more-like-this")?.addEventListener("click", () => {
  const id = Number($("detail").dataset.itemId);
  if (id) moreLikeThis(id);
});
// opened as /data?similar=ID (the labelling view's "More like this")
const asked = Number(new URLSearchParams(location.search).get("similar"));
if (asked) moreLikeThis(asked);
