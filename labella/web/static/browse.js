// The data browser: filters in the URL, a page of items, an item's details, history and relabelling.
import { api, el } from "/static/api.js";
import { pct } from "/static/charts.js";

const root = document.getElementById("browser");
const projectId = root.dataset.projectId;
const multi = root.dataset.multiLabel === "true";
const pageSize = Number(root.dataset.pageSize);
const labelNames = JSON.parse(document.getElementById("browse-labels").textContent);
const form = document.getElementById("filters");
const $ = (id) => document.getElementById(id);

let offset = Number(new URLSearchParams(location.search).get("offset")) || 0;
let rows = [];
let openId = null;
let loading = null; // AbortController of the request in flight

function filters() {
  const out = {};
  for (const [k, v] of new FormData(form)) if (String(v).trim() !== "") out[k] = String(v).trim();
  if (out.sort === "id") delete out.sort;
  return out;
}

function labelText(labels) {
  if (labels === null || labels === undefined) return "";
  return labels.length ? labels.join(", ") : "(none)";
}

function showError(message) {
  const p = $("browse-error");
  p.textContent = message || "";
  p.hidden = !message;
}

async function load() {
  loading?.abort();
  loading = new AbortController();
  const f = filters();
  const params = new URLSearchParams({ ...f, offset: String(offset), limit: String(pageSize) });
  const shown = new URLSearchParams(f);
  if (offset) shown.set("offset", String(offset));
  if (openId) shown.set("item", String(openId));
  const qs = shown.toString();
  history.replaceState(null, "", `${location.pathname}${qs ? `?${qs}` : ""}`);
  root.setAttribute("aria-busy", "true");
  try {
    const page = await api(`/api/projects/${projectId}/items?${params}`, { signal: loading.signal });
    showError("");
    rows = page.items;
    render(page);
  } catch (err) {
    if (err.name === "AbortError") return;
    showError(`Could not load the items: ${err.detail || err.message}`);
  } finally {
    root.removeAttribute("aria-busy");
  }
}

function preview(item) {
  if (item.image_url) {
    return el("img", { src: item.image_url, alt: item.image_name || `item ${item.id}`, class: "thumb", loading: "lazy" });
  }
  const text = item.text || "";
  return el("span", { class: "clip", title: text.length > 160 ? text : null }, text.length > 160 ? `${text.slice(0, 160)}…` : text);
}

function render(page) {
  const tbody = document.querySelector("#items tbody");
  tbody.replaceChildren(...page.items.map((it) => {
    const tr = el("tr", { "data-item-id": String(it.id), tabindex: "0", class: it.id === openId ? "selected" : null },
      el("td", {}, String(it.id)),
      el("td", { class: "payload" }, preview(it)),
      el("td", { class: it.labels ? "" : "muted" }, it.labels ? labelText(it.labels) : "—",
        it.source === "model" ? el("span", { class: "tag warn model-accepted", title: "accepted from the model's suggestion, not given by a person; kept out of evaluation" }, "model") : ""),
      el("td", {}, it.annotator || ""),
      el("td", {}, it.prediction ? labelText(it.prediction) : ""),
      el("td", { class: "num" }, it.confidence === null ? "" : pct(it.confidence)),
      el("td", { class: it.difficulty ? `difficulty ${it.difficulty}` : "" }, it.difficulty || ""),
      el("td", {}, it.split === "evaluation" ? "held out" : "pool"));
    tr.addEventListener("click", () => openItem(it.id));
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") openItem(it.id); });
    return tr;
  }));
  $("items-empty").hidden = page.items.length > 0;
  const first = page.total ? page.offset + 1 : 0;
  const last = page.offset + page.items.length;
  $("page-info").textContent = page.total ? `${first}–${last} of ${page.total}` : "";
  $("count").textContent = `${page.total} item${page.total === 1 ? "" : "s"}`;
  $("prev").disabled = page.offset <= 0;
  $("next").disabled = last >= page.total;
}

// -- details ---------------------------------------------------------------------------

function when(iso) {
  const t = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
  return t.toLocaleString();
}

function what(h) {
  if (h.action === "label" && h.source === "model") return `accepted the model's ${labelText(h.labels)} (auto-accept)`;
  if (h.action === "label") return `${h.source === "import" ? "imported" : "labelled"} ${labelText(h.labels)}`;
  if (h.action === "skip") return "skipped";
  if (h.action === "undo" && h.source === "model") return "undid the auto-accept";
  if (h.action === "undo") return "undid their answer";
  return h.action;
}

