// The disagreement review queue: items whose annotators disagree, one at a time, with every
// annotator's answer and the majority; Enter takes the majority, a number picks a label.
import { api, el } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const CFG = JSON.parse($("disagreements-config").textContent);
const BASE = `/api/projects/${CFG.project_id}`;
const names = (labels) => (labels.length ? labels.join(", ") : "no label");
const state = { items: [], current: null, busy: false, q: null };
const choices = [...document.querySelectorAll("#choices button")];

function describe(q) {
  return `${q.n_open} to review · ${q.n_reviewed} reviewed`;
}

async function load() {
  try {
    const q = await api(`${BASE}/disagreements?limit=200`);
    state.q = q;
    state.items = q.items;
    $("queue-status").textContent = describe(q);
    $("empty-why").textContent = "Every item the annotators disagree on has a final label.";
  } catch (e) {
    state.items = [];
    $("queue-status").textContent = "";
    $("empty-why").textContent = e.status === 403
      ? "Reviewing disagreements needs the project's reviewer or admin role."
      : `Could not load the queue: ${e.detail ?? e}`;
  }
  show(state.items[0] ?? null);
}

function show(item) {
  state.current = item;
  const has = !!item;
  for (const id of ["item", "verdict", "actions"]) $(id).hidden = !has;
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
  $("answers-list").replaceChildren(...item.answers.map((a) => el("li", { "data-user": a.username },
    el("span", { class: "k" }, a.username), " ", el("strong", {}, names(a.labels)))));
  const share = `${Math.round(item.consensus_share * 100)} % of the answers`;
  const earlier = item.reviewed ? ` · reviewed before as ${names(item.reviewed)}` : "";
  $("majority").replaceChildren(el("span", { class: "k" }, "Majority"), " ",
    el("strong", {}, names(item.consensus)), ` · ${share}${earlier}`);
  $("take-name").textContent = `Take ${names(item.consensus)}`;
  const given = new Set(item.answers.flatMap((a) => a.labels));
  for (const b of choices) b.classList.toggle("earlier", given.has(b.dataset.label));
}

async function resolve(body) {
  const item = state.current;
  if (!item || state.busy) return;
  state.busy = true;
  try {
    await api(`${BASE}/items/${item.item_id}/resolve`, { method: "POST", json: { ...body, request_id: crypto.randomUUID() } });
    state.items.shift();
    state.q.n_open -= 1;
    state.q.n_reviewed += 1;
    $("queue-status").textContent = describe(state.q);
    show(state.items[0] ?? null);
    if (!state.items.length) await load();
  } catch (e) {
    $("notice").textContent = `Not saved: ${e.detail ?? e}`;
  } finally {
    state.busy = false;
  }
}

const take = () => state.current && state.current.consensus.length && resolve(CFG.multi_label
  ? { labels: state.current.consensus } : { label: state.current.consensus[0] });
const pick = (name) => resolve({ label: name });

$("take").addEventListener("click", take);
for (const b of choices) b.addEventListener("click", () => pick(b.dataset.label));
document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target.closest("button") && e.key === "Enter") return;
  if (e.key === "Enter") { e.preventDefault(); take(); }
  else if (/^[0-9]$/.test(e.key) && !CFG.multi_label) {
    const i = e.key === "0" ? 9 : Number(e.key) - 1;
    if (choices[i]) { e.preventDefault(); pick(choices[i].dataset.label); }
  }
});
load();
