"""Docs generated from code stay in step with it (STYLE habit 10)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from labella.al.strategies import REGISTRY
from labella.al.strategies.registry import markdown_table
from labella.cli import app

ROOT = Path(__file__).resolve().parents[1]


def test_strategy_reference_is_generated_from_the_registry() -> None:
    doc = (ROOT / "docs" / "strategies.md").read_text()
    table = markdown_table(REGISTRY)
    assert table in doc, "docs/strategies.md is stale: run `labella strategies --markdown`"


def test_cli_lists_every_strategy() -> None:
    out = CliRunner().invoke(app, ["strategies"], terminal_width=300).output
    for name in REGISTRY.names():
        assert name in out


def test_readme_documents_every_simulate_option() -> None:
    readme = (ROOT / "README.md").read_text()
    out = CliRunner().invoke(app, ["simulate", "--help"], terminal_width=300).output
    for opt in ("--task", "--multi-label", "--strategies", "--budget", "--batch-size", "--initial",
                "--seeds", "--test-fraction", "--out"):
        assert opt in out and opt in readme, opt
