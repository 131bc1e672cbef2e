// The dashboard: numbers, charts, jobs and the stopping advice, refreshed every few seconds.
// Each refresh changes only what changed (text nodes, Plotly.react), so nothing flickers.
import { api, el } from "/static/api.js";
import { confusionMatrix, eta, labelDistribution, learningCurve, metricName, pct, perClassBars } from "/static/charts.js";

const REFRESH_MS = 3000;
const root = document.getElementById("dashboard");
const projectId = root.dataset.projectId;
const multi = root.dataset.multiLabel === "true";
const isAdmin = root.dataset.admin === "true";
const $ = (id) => document.getElementById(id);

function setText(id, text) {
  const node = $(id);
  if (node && node.textContent !== text) node.textContent = text;
}

function sourceText(source) {
  if (source === "evaluation") return "on the held-out items";
  if (source === "cross_validation") return "cross-validated on the labels";
  return "not measured yet";
}

function renderMetrics(m) {
  setText("stat-labeled", m.n_labeled.toLocaleString("en"));
  setText("stat-pool", m.n_pool.toLocaleString("en"));
  // imported labels make "all labelled" while the items are still being embedded: say so
  const embedding = $("stat-embedding");
  const waiting = m.n_unfeaturised || 0;
  embedding.hidden = !waiting;
  setText("stat-embedding", waiting ? `embedding: ${waiting.toLocaleString("en")} items not embedded yet; the model waits for them` : "");
  const byModel = m.n_model_accepted || 0;
  setText("stat-sources", `${(m.n_labeled - byModel).toLocaleString("en")} labelled by people, ${byModel.toLocaleString("en")} accepted from the model`);
  const bar = $("stat-progress");
  bar.max = Math.max(m.n_pool, 1);
  bar.value = m.n_labeled;
  setText("stat-version", (m.model_version ? `v${m.model_version}` : "none yet")
    + (m.refit_pending ? " (refitting…)" : ""));
  const s = m.scores || {};
  setText("stat-metric", s.metric ? metricName(s.metric) : "Score");
  setText("stat-score", s.score === null || s.score === undefined ? "–" : pct(s.score));
  setText("stat-source", sourceText(s.source) + (s.n_items ? ` (${s.n_items} items)` : ""));
  setText("stat-eval", String(m.n_evaluation));
  setText("stat-eval-labeled", String(m.n_evaluation_labeled));

  const stop = m.stop || {};
  const box = $("stop");
  const state = stop.stop ? "stop" : (stop.criterion ? "go" : "unknown");
  if (box.dataset.stop !== state) box.dataset.stop = state;
  setText("stop-verdict", stop.stop ? "You can stop labelling" : "Keep labelling");
  // the advice for people ("stop soon: predictions changed on 0.4 % of items ..."), minus its verdict
  setText("stop-reason", (stop.advice || stop.reason || "").replace(/^(keep labelling|stop soon|stop)\s*:\s*/i, ""));

  renderAudit(m.audit || {});
  learningCurve($("chart-curve"), m.learning_curve || [], s.metric);
  const per = multi ? s.per_label : s.per_class;
  if (multi) perClassBars($("chart-per-label"), per, ["f1"]);
  else confusionMatrix($("chart-confusion"), s.confusion_matrix, s.class_names || Object.keys(m.label_counts || {}));
  perClassBars($("chart-per-class"), per, ["precision", "recall"]);
  labelDistribution($("chart-labels"), m.label_counts);
  renderTable(per || {});
}

// The live audit: labels saved against random sampling, with its 90 % interval.
function labelsText(x) {
  if (x === "inf") return "more than the pool";
  return x === null || x === undefined ? "–" : String(Math.round(x));
}

function renderAudit(a) {
  const box = $("audit");
  const e = a.latest;
  const verdict = e && e.labels_saved !== null && e.labels_saved !== undefined ? e.verdict : "none";
  if (box.dataset.verdict !== verdict) box.dataset.verdict = verdict;
  if (verdict === "none") {
    setText("audit-saved", a.enabled ? "not estimated yet" : "no audit (this strategy draws at random)");
    setText("audit-interval", "");
    if (e && e.reason) setText("audit-reason", e.reason);
    return;
  }
  const pct = Math.round((e.level || 0.9) * 100);
  setText("audit-saved", `${labelsText(e.labels_saved)} labels saved`);
  setText("audit-interval", `(${pct} % interval ${labelsText(e.labels_saved_low)} to ${labelsText(e.labels_saved_high)}; ` +
    `${e.n_audit} random audit labels of ${e.n_labels})`);
  setText("audit-reason", e.reason || "");
}

function renderEvents(events) {
  const list = $("audit-events");
  const key = events.map((e) => e.id).join(",");
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...events.map((e) => el("li", { "data-kind": e.kind }, el("strong", {}, when(e.created_at)), " ", e.message)));
}

let tableKey = "";

