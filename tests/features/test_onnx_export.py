"""Export-once ONNX files: written atomically, reused, re-exported when unreadable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labella.features._onnx import load_or_export

onnx = pytest.importorskip("onnx")


def write_identity_model(path: Path) -> None:
    """A valid one-node ONNX graph (y = x), built without torch."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_exports_once_then_reuses(tmp_path: Path) -> None:
    path = tmp_path / "models" / "m.onnx"
    calls: list[Path] = []

    def export(tmp: Path) -> None:
        calls.append(tmp)
        write_identity_model(tmp)

    s = load_or_export(path, export)
    np.testing.assert_array_equal(s.run(None, {"x": np.ones((3, 2), np.float32)})[0], 1.0)
    assert len(calls) == 1 and calls[0] != path and not calls[0].exists()
    load_or_export(path, export)
    assert len(calls) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.onnx"]


def test_unreadable_file_is_exported_again(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"truncated garbage")
    s = load_or_export(path, write_identity_model)
    assert s.get_inputs()[0].name == "x"


def test_failed_export_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half an export")
        raise RuntimeError("exporter crashed")

    with pytest.raises(RuntimeError, match="exporter crashed"):
        load_or_export(path, broken)
    assert list(tmp_path.iterdir()) == []
