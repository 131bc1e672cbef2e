// The data map: start the projection job, follow its progress, draw the points (Plotly,
// WebGL), colour them, and act on a lasso: browse the region, or queue its items for me.
import { api, el } from "/static/api.js";

const root = document.getElementById("datamap");
const projectId = root.dataset.projectId;
const hasUmap = root.dataset.hasUmap === "true";
const maxQueue = Number(root.dataset.maxQueue);
const $ = (id) => document.getElementById(id);
const plot = $("map-plot");

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#17becf", "#bcbd22", "#393b79", "#ad494a", "#637939", "#7b4173", "#3182bd", "#e6550d"];
const NONE = "#c4c4c4";
const MAX_VERTICES = 100; // a region travels in the browser's URL
const TRACE = webglWorks() ? "scattergl" : "scatter";

let map = null; // the last answer of GET /api/projects/{id}/map
let traceRows = []; // per drawn trace: the row (index into map.ids) of each of its points
let selection = null; // { rows, region }
let timer = null;

function webglWorks() {
  try {
    const c = document.createElement("canvas");
    return Boolean(c.getContext("webgl2") || c.getContext("webgl"));
  } catch (_) {
    return false;
  }
}

const fmt = (n) => Number(n).toLocaleString("en");

function showError(message) {
  $("map-error").textContent = message || "";
  $("map-error").hidden = !message;
}

function showProgress(job) {
  $("map-progress").hidden = !job;
  if (!job) return;
  const pct = job.progress === null ? null : job.progress;
  $("map-status").textContent = `Making the map: ${job.message || job.status}` +
    (pct === null ? "" : ` (${Math.round(pct * 100)} %)`) +
    (job.eta_seconds ? `, about ${Math.ceil(job.eta_seconds)} s left` : "");
  if (pct === null) $("map-bar").removeAttribute("value"); else $("map-bar").value = pct;
}

async function start(refresh) {
  showError("");
  try {
    await api(`/api/projects/${projectId}/map${refresh ? "?refresh=true" : ""}`, { method: "POST" });
  } catch (err) {
    showError(`Could not start the map: ${err.detail || err.message}`);
    return;
  }
  load();
}

async function load() {
  clearTimeout(timer);
  let m;
  try {
    m = await api(`/api/projects/${projectId}/map`);
  } catch (err) {
    showError(`Could not load the map: ${err.detail || err.message}`);
    return;
  }
  const busy = m.status === "queued" || m.status === "running";
  showProgress(busy ? m.job : null);
  if (m.status === "none") {
    if (hasUmap) start(false);
    return;
  }
  if (m.status === "failed") showError(`The map could not be made: ${m.job?.error || "unknown error"}`);
  if (m.ids.length && (map === null || map.job?.id !== m.job?.id || !busy)) {
    map = m;
    draw();
  }
  if (busy) timer = setTimeout(load, 1000);
}

function note(m) {
  const parts = [`${fmt(m.n_items)} items, ${m.method === "umap" ? "UMAP" : "PCA"} of their embeddings`];
  if (m.model_version !== null) parts.push(`predictions of model version ${m.model_version}`);
  let text = parts.join("; ") + ".";
  if (m.n_shown < m.n_items) {
    text += ` Showing ${fmt(m.n_shown)} of ${fmt(m.n_items)} points (every labelled item and a` +
      " random sample of the others) so that the map stays interactive; \"Show in the data" +
      " browser\" covers every item in the region, drawn or not.";
  }
  if (m.n_missing) text += ` ${fmt(m.n_missing)} items were added since the map was made: recompute it to place them.`;
  if (TRACE === "scatter") text += " (WebGL is not available in this browser: drawn without it, slower.)";
  return text;
}

function groups(m, by) {
  // [{ name, rows, colour }] or, for confidence, a continuous colour per point
  const n = m.ids.length;
  if (by === "confidence") {
    const have = [], none = [];
    for (let r = 0; r < n; r++) (m.confidence[r] === null ? none : have).push(r);
    return [{ name: "confidence", rows: have, values: have.map((r) => m.confidence[r]) },
      { name: "no prediction", rows: none, colour: NONE }];
  }
  const col = m[by];
  const rows = col.values.map(() => []);
  const none = [];
  col.codes.forEach((c, r) => (c < 0 ? none : rows[c]).push(r));
  const out = col.values.map((v, k) => ({ name: v, rows: rows[k], colour: PALETTE[k % PALETTE.length] }));
  const empty = { label: "unlabelled", prediction: "no prediction", annotator: "nobody", split: "?" }[by];
  out.push({ name: empty, rows: none, colour: NONE });
  return out.filter((g) => g.rows.length);
}

