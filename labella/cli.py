"""The ``labella`` command."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from labella.errors import LabellaError

if TYPE_CHECKING:
    from labella.features.base import Modality

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Labella: label the items that teach your model most.",
)
console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=console, transient=False,
    )


@app.command("strategies")
def strategies_cmd(
    markdown: Annotated[bool, typer.Option(help="Print the Markdown reference table.")] = False,
) -> None:
    """List every registered query strategy and pipeline with its description."""
    from labella.al.pipelines import DEFAULT_STRATEGY, PIPELINES
    from labella.al.strategies import REGISTRY
    from labella.al.strategies.registry import markdown_table

    if markdown:
        typer.echo(markdown_table(REGISTRY), nl=False)
        return

    table = Table(title="Query strategies")
    table.add_column("name", style="bold")
    table.add_column("kind")
    table.add_column("description")
    table.add_column("reference", overflow="fold")
    for name, pipe in PIPELINES.items():
        if name == "random":
            continue
        mark = " (default)" if name == DEFAULT_STRATEGY else ""
        table.add_row(name, "pipeline" + mark,
                      f"{pipe.strategy} queries, {pipe.head} head, {pipe.cold_start or 'random'} "
                      "first batch.", "docs/default-strategy.md")
    for info in REGISTRY:
        kinds = [k for k, on in (("single", info.single_label), ("multi", info.multi_label),
                                 ("cold-start", info.cold_start), ("stream", info.stream)) if on]
        table.add_row(info.name, ", ".join(kinds), info.description, info.reference)
    Console(width=200).print(table)


def _featurise(items: list[str], modality: Modality, featuriser: str | None, cache_dir: Path | None,
               progress: Progress):
    from labella.features.cache import EmbeddingCache
    from labella.features.registry import default_featuriser, get_featuriser

    corpus = items if modality == "text" else None  # a corpus-dependent fallback fits on them
    if featuriser == "tfidf":
        feat = get_featuriser(featuriser, corpus=corpus)
    else:
        feat = get_featuriser(featuriser) if featuriser else default_featuriser(modality,
                                                                               corpus=corpus)
    task = progress.add_task(f"featurising ({feat.key})", total=len(items))
    cache = EmbeddingCache(cache_dir or _default_cache_dir() / "embeddings")

    def cb(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return cache.get_or_compute(feat, items, progress=cb), feat.key


def _default_cache_dir() -> Path:
    return Path(os.environ.get("LABELLA_CACHE_DIR", Path.home() / ".cache" / "labella"))


def run_simulation(
    data_path: str | Path, *, task: str | None, multi_label: bool | None, strategies: str | None,
    budget: int, batch_size: int, initial: int, seeds: int, test_fraction: float,
    featuriser: str | None, cache_dir: Path | None,
) -> dict:
    """Load, featurise, split and simulate; returns the result JSON as a dict."""
    import numpy as np

    from labella import datafiles
    from labella.al.pipelines import DEFAULT_STRATEGY, pipeline_for
    from labella.al.simulate import simulate

    data = datafiles.load(data_path, task=task, multi_label=multi_label)
    if data.skipped:
        console.print(f"[yellow]skipped {len(data.skipped)} row(s):[/] " + "; ".join(data.skipped[:5]))
    names = [s.strip() for s in strategies.split(",")] if strategies else [DEFAULT_STRATEGY, "random"]
    if "random" not in names:
        names.append("random")
    pipes = {n: pipeline_for(n) for n in names}
    with _progress() as progress:
        X, key = _featurise(data.items, data.modality, featuriser, cache_dir, progress)
        pool_rows, test_rows = datafiles.split(data, test_fraction=test_fraction, seed=0)
        sim_task = progress.add_task("simulating", total=None)

        def cb(done: int, total: int) -> None:
            progress.update(sim_task, completed=done, total=total)

        body = simulate(
            np.asarray(X[pool_rows]), data.y[pool_rows], np.asarray(X[test_rows]), data.y[test_rows],
            n_classes=data.n_classes, multi_label=data.multi_label, pipelines=pipes,
            budget=budget, batch_size=batch_size, initial=initial, seeds=seeds, progress=cb,
        )
    return {"dataset": data.name, "task": data.modality, "multi_label": data.multi_label,
            "featuriser": key, "classes": data.class_names, **body}


def _summary(result: dict) -> Table:
    from labella.al.metrics import savings

    fs = result["full_score"]
    table = Table(title=f"{result['dataset']}: {result['metric']} target 95% of {fs:.3f} = "
                        f"{0.95 * fs:.3f} (pool {result['n_pool']}, test {result['n_test']})")
    for col in ("strategy", "labels to 95%", "vs random", "score at end", "s / query"):
        table.add_column(col)
    rnd = result["strategies"].get("random")
    for name, s in result["strategies"].items():
        ratio = "-"
        if rnd and name != "random" and s["labels_to_95"]:
            sv = savings(s["labels"], s["mean"], rnd["labels"], rnd["mean"], 0.95 * fs)
            if sv is not None and sv.factor is not None:
                ratio = f"{'>=' if sv.lower_bound else ''}{sv.factor:.2f}x fewer"
        table.add_row(name, str(s["labels_to_95"] or "not reached"), ratio,
                      f"{s['mean'][-1]:.3f}", f"{s['seconds_per_query']:.3f}")
    return table


def _audit_table(result: dict) -> Table | None:
    """The live audit's last estimate per seed next to the truth the simulation knows."""
    rows = [(name, i, run[-1]) for name, s in result["strategies"].items()
            for i, run in enumerate(s.get("audit") or []) if run]
    if not rows:
        return None

    def num(v: float | str | None) -> str:
        return "more than the pool" if v == "inf" else "-" if v is None else f"{float(v):,.0f}"

    table = Table(title="Live audit at the last checkpoint: labels saved vs random "
                        "(estimate, 90% interval) and the truth")
    for col in ("strategy", "seed", "labels", "audit labels", "estimate", "interval", "truth",
                "covered", "verdict"):
        table.add_column(col)
    for name, seed, r in rows:
        table.add_row(name, str(seed), str(r["n_labels"]), str(r["n_audit"]), num(r["labels_saved"]),
                      f"{num(r['labels_saved_low'])} to {num(r['labels_saved_high'])}",
                      num(r["true_labels_saved"]), {True: "yes", False: "no", None: "-"}[r["covered"]],
                      r["verdict"])
    return table