async function openItem(id) {
  openId = id;
  for (const tr of document.querySelectorAll("#items tbody tr")) tr.classList.toggle("selected", Number(tr.dataset.itemId) === id);
  const box = $("detail");
  box.hidden = false;
  box.dataset.itemId = String(id);
  $("relabel-status").textContent = "";
  let item;
  try {
    item = await api(`/api/projects/${projectId}/items/${id}`);
  } catch (err) {
    $("detail-content").replaceChildren(el("p", { class: "error" }, `Could not load item ${id}: ${err.detail || err.message}`));
    return;
  }
  if (openId !== id) return;
  const row = rows.find((r) => r.id === id);
  $("detail-title").textContent = `Item ${item.id}`;
  $("detail-content").replaceChildren(item.image_url
    ? el("img", { src: item.image_url, alt: item.image_name || `item ${item.id}`, class: "detail-image" })
    : el("p", { class: "detail-text" }, item.text || ""));
  const facts = [
    ["Label", item.labels ? `${labelText(item.labels)}${item.label_source === "model" ? " (accepted from the model, not by a person)" : ""}` : "not labelled"],
    ["Model suggests", row && row.prediction ? `${labelText(row.prediction)} (${pct(row.confidence)} sure)` : "no model yet"],
    ["Split", item.split === "evaluation" ? "held out (evaluation)" : "labelling pool"],
  ];
  if (item.external_id) facts.push(["Source id", item.external_id]);
  if (item.image_name) facts.push(["File", item.image_name]);
  $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  renderRelabel(item);
  const hist = [...item.history].reverse();
  document.querySelector("#history tbody").replaceChildren(...(hist.length ? hist.map((h) => el("tr", {},
    el("td", {}, when(h.created_at)), el("td", {}, h.user || (h.source === "import" ? "import" : "")),
    el("td", {}, what(h)),
    el("td", { class: "muted" }, h.suggestion ? `${labelText(h.suggestion)}${h.model_version ? ` (v${h.model_version})` : ""}` : "—")))
    : [el("tr", {}, el("td", { colspan: "4", class: "muted" }, "No answers yet."))]));
  const url = new URL(location.href);
  url.searchParams.set("item", String(id));
  history.replaceState(null, "", url);
}

function renderRelabel(item) {
  const current = new Set(item.labels || []);
  const box = $("relabel");
  box.replaceChildren(...labelNames.map((name) => {
    const b = el("button", { type: "button", "data-label": name, "aria-pressed": current.has(name) ? "true" : "false" }, name);
    b.addEventListener("click", () => {
      if (multi) b.setAttribute("aria-pressed", b.getAttribute("aria-pressed") === "true" ? "false" : "true");
      else save(item.id, { label: name });
    });
    return b;
  }));
}

async function save(itemId, body) {
  const status = $("relabel-status");
  status.textContent = "saving…";
  try {
    await api(`/api/projects/${projectId}/annotations`, { method: "POST", json: { item_id: itemId, ...body,
      request_id: `browse-${itemId}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}` } });
  } catch (err) {
    status.textContent = `not saved: ${err.detail || err.message}`;
    return;
  }
  await load();
  await openItem(itemId);
  status.textContent = "saved";
}

function closeDetail() {
  openId = null;
  $("detail").hidden = true;
  for (const tr of document.querySelectorAll("#items tbody tr.selected")) tr.classList.remove("selected");
  const url = new URL(location.href);
  url.searchParams.delete("item");
  history.replaceState(null, "", url);
}

// -- wiring ------------------------------------------------------------------------------

let debounce = null;
function changed(delay) {
  clearTimeout(debounce);
  debounce = setTimeout(() => { offset = 0; load(); }, delay);
}

form.addEventListener("change", (e) => changed(e.target.tagName === "SELECT" ? 0 : 150));
form.addEventListener("input", (e) => { if (e.target.tagName === "INPUT") changed(300); });
form.addEventListener("submit", (e) => { e.preventDefault(); changed(0); });
form.addEventListener("reset", (e) => {
  // back to no filters at all (a plain reset would restore the filters the page was opened with)
  e.preventDefault();
  for (const input of form.elements) {
    if (input.tagName === "SELECT") input.selectedIndex = 0;
    else if (input.tagName === "INPUT") input.value = "";
  }
  if ($("region-filter")) $("region-filter").hidden = true;
  changed(0);
});
$("region-clear")?.addEventListener("click", () => {
  form.elements.region.value = "";
  $("region-filter").hidden = true;
  changed(0);
});
$("prev").addEventListener("click", () => { offset = Math.max(0, offset - pageSize); load(); });
$("next").addEventListener("click", () => { offset += pageSize; load(); });
$("detail-close").addEventListener("click", closeDetail);
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && openId !== null) closeDetail(); });
if (multi) {
  $("relabel-save").addEventListener("click", () => {
    const labels = [...document.querySelectorAll("#relabel button[aria-pressed=true]")].map((b) => b.dataset.label);
    save(openId, { labels });
  });
}
const wanted = Number(new URLSearchParams(location.search).get("item"));
load().then(() => { if (wanted) openItem(wanted); });
