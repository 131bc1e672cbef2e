// The label-error review: suspects one at a time, with the current label and the model's
// alternative; K keeps the label, Enter takes the model's, a number picks another label.
import { api, el } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const CFG = JSON.parse($("review-config").textContent);
const BASE = `/api/projects/${CFG.project_id}/label-errors`;
const names = (labels) => (labels.length ? labels.join(", ") : "no label");
const pct = (c) => `${Math.round(c * 100)} %`;
const state = { items: [], current: null, busy: false, polling: null, rep: null };
const choices = [...document.querySelectorAll("#choices button")];

function describe(rep) {
  if (!rep.scan_job_id) return "No scan yet.";
  if (rep.scan_status === "queued" || rep.scan_status === "running") return "Scanning the labels…";
  if (rep.scan_status === "failed") return "The last scan failed (see the project's jobs).";
  return `${rep.n_suspected} suspected among ${rep.n_checked} labels · ${rep.n_answered} answered`;
}

async function load() {
  const rep = await api(`${BASE}?limit=200`);
  $("scan-status").textContent = describe(rep);
  state.rep = rep;
  state.items = rep.items;
  const running = rep.scan_status === "queued" || rep.scan_status === "running";
  if (running && !state.polling) state.polling = setTimeout(() => { state.polling = null; load(); }, 700);
  $("empty-why").textContent = running ? "A scan is running; suspects appear here when it ends."
    : rep.scan_job_id ? "Every suspect of the last scan is answered." : "Scan the labels to look for likely errors.";
  show(state.items[0] ?? null);
}

function show(item) {
  state.current = item;
  const has = !!item;
  for (const id of ["item", "verdict", "answers"]) $(id).hidden = !has;
  if ($("choices")) $("choices").hidden = !has;
  $("empty").hidden = has;
  $("notice").textContent = "";
  if (!has) return;
  const box = $("item");
  box.dataset.itemId = String(item.item_id);
  const parts = [];
  if (item.image_url) parts.push(el("div", { class: "item-image" }, el("img", { src: item.image_url, alt: item.image_name ?? "" })));
  if (item.text !== null) parts.push(el("div", { class: item.image_url ? "item-caption" : "item-text", id: "item-text" }, item.text));
  box.replaceChildren(...parts);
  $("given").replaceChildren(el("span", { class: "k" }, "Current label"), " ", el("strong", {}, names(item.given)));
  const conf = item.alternative_confidence !== null ? ` · ${pct(item.alternative_confidence)}` : "";
  $("alternative").replaceChildren(el("span", { class: "k" }, "Model suggests"), " ",
    el("strong", {}, names(item.suggested)), conf);
  $("take-name").textContent = `Use ${names(item.suggested)}`;
  for (const b of choices) b.classList.toggle("earlier", item.given.includes(b.dataset.label));
}

async function answer(body) {
  const item = state.current;
  if (!item || state.busy) return;
  state.busy = true;
  try {
    await api(`${BASE}/${item.item_id}`, { method: "POST", json: { ...body, request_id: crypto.randomUUID() } });
    state.items.shift();
    state.rep.n_answered += 1;
    $("scan-status").textContent = describe(state.rep);
    show(state.items[0] ?? null);
    if (!state.items.length) await load();
  } catch (e) {
    $("notice").textContent = `Not saved: ${e.detail ?? e}`;
  } finally {
    state.busy = false;
  }
}

const keep = () => answer({ action: "confirm" });
const take = () => state.current && answer(CFG.multi_label
  ? { action: "relabel", labels: state.current.suggested }
  : { action: "relabel", label: state.current.suggested[0] });
const pick = (name) => answer({ action: "relabel", label: name });

$("keep").addEventListener("click", keep);
$("take").addEventListener("click", take);
for (const b of choices) b.addEventListener("click", () => pick(b.dataset.label));
$("scan").addEventListener("click", async () => {
  $("scan").disabled = true;
  try { await api(`${BASE}/scan`, { method: "POST" }); await load(); }
  catch (e) { $("notice").textContent = `Could not start a scan: ${e.detail ?? e}`; }
  finally { $("scan").disabled = false; }
});
document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target.closest("button") && e.key === "Enter") return;
  if (e.key === "k" || e.key === "K") { e.preventDefault(); keep(); }
  else if (e.key === "Enter") { e.preventDefault(); take(); }
  else if (/^[0-9]$/.test(e.key) && !CFG.multi_label) {
    const i = e.key === "0" ? 9 : Number(e.key) - 1;
    if (choices[i]) { e.preventDefault(); pick(choices[i].dataset.label); }
  }
});
load();