@app.command("simulate")
def simulate_cmd(
    data: Annotated[str, typer.Argument(help="What an import reads: a table (CSV, TSV, JSON, "
                                        "JSONL, Parquet), an image folder, a zip, or s3://.")],
    task: Annotated[str | None, typer.Option(help="text or image (inferred if omitted).")] = None,
    multi_label: Annotated[bool | None, typer.Option(
        "--multi-label/--single-label", help="Inferred from the columns if omitted.")] = None,
    strategies: Annotated[str | None, typer.Option(
        help="Comma-separated names (see `labella strategies`); default: the default and random.")] = None,
    budget: Annotated[int, typer.Option(help="Labels to simulate up to.")] = 500,
    batch_size: Annotated[int, typer.Option(help="Labels per query round.")] = 10,
    initial: Annotated[int, typer.Option(help="Size of the first (cold-start) batch.")] = 10,
    seeds: Annotated[int, typer.Option(help="Repetitions with different seeds.")] = 3,
    test_fraction: Annotated[float, typer.Option(help="Test share when the data has no split.")] = 0.2,
    out: Annotated[Path | None, typer.Option(help="Write the result JSON here.")] = None,
    featuriser: Annotated[str | None, typer.Option(help="Featuriser name (default: by task).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Embedding cache directory.")] = None,
    report: Annotated[Path | None, typer.Option(
        help="Write an HTML report here (learning curves, labels to 95%, the audit vs the truth).")] = None,
    annotators: Annotated[int | None, typer.Option(
        help="Simulate a team of this many noisy annotators and compare always_new, fixed_k "
             "and relabel_vs_new (ActiveLab) instead of strategies.")] = None,
    noise: Annotated[float, typer.Option(
        help="With --annotators: each annotator's error rate is about this (+-0.1).")] = 0.2,
) -> None:
    """Simulate labelling DATA with an oracle and compare strategies against random sampling."""
    if task not in (None, "text", "image"):
        raise typer.BadParameter("--task must be text or image")
    if annotators is not None:
        _crowd_cmd(data, task=task, annotators=annotators, noise=noise, budget=budget,
                   batch_size=batch_size, initial=initial, seeds=seeds,
                   test_fraction=test_fraction, out=out, featuriser=featuriser, cache_dir=cache_dir)
        return
    try:
        result = run_simulation(
            data, task=task, multi_label=multi_label, strategies=strategies, budget=budget,
            batch_size=batch_size, initial=initial, seeds=seeds, test_fraction=test_fraction,
            featuriser=featuriser, cache_dir=cache_dir,
        )
    except LabellaError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if out:
        out.write_text(json.dumps(result, indent=1))
        console.print(f"wrote {out}")
    if report:
        from labella.al.report import write_report

        write_report(report, result)
        console.print(f"wrote {report}")
    Console().print(_summary(result))
    audit_table = _audit_table(result)
    if audit_table is not None:
        Console().print(audit_table)


