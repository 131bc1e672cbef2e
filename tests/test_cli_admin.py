"""``labella import --create``, ``labella user ...`` and ``labella project delete`` on a
real data directory (in-process through Typer's runner)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from labella.cli import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args), catch_exceptions=False)
    return r.exit_code, r.output


def test_import_create_user_and_project_commands(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    feat = ["--featuriser", "hashing"]
    csv = tmp_path / "t.csv"
    csv.write_text("text,label\n" + "".join(f"text number {i},{'ab'[i % 2]}\n" for i in range(12))
                   + "text number 0,a\n", encoding="utf-8")
    code, out = _run("import", "Tiny", str(csv), "--create", "--labels", "a,b", *feat, *data)
    assert code == 0, out
    assert "no project" not in out.lower()  # the lookup before --create is quiet
    assert "added 12" in out and "repeated in the file 1" in out

    code, out = _run("import", "Broken", str(tmp_path / "missing.csv"), "--create",
                     "--labels", "a,b", *feat, *data)
    assert code != 0 and "deleted again" in out
    code, out = _run("project", "list", *data)
    assert "Tiny" in out and "Broken" not in out  # no empty project left behind

    code, out = _run("user", "create", "bob", "--password", "", *data)
    assert code == 0, out
    code, out = _run("user", "link", "bob", "--base-url", "http://example.test:9000", *data)
    assert code == 0 and "http://example.test:9000/login?token=" in out
    code, out = _run("user", "disable", "bob", *data)
    assert code == 0 and "disabled" in out
    code, out = _run("user", "link", "bob", *data)
    assert code != 0 and "enable the user first" in out
    code, out = _run("user", "password", "bob", "--password", "bobs password", *data)
    assert code == 0, out
    code, out = _run("user", "list", *data)
    assert "bob" in out and "disabled" in out and "set" in out

    code, out = _run("project", "delete", "Tiny", "--confirm", "tiny", *data)
    assert code != 0 and "exact name" in out
    r = runner.invoke(app, ["project", "delete", "Tiny", *data], input="Tiny\n")
    assert r.exit_code == 0 and "deleted project 'Tiny': 12 items" in r.output
    code, out = _run("project", "list", *data)
    assert "Tiny" not in out


def test_freeze_versions_and_export_a_version(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    csv = tmp_path / "t.csv"
    csv.write_text("text,label\n" + "".join(f"text number {i},{'ab'[i % 2]}\n" for i in range(6)),
                   encoding="utf-8")
    code, out = _run("import", "Tiny", str(csv), "--create", "--labels", "a,b",
                     "--featuriser", "hashing", *data)
    assert code == 0, out
    code, out = _run("freeze", "Tiny", "v1", "--note", "imported", *data)
    assert code == 0 and "froze 'v1': 6 labels" in out, out
    code, out = _run("freeze", "Tiny", "v1", *data)
    assert code != 0 and "already has a version" in out
    code, out = _run("versions", "Tiny", *data)
    assert code == 0 and "v1" in out and "a 3, b 3" in out, out
    code, out = _run("export", "Tiny", str(tmp_path / "v1.csv"), "--version", "v1", *data)
    assert code == 0, out
    assert len((tmp_path / "v1.csv").read_text(encoding="utf-8").splitlines()) == 7
