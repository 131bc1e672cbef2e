"""Save and load fitted heads without pickle.

A saved head is a directory holding two files:

* ``head.json`` — metadata: format name and version, head kind, ``n_classes``,
  ``multi_label``, class names, featuriser key, library versions, the
  estimator's parameters, the fitted-state layout and the sha256 of the data file;
* ``head.npz`` — the fitted arrays (coefficients, intercepts, classes) for a
  :class:`~labella.al.heads.SklearnHead` wrapping ``LogisticRegression``
  (single-label, or one model per label for multi-label), read with
  ``np.load(..., allow_pickle=False)``; or ``head.skops`` — any other
  scikit-learn estimator, saved with skops and loaded only if every type it
  needs is trusted by skops or listed in ``trusted``.

Loading checks the format, the version, the file name and the hash, and raises
:class:`~labella.errors.UnsafeFormatError` for anything else (a ``.pkl`` or
``.joblib`` file, a tampered data file, an array that would need pickle).
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression

from labella.al.heads import SklearnHead
from labella.errors import DataError, UnsafeFormatError

log = logging.getLogger(__name__)

FORMAT = "labella-head"
FORMAT_VERSION = 1
META_FILE = "head.json"
ARRAYS_FILE = "head.npz"
SKOPS_FILE = "head.skops"
KIND_LOGREG = "sklearn_logistic_regression"
KIND_SKOPS = "sklearn_skops"
_UNSAFE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".dill", ".cloudpickle"}
_LR_PARAMS = set(LogisticRegression().get_params())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    from labella import __version__

    return {"labella": __version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "python": platform.python_version()}


def _json_params(estimator: LogisticRegression) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in estimator.get_params().items():
        if isinstance(v, dict):  # class_weight={class: weight}
            v = {"__pairs__": [[int(a), float(b)] for a, b in v.items()]}
        elif v is not None and not isinstance(v, bool | int | float | str):
            raise DataError(f"estimator parameter {k}={v!r} cannot be stored as JSON")
        out[k] = v
    return out


def _params_from_json(params: dict[str, Any]) -> dict[str, Any]:
    unknown = set(params) - _LR_PARAMS
    if unknown:
        raise UnsafeFormatError(f"unknown LogisticRegression parameters in metadata: {sorted(unknown)}")
    return {k: ({int(a): b for a, b in v["__pairs__"]} if isinstance(v, dict) else v)
            for k, v in params.items()}


def _lr_arrays(model: LogisticRegression, prefix: str, arrays: dict[str, np.ndarray]) -> None:
    arrays[f"{prefix}coef"] = np.asarray(model.coef_)
    arrays[f"{prefix}intercept"] = np.asarray(model.intercept_)
    arrays[f"{prefix}classes"] = np.asarray(model.classes_)
    arrays[f"{prefix}n_iter"] = np.asarray(model.n_iter_)


def _lr_from_arrays(params: dict[str, Any], prefix: str, arrays: Any) -> LogisticRegression:
    model = LogisticRegression(**params)
    model.coef_ = arrays[f"{prefix}coef"]
    model.intercept_ = arrays[f"{prefix}intercept"]
    model.classes_ = arrays[f"{prefix}classes"]
    model.n_iter_ = arrays[f"{prefix}n_iter"]
    model.n_features_in_ = int(model.coef_.shape[1])
    return model


def _is_logreg_head(head: SklearnHead) -> bool:
    models = head.models_ if head.multi_label else [head.model_]
    return type(head.estimator) is LogisticRegression and all(
        type(m) is LogisticRegression or isinstance(m, int | float) for m in models)


def save_head(
    head: SklearnHead,
    path: str | Path,
    *,
    featuriser_key: str | None = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Write a fitted head to the directory ``path`` (created if missing); returns it.

    Raises:
        DataError: the head is not fitted, or ``class_names`` has the wrong length.
    """
    if not isinstance(head, SklearnHead):
        raise DataError(f"can only save a SklearnHead; got {type(head).__name__}")
    if not hasattr(head, "models_" if head.multi_label else "model_"):
        raise DataError("cannot save a head that has not been fitted")
    if class_names is not None and len(class_names) != head.n_classes:
        raise DataError(f"{len(class_names)} class names for {head.n_classes} classes")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "n_classes": head.n_classes, "multi_label": head.multi_label,
        "class_names": list(map(str, class_names)) if class_names is not None else None,
        "featuriser_key": featuriser_key, "estimator": type(head.estimator).__name__,
        "versions": _versions(),
    }
    if _is_logreg_head(head):
        data_file = out / ARRAYS_FILE
        meta["kind"] = KIND_LOGREG
        meta["estimator_params"] = _json_params(head.estimator)
        arrays: dict[str, np.ndarray] = {}
        if head.multi_label:
            layout: list[Any] = []
            for j, m in enumerate(head.models_):
                if isinstance(m, float):
                    layout.append(m)
                else:
                    layout.append("model")
                    _lr_arrays(m, f"label{j}_", arrays)
            meta["labels"] = layout
        else:
            arrays["head_classes"] = np.asarray(head.classes_)
            if isinstance(head.model_, int):
                meta["constant_class"] = head.model_
            else:
                _lr_arrays(head.model_, "", arrays)
        np.savez(data_file, allow_pickle=False, **arrays)
    else:
        import skops.io as sio

        data_file = out / SKOPS_FILE
        meta["kind"] = KIND_SKOPS
        state = {"models": head.models_} if head.multi_label else {
            "model": head.model_, "classes": np.asarray(head.classes_)}
        sio.dump({"estimator": head.estimator, **state}, data_file)
    meta["data_file"] = data_file.name
    meta["sha256"] = _sha256(data_file)
    (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return out


def _meta_path(path: Path) -> Path:
    if path.suffix.lower() in _UNSAFE_SUFFIXES:
        raise UnsafeFormatError(
            f"refusing to load {path.name}: {path.suffix} files can run code when loaded; "
            f"expected a Labella head directory with {META_FILE}")
    if path.is_dir():
        path = path / META_FILE
    if path.name != META_FILE or not path.is_file():
        raise UnsafeFormatError(f"{path} is not a Labella head: expected a directory with {META_FILE}")
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The checked metadata of a saved head (format, version, kind, data-file hash)."""
    meta_path = _meta_path(Path(path))
    try:
        meta = json.loads(meta_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsafeFormatError(f"{meta_path} is not valid JSON metadata: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UnsafeFormatError(f"{meta_path}: format is not {FORMAT!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise UnsafeFormatError(
            f"{meta_path}: format version {meta.get('format_version')!r}; this Labella reads {FORMAT_VERSION}")
    expected = {KIND_LOGREG: ARRAYS_FILE, KIND_SKOPS: SKOPS_FILE}.get(meta.get("kind", ""))
    if expected is None or meta.get("data_file") != expected:
        raise UnsafeFormatError(f"{meta_path}: unknown head kind {meta.get('kind')!r} or data file")
    data = meta_path.parent / expected
    if not data.is_file():
        raise UnsafeFormatError(f"{data} is missing")
    digest = _sha256(data)
    if digest != meta.get("sha256"):
        raise UnsafeFormatError(f"{data.name}: sha256 {digest} does not match the metadata; refusing to load")
    saved = meta.get("versions", {}).get("scikit-learn")
    if saved != sklearn.__version__:
        log.warning("head saved with scikit-learn %s, loading with %s", saved, sklearn.__version__)
    return meta


def load_head(path: str | Path, *, trusted: Sequence[str] = ()) -> SklearnHead:
    """Load a head written by :func:`save_head`.

    Args:
        path: the head directory (or its ``head.json``).
        trusted: for skops-saved heads, fully qualified type names to trust
            beyond skops' defaults (e.g. ``"sklearn.tree._tree.Tree"``).
    Raises:
        UnsafeFormatError: not this format, a failed hash check, or untrusted types.
    """
    meta = read_metadata(path)
    folder = _meta_path(Path(path)).parent
    n_classes, multi = int(meta["n_classes"]), bool(meta["multi_label"])
    if meta["kind"] == KIND_SKOPS:
        return _load_skops(folder / SKOPS_FILE, n_classes, multi, trusted)
    params = _params_from_json(meta.get("estimator_params", {}))
    head = SklearnHead(LogisticRegression(**params), n_classes, multi_label=multi)
    try:
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as exc:  # object arrays would need pickle
        raise UnsafeFormatError(f"{ARRAYS_FILE}: {exc}") from exc
    for k, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise UnsafeFormatError(f"{ARRAYS_FILE}: array {k!r} has dtype {a.dtype}; numbers only")
    try:
        if multi:
            head.models_ = [
                _lr_from_arrays(params, f"label{j}_", arrays) if entry == "model" else float(entry)
                for j, entry in enumerate(meta["labels"])]
            if len(head.models_) != n_classes:
                raise UnsafeFormatError(f"metadata lists {len(head.models_)} label models for {n_classes} labels")
        else:
            head.classes_ = arrays["head_classes"]
            const = meta.get("constant_class")
            head.model_ = int(const) if const is not None else _lr_from_arrays(params, "", arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsafeFormatError(f"{ARRAYS_FILE} does not match its metadata: {exc!r}") from exc
    return head


def _load_skops(file: Path, n_classes: int, multi: bool, trusted: Sequence[str]) -> SklearnHead:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=file)
    refused = sorted(set(untrusted) - set(trusted))
    if refused:
        raise UnsafeFormatError(
            f"{file.name} needs types that are not trusted: {', '.join(refused)}; "
            "pass them in trusted=[...] only if you trust the file's source")
    state = sio.load(file, trusted=list(untrusted))
    head = SklearnHead(state["estimator"], n_classes, multi_label=multi)
    if multi:
        head.models_ = list(state["models"])
    else:
        head.model_ = state["model"]
        head.classes_ = np.asarray(state["classes"])
    return head
