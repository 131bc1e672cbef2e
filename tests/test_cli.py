"""The ``labella`` command as a user runs it: a separate process through its entry point."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path


def test_simulate_on_many_classes_prints_no_regression_warning(tmp_path: Path) -> None:
    # 40 classes and 20-80 labels: scikit-learn would warn that y "could represent a
    # regression problem" at every fit; the command keeps its output to what matters
    data = tmp_path / "many.csv"
    rng = random.Random(0)
    with data.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for c in range(40):
            for _ in range(10):
                w.writerow([f"topic{c} word{rng.randrange(50)} word{rng.randrange(50)}", f"class{c}"])
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-c", "from labella.cli import main; main()", "simulate", str(data),
         "--featuriser", "hashing", "--budget", "60", "--initial", "10", "--batch-size", "10",
         "--seeds", "1", "--strategies", "labella", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["strategies"]["labella"]["labels"][-1] == 60
    assert "unique classes" not in proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr


def test_simulate_report_and_audit_next_to_the_truth(tmp_path: Path) -> None:
    data = tmp_path / "two.csv"
    rng = random.Random(1)
    with data.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for i in range(400):
            c = i % 2
            w.writerow([f"{'good great fine' if c else 'bad awful poor'} w{rng.randrange(80)} "
                        f"w{rng.randrange(80)} w{rng.randrange(80)}", ["neg", "pos"][c]])
    out, report = tmp_path / "result.json", tmp_path / "report.html"
    proc = subprocess.run(
        [sys.executable, "-c", "from labella.cli import main; main()", "simulate", str(data),
         "--featuriser", "hashing", "--budget", "120", "--seeds", "2", "--out", str(out),
         "--report", str(report)],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    runs = result["strategies"]["labella"]["audit"]
    assert len(runs) == 2 and runs[0][-1]["n_labels"] == 120
    assert {"labels_saved", "labels_saved_low", "labels_saved_high", "true_labels_saved",
            "covered", "verdict"} <= set(runs[0][-1])
    assert "Live audit" in proc.stdout and "truth" in proc.stdout
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "Plotly.newPlot(\"curves\"" in page
    assert "labels saved vs random" in page and "src=\"http" not in page  # offline: inlined JS


def test_simulate_a_noisy_team_prints_the_three_policies(tmp_path: Path) -> None:
    data = tmp_path / "three.csv"
    rng = random.Random(2)
    words = ["alpha beta", "gamma delta", "epsilon zeta"]
    with data.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for i in range(300):
            c = i % 3
            w.writerow([f"{words[c]} w{rng.randrange(60)} w{rng.randrange(60)}", f"c{c}"])
    out = tmp_path / "crowd.json"
    proc = subprocess.run(
        [sys.executable, "-c", "from labella.cli import main; main()", "simulate", str(data),
         "--featuriser", "hashing", "--annotators", "3", "--noise", "0.2", "--budget", "80",
         "--batch-size", "20", "--initial", "20", "--seeds", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert set(result["policies"]) == {"always_new", "fixed_k", "relabel_vs_new"}
    assert all(p["labels"][-1] == 80 for p in result["policies"].values())
    assert len(result["annotator_accuracy"]) == 2 and len(result["annotator_accuracy"][0]) == 3
    for name in ("always_new", "fixed_k", "relabel_vs_new", "labels paid to reach 95%"):
        assert name in proc.stdout