def run_crowd_simulation(
    data_path: str | Path, *, task: str | None, annotators: int, noise: float, budget: int,
    batch_size: int, initial: int, seeds: int, test_fraction: float, featuriser: str | None,
    cache_dir: Path | None,
) -> dict:
    """Load, featurise, split and simulate a noisy team (:mod:`labella.al.crowd`)."""
    import numpy as np

    from labella import datafiles
    from labella.al.crowd import simulate_crowd

    data = datafiles.load(data_path, task=task, multi_label=False)
    with _progress() as progress:
        X, key = _featurise(data.items, data.modality, featuriser, cache_dir, progress)
        pool_rows, test_rows = datafiles.split(data, test_fraction=test_fraction, seed=0)
        sim_task = progress.add_task("simulating a team", total=None)

        def cb(done: int, total: int) -> None:
            progress.update(sim_task, completed=done, total=total)

        body = simulate_crowd(
            np.asarray(X[pool_rows]), data.y[pool_rows], np.asarray(X[test_rows]),
            data.y[test_rows], n_classes=data.n_classes, annotators=annotators, noise=noise,
            budget=budget, batch_size=batch_size, initial=initial, seeds=seeds, progress=cb,
        )
    return {"dataset": data.name, "featuriser": key, "classes": data.class_names, **body}


def crowd_tables(result: dict) -> tuple[Table, Table]:
    """The policies' mean curves and their labels paid to reach 95 % of the clean score."""
    fs = result["full_score"]
    pol = result["policies"]
    curves = Table(title=f"{result['dataset']}: {result['annotators']} annotators, noise "
                         f"{result['noise']}: mean test accuracy by labels paid")
    curves.add_column("labels paid")
    for name in pol:
        curves.add_column(name)
    labels = next(iter(pol.values()))["labels"]
    step = max(1, len(labels) // 12)
    for i in [*range(0, len(labels) - 1, step), len(labels) - 1]:
        curves.add_row(str(labels[i]), *(f"{p['mean'][i]:.3f}" if i < len(p["mean"]) else "-"
                                         for p in pol.values()))
    summary = Table(title=f"labels paid to reach 95% of the clean full-data score "
                          f"{fs:.3f} (= {0.95 * fs:.3f})")
    for col in ("policy", "mean curve", "per seed", "relabels per run", "score at end"):
        summary.add_column(col)
    for name, p in pol.items():
        seeds = ", ".join("-" if v is None else str(v) for v in p["labels_to_95_per_seed"])
        summary.add_row(name, str(p["labels_to_95"] or "not reached"), seeds,
                        ", ".join(map(str, p["relabels"])), f"{p['mean'][-1]:.3f}")
    return curves, summary


def _crowd_cmd(data: str, *, task: str | None, annotators: int, noise: float, budget: int,
               batch_size: int, initial: int, seeds: int, test_fraction: float,
               out: Path | None, featuriser: str | None, cache_dir: Path | None) -> None:
    try:
        result = run_crowd_simulation(
            data, task=task, annotators=annotators, noise=noise, budget=budget,
            batch_size=batch_size, initial=initial, seeds=seeds, test_fraction=test_fraction,
            featuriser=featuriser, cache_dir=cache_dir)
    except LabellaError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if out:
        out.write_text(json.dumps(result, indent=1))
        console.print(f"wrote {out}")
    for table in crowd_tables(result):
        Console().print(table)


@app.command("demo")
def demo_cmd(
    budget: Annotated[int, typer.Option(help="Labels to simulate up to.")] = 150,
    seeds: Annotated[int, typer.Option(help="Repetitions with different seeds.")] = 2,
    out: Annotated[Path | None, typer.Option(help="Write the result JSON here.")] = None,
    featuriser: Annotated[str, typer.Option(
        help="Featuriser; 8x8 digits separate best on their pixels (efficientnet_lite0 also works).",
    )] = "pixels",
) -> None:
    """Offline demo: simulate active learning on scikit-learn's bundled digits images."""
    from labella.demo import write_digits

    folder = write_digits(_default_cache_dir() / "demo" / "digits")
    console.print(f"digits images in {folder}")
    simulate_cmd(str(folder), task="image", multi_label=False, strategies=None, budget=budget,
                 batch_size=20, initial=10, seeds=seeds, test_fraction=0.2, out=out,
                 featuriser=featuriser, cache_dir=None, report=None)


def _register_server_commands() -> None:
    from labella.cli_server import register

    register(app)


_register_server_commands()


def main() -> None:
    logging.basicConfig(level=os.environ.get("LABELLA_LOG_LEVEL", "WARNING"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # scikit-learn reads more classes than half the labels as a sign of a regression target;
    # in active learning on many classes that is the normal start (50 types at 30 labels)
    warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%",
                            category=UserWarning)
    app()


if __name__ == "__main__":
    main()
