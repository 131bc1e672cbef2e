// The dashboard's auto-accept panel: preview a class's threshold for a target precision
// (the precision measured on held-out labels, with its interval), then accept the items
// above it as model-accepted labels (admins), or undo that batch.
import { api } from "/static/api.js";
import { pct } from "/static/charts.js";

const root = document.getElementById("dashboard");
const projectId = root.dataset.projectId;
const isAdmin = root.dataset.admin === "true";
const form = document.getElementById("aa-form");
const $ = (id) => document.getElementById(id);
let shown = null; // the preview on screen: what "Accept" sends
let batch = null;

function say(id, text) { $(id).textContent = text; }

async function preview() {
  const f = new FormData(form);
  const label = String(f.get("label"));
  const target = Number(f.get("target"));
  shown = null;
  $("aa-accept").hidden = true;
  say("aa-message", "measuring…");
  let p;
  try {
    p = await api(`/api/projects/${projectId}/auto-accept?${new URLSearchParams({ label, target: String(target) })}`);
  } catch (err) {
    $("aa-preview").hidden = true;
    say("aa-message", err.detail || err.message);
    return;
  }
  const d = p.difficulty;
  say("aa-difficulty", `${d.easy} easy, ${d.medium} medium, ${d.hard} hard`);
  if (p.threshold === null) {
    $("aa-preview").hidden = true;
    say("aa-message", `No threshold meets ${pct(target)} precision for ${label} on the ${p.n_evaluation} labelled held-out items (model v${p.model_version}): label more held-out items, or lower the target.`);
    return;
  }
  say("aa-message", `Model v${p.model_version}, measured on ${p.n_evaluation} labelled held-out items.`);
  say("aa-threshold", `confidence ≥ ${p.threshold.toFixed(3)}`);
  say("aa-precision", `${pct(p.precision)} (95 % interval ${pct(p.low)}–${pct(p.high)}) on ${p.n_measured} held-out predictions of ${label}`);
  say("aa-count", `${p.n_would_accept} unlabelled item${p.n_would_accept === 1 ? "" : "s"}`);
  $("aa-preview").hidden = false;
  if (isAdmin && p.n_would_accept > 0) {
    shown = { label, target, threshold: p.threshold, n: p.n_would_accept, precision: p.precision };
    say("aa-accept", `Accept ${p.n_would_accept} item${p.n_would_accept === 1 ? "" : "s"} as ${label}`);
    $("aa-accept").hidden = false;
  }
}

async function accept() {
  if (!shown) return;
  const s = shown;
  if (!window.confirm(`Label ${s.n} items as ${s.label}, accepted from the model (measured precision ${pct(s.precision)})? They are marked as model-accepted and kept out of evaluation.`)) return;
  $("aa-accept").disabled = true;
  try {
    const r = await api(`/api/projects/${projectId}/auto-accept`, { method: "POST", json: { label: s.label, target: s.target, threshold: s.threshold } });
    batch = r.batch;
    say("aa-result", `Accepted ${r.accepted} item${r.accepted === 1 ? "" : "s"} as ${r.label} (model v${r.model_version}; precision ${pct(r.precision)}, 95 % interval ${pct(r.low)}–${pct(r.high)} on ${r.n_measured} held-out predictions).`);
    $("aa-undo").hidden = !batch;
  } catch (err) {
    say("aa-result", `Nothing accepted: ${err.detail || err.message}`);
  } finally {
    $("aa-accept").disabled = false;
  }
  await preview();
}

async function undo() {
  if (!batch || !window.confirm("Retract every label of this batch that still stands?")) return;
  try {
    const r = await api(`/api/projects/${projectId}/auto-accept/undo`, { method: "POST", json: { batch } });
    say("aa-result", `Retracted ${r.retracted} model-accepted label${r.retracted === 1 ? "" : "s"}.`);
    batch = null;
    $("aa-undo").hidden = true;
  } catch (err) {
    say("aa-result", `Not undone: ${err.detail || err.message}`);
  }
  await preview();
}

form.addEventListener("submit", (e) => { e.preventDefault(); preview(); });
$("aa-accept").addEventListener("click", accept);
$("aa-undo").addEventListener("click", undo);
