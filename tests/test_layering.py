"""Imports point down (STYLE habit 1)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "labella"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_al_imports_nothing_above_it() -> None:
    allowed = ("labella.al", "labella.errors", "labella._optional")
    for path in (PKG / "al").rglob("*.py"):
        for mod in _imports(path):
            if mod.startswith("labella") and mod != "labella":  # the version only
                assert mod.startswith(allowed), f"{path.relative_to(PKG)} imports {mod}"


def test_features_do_not_import_upper_layers() -> None:
    banned = ("labella.store", "labella.service", "labella.api", "labella.web", "labella.cli")
    for path in (PKG / "features").rglob("*.py"):
        for mod in _imports(path):
            assert not mod.startswith(banned), f"{path.relative_to(PKG)} imports {mod}"


def test_importing_the_core_loads_no_heavy_library() -> None:
    code = (
        "import sys, labella.al, labella.al.simulate, labella.al.stopping, labella.al.metrics\n"
        "heavy = [m for m in ('torch', 'sqlalchemy', 'fastapi', 'sentence_transformers') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"labella.al imported {out.stdout.strip()}"
