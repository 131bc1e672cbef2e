"""labella.jobs sits on the store: it imports nothing from the layers above it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

JOBS = Path(__file__).resolve().parents[2] / "labella" / "jobs"
ALLOWED = ("labella.jobs", "labella.store", "labella.config", "labella.errors", "labella._threads")


def test_jobs_import_only_store_config_and_errors() -> None:
    for path in JOBS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("labella"):
                    assert name.startswith(ALLOWED), f"{path.name} imports {name}"


def test_importing_jobs_loads_no_web_or_ml_library() -> None:
    code = (
        "import sys, labella.jobs\n"
        "heavy = [m for m in ('torch', 'sklearn', 'fastapi', 'labella.service') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