function hover(m, r) {
  const lab = m.label.codes[r] < 0 ? "unlabelled" : m.label.values[m.label.codes[r]];
  const pred = m.prediction.codes[r] < 0 ? "–" : m.prediction.values[m.prediction.codes[r]];
  const conf = m.confidence[r] === null ? "" : ` (${Math.round(m.confidence[r] * 100)} %)`;
  return `#${m.ids[r]} · ${lab}<br>predicted ${pred}${conf}`;
}

function draw() {
  const m = map;
  $("map-note").textContent = note(m);
  const by = $("colour-by").value;
  const gs = groups(m, by);
  traceRows = gs.map((g) => g.rows);
  const size = m.ids.length > 20000 ? 3 : m.ids.length > 2000 ? 5 : 7;
  const traces = gs.map((g) => ({
    type: TRACE, mode: "markers", name: `${g.name} (${fmt(g.rows.length)})`,
    x: g.rows.map((r) => m.x[r]), y: g.rows.map((r) => m.y[r]),
    text: g.rows.map((r) => hover(m, r)), hoverinfo: "text",
    marker: g.values ? { size, color: g.values, colorscale: "Viridis", cmin: 0, cmax: 1, showscale: true,
      colorbar: { title: { text: "confidence" }, thickness: 12 } }
      : { size, color: g.colour },
  }));
  const layout = {
    dragmode: "lasso", uirevision: "map", hovermode: "closest",
    margin: { l: 10, r: 10, t: 10, b: 10 }, showlegend: true, legend: { itemsizing: "constant" },
    xaxis: { showticklabels: false, zeroline: false, showgrid: false },
    yaxis: { showticklabels: false, zeroline: false, showgrid: false, scaleanchor: "x" },
  };
  Plotly.react(plot, traces, layout, { responsive: true, displaylogo: false, scrollZoom: true });
  if (!plot.dataset.listening) { // Plotly's own events, on the div once it is a plot
    plot.dataset.listening = "true";
    plot.on("plotly_selected", select);
    plot.on("plotly_deselect", () => select(null));
  }
  select(null);
}

function polygon(ev) {
  let pts;
  if (ev.lassoPoints) pts = ev.lassoPoints.x.map((x, k) => [x, ev.lassoPoints.y[k]]);
  else if (ev.range) {
    const [x0, x1] = ev.range.x, [y0, y1] = ev.range.y;
    pts = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
  } else return null;
  const step = Math.ceil(pts.length / MAX_VERTICES);
  return pts.filter((_, k) => k % step === 0).map(([x, y]) => `${x.toFixed(4)},${y.toFixed(4)}`).join(";");
}

function queueable(rows) {
  // unlabelled pool items of the selection, least confident first
  const pool = map.split.values.indexOf("pool");
  return rows.filter((r) => map.label.codes[r] < 0 && map.split.codes[r] === pool)
    .sort((a, b) => (map.confidence[a] ?? 2) - (map.confidence[b] ?? 2));
}

function select(ev) {
  const rows = ev?.points?.map((p) => traceRows[p.curveNumber][p.pointIndex ?? p.pointNumber]) ?? [];
  const region = ev ? polygon(ev) : null;
  selection = rows.length || region ? { rows, region } : null;
  $("selection").hidden = !selection;
  $("selection-status").textContent = "";
  if (!selection) return;
  const q = queueable(rows);
  $("selection-info").textContent = `${fmt(rows.length)} points selected, ${fmt(q.length)} of them` +
    " unlabelled in the labelling pool";
  $("selection-browse").hidden = !region;
  if (region) $("selection-browse").href = `/projects/${projectId}/data?region=${encodeURIComponent(region)}`;
  $("selection-queue").disabled = !q.length;
}

async function queue() {
  const ids = queueable(selection?.rows ?? []).map((r) => map.ids[r]);
  if (!ids.length) return;
  const sent = ids.slice(0, maxQueue);
  const status = $("selection-status");
  try {
    const r = await api(`/api/projects/${projectId}/queue`, { method: "POST", json: { item_ids: sent } });
    status.replaceChildren(
      `Queued ${fmt(sent.length)} for you, least confident first` +
      (sent.length < ids.length ? ` (the first ${fmt(maxQueue)} of ${fmt(ids.length)})` : "") +
      `; ${fmt(r.item_ids.length)} in your queue. `,
      el("a", { href: `/projects/${projectId}/label`, id: "label-now" }, "Label them now"));
  } catch (err) {
    status.textContent = `Not queued: ${err.detail || err.message}`;
  }
}

$("colour-by").addEventListener("change", () => { if (map) draw(); });
$("map-refresh").addEventListener("click", () => start(true));
$("selection-queue").addEventListener("click", queue);
load();
