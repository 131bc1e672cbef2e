// Charts for the dashboard, drawn with Plotly (loaded by the page from /static/plotly.min.js),
// and the small formatters the pages share. Every chart uses Plotly.react, so a refresh with
// new data updates the plot in place (no flicker) and one with the same data does nothing.

const COLORS = { accent: "#2563eb", second: "#f59e0b", third: "#10b981", grid: "#e5e7eb", muted: "#6b7280" };
const CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };
const FONT = { family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 12, color: "#1c1e21" };

function layout(extra = {}) {
  return {
    margin: { l: 48, r: 12, t: 14, b: 40 }, height: 280, font: FONT, paper_bgcolor: "#fff",
    plot_bgcolor: "#fff", showlegend: false, ...extra,
  };
}

function empty(message) {
  return {
    xaxis: { visible: false }, yaxis: { visible: false },
    annotations: [{ text: message, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
      font: { color: COLORS.muted, size: 13 } }],
  };
}

const drawn = new WeakMap(); // element -> JSON of what it shows

function draw(el, data, lay) {
  const key = JSON.stringify([data, lay]);
  if (drawn.get(el) === key) return;
  drawn.set(el, key);
  window.Plotly.react(el, data, lay, CONFIG);
  el.dataset.points = String(data.reduce((n, t) => n + ((t.y || t.z || []).length || 0), 0));
}

export function pct(x) { return x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`; }

export function eta(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "";
  if (seconds < 1) return "less than a second left";
  if (seconds < 90) return `about ${Math.round(seconds)} s left`;
  if (seconds < 5400) return `about ${Math.round(seconds / 60)} min left`;
  return `about ${(seconds / 3600).toFixed(1)} h left`;
}

export function metricName(metric) {
  return { accuracy: "accuracy", macro_f1: "macro F1", micro_f1: "micro F1" }[metric] || (metric || "score").replace(/_/g, " ");
}

/** Score over number of labels; ``curve``: [{n_labels, score, source, model_version}]. */
export function learningCurve(el, curve, metric) {
  if (!curve.length) {
    draw(el, [], layout(empty("No score yet: the first appears after about ten labels.")));
    return;
  }
  const trace = {
    x: curve.map((c) => c.n_labels), y: curve.map((c) => c.score), type: "scatter", mode: "lines+markers",
    line: { color: COLORS.accent, width: 2 }, marker: { size: 6 },
    text: curve.map((c) => `v${c.model_version} · ${c.source === "evaluation" ? "held-out set" : "cross-validation"}`),
    hovertemplate: "%{x} labels: %{y:.3f}<br>%{text}<extra></extra>",
  };
  draw(el, [trace], layout({
    xaxis: { title: { text: "labels" }, gridcolor: COLORS.grid, rangemode: "tozero" },
    yaxis: { title: { text: metricName(metric) }, gridcolor: COLORS.grid, range: [0, 1.02] },
  }));
}

/** Rows are the true class, columns the predicted one. */
export function confusionMatrix(el, matrix, names) {
  if (!matrix || !matrix.length) { draw(el, [], layout(empty("No evaluation yet."))); return; }
  const z = matrix.map((row) => { const s = row.reduce((a, b) => a + b, 0); return row.map((v) => (s ? v / s : 0)); });
  const trace = {
    z, x: names, y: names, type: "heatmap", colorscale: [[0, "#f5f7fb"], [1, COLORS.accent]], zmin: 0, zmax: 1,
    customdata: matrix, showscale: false, xgap: 1, ygap: 1,
    hovertemplate: "true %{y}, predicted %{x}: %{customdata} items<extra></extra>",
  };
  const annotations = [];
  matrix.forEach((row, i) => row.forEach((v, j) => annotations.push({
    x: names[j], y: names[i], text: String(v), showarrow: false,
    font: { color: z[i][j] > 0.65 ? "#fff" : FONT.color },
  })));
  draw(el, [trace], layout({
    height: Math.max(280, 40 + 34 * names.length), margin: { l: 90, r: 12, t: 8, b: 60 },
    xaxis: { title: { text: "predicted" }, type: "category", automargin: true },
    yaxis: { title: { text: "true" }, type: "category", autorange: "reversed", automargin: true },
    annotations,
  }));
}

/** ``per``: {name: {precision, recall, f1, support}}; ``keys``: which bars, e.g. ["f1"]. */
export function perClassBars(el, per, keys) {
  const names = Object.keys(per || {});
  if (!names.length) { draw(el, [], layout(empty("No evaluation yet."))); return; }
  const colors = { precision: COLORS.accent, recall: COLORS.second, f1: COLORS.third };
  const traces = keys.map((k) => ({
    x: names, y: names.map((n) => per[n][k]), name: k === "f1" ? "F1" : k, type: "bar",
    marker: { color: colors[k] }, customdata: names.map((n) => per[n].support),
    hovertemplate: `%{x}: ${k} %{y:.2f} (support %{customdata})<extra></extra>`,
  }));
  draw(el, traces, layout({
    barmode: "group", showlegend: keys.length > 1, legend: { orientation: "h", y: 1.12, x: 0 },
    margin: { l: 48, r: 12, t: keys.length > 1 ? 28 : 8, b: 60 },
    xaxis: { type: "category", automargin: true }, yaxis: { range: [0, 1.02], gridcolor: COLORS.grid },
  }));
}

/** How many labels each class has: ``counts``: {name: n}. */
export function labelDistribution(el, counts) {
  const names = Object.keys(counts || {});
  const total = names.reduce((n, k) => n + counts[k], 0);
  if (!total) { draw(el, [], layout(empty("No labels yet."))); return; }
  draw(el, [{
    x: names, y: names.map((n) => counts[n]), type: "bar", marker: { color: COLORS.accent },
    hovertemplate: "%{x}: %{y} labels<extra></extra>",
  }], layout({ xaxis: { type: "category", automargin: true }, yaxis: { gridcolor: COLORS.grid, rangemode: "tozero" } }));
}
