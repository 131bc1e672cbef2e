"""The format table, the dispatcher and the spec's own checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from labella.errors import DataError, UnknownNameError
from labella.export import FORMATS, ExportSpec, export_labels, get_format
from tests.export.conftest import make_case


def test_every_format_is_described() -> None:
    assert set(FORMATS) == {"csv", "jsonl", "hf", "label_studio"}
    for name, info in FORMATS.items():
        assert info.name == name
        assert info.kind in ("file", "directory")
        assert info.extension.startswith(".")
        assert "/" in info.media_type
        assert info.title and info.description
    assert FORMATS["hf"].kind == "directory"
    assert get_format("csv") is FORMATS["csv"]


def test_unknown_format_names_the_known_ones(tmp_path: Path) -> None:
    case = make_case("text-single")
    with pytest.raises(UnknownNameError, match="unknown export format 'xlsx'; known: csv, hf, "
                                               "jsonl, label_studio"):
        export_labels(case.items, case.spec, "xlsx", tmp_path / "x.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_pipe_in_a_multi_label_name_is_refused_up_front() -> None:
    with pytest.raises(DataError, match=r"multi-label name 'a\|b' contains '\|'"):
        ExportSpec("p", "text", True, ["a|b", "c"])
    # single-label cells are not split, so the name is fine there
    assert ExportSpec("p", "text", False, ["a|b", "c"]).label_names == ["a|b", "c"]


@pytest.mark.parametrize(("names", "message"), [
    ([], "at least one label name"),
    (["a", "a"], "appears twice"),
    (["a", ""], "non-empty strings"),
    ([" a", "b"], "surrounding whitespace"),
])
def test_bad_label_spaces_are_refused(names: list[str], message: str) -> None:
    with pytest.raises(DataError, match=message):
        ExportSpec("p", "text", False, names)


def test_unknown_task_is_refused() -> None:
    with pytest.raises(DataError, match="task must be 'text' or 'image'; got 'audio'"):
        ExportSpec("p", "audio", False, ["a"])  # type: ignore[arg-type]
