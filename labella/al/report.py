"""A self-contained HTML report of a ``labella simulate`` result (``--report``).

Learning curves with the spread over seeds, labels to reach 95 % of the full-pool score per
strategy, and the live audit's "labels saved vs random" estimate next to the truth the
simulation knows. Plotly's JavaScript is inlined from the ``plotly`` package, so the file
opens offline and needs nothing else.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from labella.al.metrics import savings

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _num(v: Any) -> float | None:
    """JSON-safe number: ``"inf"`` and infinities become None (a gap in a plot)."""
    if v is None or v == "inf" or (isinstance(v, float) and (math.isinf(v) or math.isnan(v))):
        return None
    return float(v)


def curves_figure(result: dict[str, Any]) -> dict[str, Any]:
    """Mean learning curve per strategy with a band from the lowest to the highest seed."""
    traces: list[dict[str, Any]] = []
    for i, (name, s) in enumerate(result["strategies"].items()):
        colour = COLOURS[i % len(COLOURS)]
        scores = np.asarray(s["scores"], dtype=float)
        lo, hi = scores.min(axis=0), scores.max(axis=0)
        x = list(s["labels"])
        traces.append({"x": x + x[::-1], "y": list(hi) + list(lo[::-1]), "fill": "toself",
                       "fillcolor": colour, "opacity": 0.15, "line": {"width": 0},
                       "hoverinfo": "skip", "showlegend": False, "type": "scatter"})
        traces.append({"x": x, "y": s["mean"], "name": name, "type": "scatter",
                       "mode": "lines", "line": {"color": colour}})
    target = 0.95 * result["full_score"]
    return {"data": traces, "layout": {
        "title": {"text": "Learning curves (mean over seeds; band: lowest to highest seed)"},
        "xaxis": {"title": {"text": "labels"}}, "yaxis": {"title": {"text": result["metric"]}},
        "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": target,
                    "y1": target, "line": {"dash": "dot", "color": "#555"}}],
        "annotations": [{"xref": "paper", "x": 1, "y": target, "text": "95 % target",
                         "showarrow": False, "yanchor": "bottom", "xanchor": "right"}]}}


def audit_figure(name: str, records: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Per seed: the estimate of labels saved (line, 90 % band) and the truth (dots)."""
    traces: list[dict[str, Any]] = []
    for i, run in enumerate(records):
        colour = COLOURS[i % len(COLOURS)]
        x = [r["n_labels"] for r in run if r["labels_saved_low"] is not None]
        rs = [r for r in run if r["labels_saved_low"] is not None]
        if not rs:
            continue
        lo = [_num(r["labels_saved_low"]) for r in rs]
        hi = [_num(r["labels_saved_high"]) for r in rs]
        top = max([v for v in hi + [_num(r["true_labels_saved"]) for r in rs] if v is not None] + [0])
        hi_drawn = [top * 1.1 if v is None else v for v in hi]  # "more than the pool": top
        traces.append({"x": x + x[::-1], "y": hi_drawn + lo[::-1], "fill": "toself",
                       "fillcolor": colour, "opacity": 0.12, "line": {"width": 0},
                       "hoverinfo": "skip", "showlegend": False, "type": "scatter"})
        traces.append({"x": x, "y": [_num(r["labels_saved"]) for r in rs], "mode": "lines",
                       "name": f"seed {i}: estimate", "line": {"color": colour}, "type": "scatter"})
        traces.append({"x": x, "y": [_num(r["true_labels_saved"]) for r in rs], "mode": "markers",
                       "name": f"seed {i}: truth", "marker": {"color": colour, "symbol": "x"},
                       "type": "scatter"})
    return {"data": traces, "layout": {
        "title": {"text": f"{name}: labels saved vs random, live estimate (90 % band) and truth"},
        "xaxis": {"title": {"text": "labels"}},
        "yaxis": {"title": {"text": "labels saved (band cut at the top where unbounded)"}}}}


def _table(result: dict[str, Any]) -> str:
    fs = result["full_score"]
    target = 0.95 * fs
    rnd = result["strategies"].get("random")
    head = ("<tr><th>strategy</th><th>labels to 95 %</th><th>vs random</th>"
            "<th>worst gap to random</th><th>score at the end</th></tr>")
    rows = []
    for name, s in result["strategies"].items():
        ratio, gap = "-", "-"
        if rnd is not None and name != "random":
            sv = savings(s["labels"], s["mean"], rnd["labels"], rnd["mean"], target)
            if sv.factor is not None:
                ratio = f"{'≥' if sv.lower_bound else ''}{sv.factor:.2f}× fewer"
            d = (np.asarray(s["mean"]) - np.asarray(rnd["mean"])) * 100
            j = int(np.argmin(d))
            gap = f"{d[j]:+.1f} points at {s['labels'][j]}"
        l95 = s["labels_to_95"] if s["labels_to_95"] is not None else "not reached"
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{l95}</td><td>{ratio}</td>"
                    f"<td>{gap}</td><td>{s['mean'][-1]:.3f}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _audit_text(name: str, s: dict[str, Any]) -> str:
    cov = s.get("audit_coverage") or {}
    if not cov.get("runs"):
        return ""
    switched = [v for v in s.get("switched_at", []) if v is not None]
    sw = (f"; {len(switched)} run(s) switched to random sampling (at {', '.join(map(str, switched))} labels)"
          if switched else "; no run switched to random sampling")
    return (f"<p><b>{html.escape(name)}</b>: the last 90 % interval of labels saved covers the "
            f"truth in {cov['runs_covered']} of {cov['runs']} runs; over all "
            f"{cov['estimates']} estimates along the runs, {cov['estimate_coverage']:.0%}{sw}.</p>")


def render(result: dict[str, Any], *, plotly_js: str | None = None) -> str:
    """The report as one HTML string."""
    figs = {"curves": curves_figure(result)}
    audit_parts = []
    for name, s in result["strategies"].items():
        if s.get("audit"):
            key = f"audit{len(figs)}"
            figs[key] = audit_figure(name, s["audit"])
            audit_parts.append(_audit_text(name, s) + f'<div id="{key}" class="fig"></div>')
    fs = result["full_score"]
    title = html.escape(f"labella simulate: {result.get('dataset', 'data')}")
    meta = html.escape(f"pool {result['n_pool']}, test {result['n_test']}, {result['metric']}, "
                       f"target 95 % of {fs:.3f} = {0.95 * fs:.3f} "
                       f"(plain logistic regression on the whole pool)")
    audit_html = ("<h2>Live audit: labels saved vs random</h2><p>A share of each batch is drawn "
                  "uniformly at random; from it the audit estimates the model's score and how many "
                  "labels random sampling would have needed for it. The simulation knows the truth: "
                  "the test score, located on random sampling's mean curve.</p>"
                  + "".join(audit_parts)) if audit_parts else ""
    script = "".join(f"Plotly.newPlot({json.dumps(k)}, {json.dumps(v['data'])}, "
                     f"{json.dumps(v['layout'])}, {{responsive: true}});\n"
                     for k, v in figs.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}
td:first-child,th:first-child{{text-align:left}}.fig{{height:460px}}</style>
<script>{plotly_js if plotly_js is not None else _plotly_js()}</script></head>
<body><h1>{title}</h1><p>{meta}</p>
<h2>Labels to reach the target</h2>{_table(result)}
<div id="curves" class="fig"></div>
{audit_html}
<script>{script}</script></body></html>
"""


def write_report(path: Path, result: dict[str, Any]) -> Path:
    """Write :func:`render` of ``result`` to ``path``."""
    path.write_text(render(result), encoding="utf-8")
    return path