function renderTable(per) {
  const key = JSON.stringify(per);
  if (key === tableKey) return;
  tableKey = key;
  const num = (x) => (x === null || x === undefined ? "–" : x.toFixed(2));
  document.querySelector("#per-class-table tbody").replaceChildren(...Object.entries(per).map(([name, v]) =>
    el("tr", {}, el("td", {}, name), el("td", {}, num(v.precision)), el("td", {}, num(v.recall)),
      el("td", {}, num(v.f1)), el("td", {}, String(v.support)))));
}

const KIND = { import: "Import", featurise: "Embeddings", retrain: "Retrain" };
const jobNodes = new Map(); // job id -> <li>

function jobNode(job) {
  let li = jobNodes.get(job.id);
  if (!li) {
    li = el("li", { class: "job", "data-job-id": String(job.id) },
      el("div", { class: "job-head" }, el("strong", {}, `${KIND[job.kind] || job.kind} #${job.id}`),
        el("span", { class: "job-status" })),
      el("progress", { max: "1" }),
      el("div", { class: "job-meta" }, el("span", { class: "job-message" }), el("span", { class: "job-eta" })));
    if (isAdmin) {
      const cancel = el("button", { type: "button", class: "link job-cancel" }, "Cancel");
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try { await api(`/api/jobs/${job.id}/cancel`, { method: "POST" }); } catch (err) { cancel.textContent = err.detail || "could not cancel"; }
        refresh();
      });
      li.querySelector(".job-head").append(cancel);
    }
    jobNodes.set(job.id, li);
  }
  const active = job.status === "running" || job.status === "queued";
  li.dataset.status = job.status;
  li.querySelector(".job-status").textContent = job.status;
  const bar = li.querySelector("progress");
  const frac = job.status === "succeeded" ? 1 : job.progress ?? (job.total ? job.done / job.total : null);
  if (frac === null || frac === undefined) bar.removeAttribute("value"); else bar.value = frac;
  bar.hidden = !active;
  li.querySelector(".job-message").textContent = job.error || job.message || "";
  li.querySelector(".job-eta").textContent = job.status === "running" ? eta(job.eta_seconds) : (job.finished_at ? `finished ${when(job.finished_at)}` : "");
  const cancel = li.querySelector(".job-cancel");
  if (cancel) cancel.hidden = !active;
  return li;
}

function when(iso) {
  const t = new Date(iso.endsWith("Z") || iso.includes("+") ? iso : `${iso}Z`);
  const s = (Date.now() - t.getTime()) / 1000;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return t.toLocaleDateString();
}

function renderJobs(jobs) {
  const active = jobs.filter((j) => j.status === "running" || j.status === "queued");
  const recent = jobs.filter((j) => !active.includes(j)).slice(0, 3);
  const shown = [...active, ...recent];
  const list = $("job-list");
  const nodes = shown.map(jobNode);
  if (nodes.length !== list.children.length || nodes.some((n, i) => list.children[i] !== n)) list.replaceChildren(...nodes);
  for (const id of jobNodes.keys()) if (!shown.some((j) => j.id === id)) jobNodes.delete(id);
  setText("jobs-empty", active.length ? "" : (recent.length ? "Nothing running; the latest jobs:" : "No jobs yet."));
}

function renderAgreement(a) {
  const alpha = a.alpha === null ? null : a.alpha.toFixed(2);
  setText("agreement-alpha", alpha === null ? "no item has two answers yet" : `Krippendorff's alpha ${alpha}`);
  setText("agreement-n", `on ${a.alpha_n_items} item(s) with two or more answers; ${a.n_annotators} annotator(s)`);
  const num = (v, d) => (v === null || v === undefined ? "–" : v.toFixed(d));
  const rows = a.annotators.map((r) => el("tr", { "data-user": r.username },
    el("td", {}, r.username), el("td", {}, String(r.labels)), el("td", {}, num(r.seconds_per_label, 1)),
    el("td", {}, r.agreement_with_consensus === null ? "–" : pct(r.agreement_with_consensus)),
    el("td", {}, String(r.agreement_n_items))));
  const body = $("agreement-table").tBodies[0];
  const key = JSON.stringify(a.annotators);
  if (body.dataset.key !== key) { body.replaceChildren(...rows); body.dataset.key = key; }
}

let timer = null;

async function refresh() {
  clearTimeout(timer);
  if (!document.hidden) {
    try {
      const [metrics, jobs, events, agreement] = await Promise.all([
        api(`/api/projects/${projectId}/metrics`), api(`/api/projects/${projectId}/jobs?limit=20`),
        api(`/api/projects/${projectId}/events`), api(`/api/projects/${projectId}/agreement`)]);
      renderMetrics(metrics);
      renderJobs(jobs);
      renderEvents(events);
      renderAgreement(agreement);
      setText("updated", `updated ${new Date().toLocaleTimeString()}`);
      root.dataset.loaded = "true";
    } catch (err) {
      setText("updated", `could not refresh: ${err.detail || err.message}`);
    }
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
refresh();
