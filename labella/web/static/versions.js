// The dashboard's dataset versions: the list with label counts, what changed since each
// (a diff against the labels now), export links, and the freeze form (reviewers, admins).
import { api, el } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const section = $("versions");
const projectId = $("dashboard").dataset.projectId;
const BASE = `/api/projects/${projectId}`;

function status(text, bad = false) {
  $("versions-status").textContent = text;
  $("versions-status").classList.toggle("error", bad);
}

function sinceCell(name) {
  const td = el("td", { class: "since" }, "…");
  api(`${BASE}/versions/${encodeURIComponent(name)}/diff?against=now&limit=0`).then((d) => {
    td.textContent = d.n_added + d.n_changed + d.n_removed === 0 ? "unchanged"
      : `+${d.n_added} added · ${d.n_changed} changed · −${d.n_removed} removed`;
  }).catch((e) => { td.textContent = `? (${e.detail ?? e})`; });
  return td;
}

function row(v) {
  const per = Object.entries(v.label_counts).sort().map(([k, n]) => `${k} ${n}`).join(", ");
  const q = (fmt) => `${BASE}/export?format=${fmt}&version=${encodeURIComponent(v.name)}`;
  return el("tr", { "data-version": v.name },
    el("td", {}, el("strong", {}, v.name), v.note ? el("span", { class: "muted" }, ` ${v.note}`) : null),
    el("td", {}, String(v.n_labels)), el("td", {}, per || "–"),
    el("td", {}, v.model_version === null ? "–" : `v${v.model_version}`),
    el("td", {}, `${new Date(v.created_at).toLocaleString()}${v.created_by ? ` by ${v.created_by}` : ""}`),
    sinceCell(v.name),
    el("td", {}, el("a", { href: q("csv") }, "CSV"), " ", el("a", { href: q("jsonl") }, "JSONL")));
}

async function load() {
  try {
    const vs = await api(`${BASE}/versions`);
    $("versions-table").hidden = vs.length === 0;
    $("versions-empty").hidden = vs.length > 0;
    $("versions-table").tBodies[0].replaceChildren(...vs.map(row));
  } catch (e) {
    status(`Could not load the versions: ${e.detail ?? e}`, true);
  }
}

$("freeze-form")?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = ev.target.elements.name.value.trim();
  if (!name) { status("Type a name for the version.", true); return; }
  try {
    const v = await api(`${BASE}/versions`, { method: "POST", json: { name } });
    ev.target.reset();
    status(`Froze ${v.name}: ${v.n_labels} labels.`);
  } catch (e) {
    status(`Could not freeze ${name}: ${e.detail ?? e}`, true);
  }
  load();
});
if (section) load();
