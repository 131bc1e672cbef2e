"""Save and load fitted heads without pickle.

A saved head is a directory holding two files:

* ``head.json`` — metadata: format name and version, head kind, ``n_classes``,
  ``multi_label``, class names, featuriser key, library versions, the
  estimator's parameters, the fitted-state layout and the sha256 of the data file;
* ``head.npz`` — the fitted arrays, read with ``np.load(..., allow_pickle=False)``:
  coefficients, intercepts and classes for a
  :class:`~labella.al.heads.SklearnHead` wrapping ``LogisticRegression``
  (single-label, or one model per label for multi-label); the weights and
  AdaGrad state of an :class:`~labella.al.heads.SGDHead`; the layers of an
  :class:`~labella.al.neural.MLPHead` (no torch needed to load or predict);
* or ``head.skops`` — any other scikit-learn estimator, saved with skops and
  loaded only if every type it needs is trusted by skops or listed in ``trusted``.

Loading checks the format, the version, the file name and the hash, and raises
:class:`~labella.errors.UnsafeFormatError` for anything else (a ``.pkl`` or
``.joblib`` file, a tampered data file, an array that would need pickle).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression

from labella.al.heads import Head, SGDHead, SklearnHead
from labella.al.neural import MLPHead
from labella.errors import DataError, UnsafeFormatError

log = logging.getLogger(__name__)

FORMAT = "labella-head"
FORMAT_VERSION = 1
META_FILE = "head.json"
ARRAYS_FILE = "head.npz"
SKOPS_FILE = "head.skops"
KIND_LOGREG = "sklearn_logistic_regression"
KIND_SKOPS = "sklearn_skops"
KIND_SGD = "labella_sgd"
KIND_MLP = "labella_mlp"
_KIND_FILES = {KIND_LOGREG: ARRAYS_FILE, KIND_SKOPS: SKOPS_FILE, KIND_SGD: ARRAYS_FILE, KIND_MLP: ARRAYS_FILE}
_OWN_KINDS: dict[str, type[SGDHead] | type[MLPHead]] = {KIND_SGD: SGDHead, KIND_MLP: MLPHead}
_MLP_LAYERS = ("W1", "b1", "W2", "b2", "x_mean")
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


def can_save(head: object) -> bool:
    """Whether :func:`save_head` can store this kind of head."""
    return isinstance(head, SklearnHead | SGDHead | MLPHead)


def _own_arrays(head: SGDHead | MLPHead) -> dict[str, np.ndarray]:
    if isinstance(head, SGDHead):
        if not hasattr(head, "coef_"):
            raise DataError("cannot save a head that has not been fitted")
        return {"coef": head.coef_, "intercept": head.intercept_, "sq_grad": head.sq_grad_,
                "sq_grad_b": head.sq_grad_b_, "n_updates": np.asarray(head.n_updates_)}
    if not hasattr(head, "params_"):
        raise DataError("cannot save a head that has not been fitted")
    arrays = {f"layer_{k}": np.asarray(head.params_[k]) for k in _MLP_LAYERS}
    arrays["n_steps"] = np.asarray(getattr(head, "n_steps_", 0))
    return arrays


def _own_params(head: SGDHead | MLPHead) -> dict[str, Any]:
    params = {k: v for k, v in head.get_params().items() if k not in ("n_classes", "multi_label")}
    for k, v in params.items():
        if v is not None and not isinstance(v, bool | int | float | str):
            raise DataError(f"head parameter {k}={v!r} cannot be stored as JSON")
    return params


def save_head(
    head: Head,
    path: str | Path,
    *,
    featuriser_key: str | None = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Write a fitted head to the directory ``path`` (created if missing); returns it.

    Raises:
        DataError: the head is not fitted, or ``class_names`` has the wrong length.
    """
    if not can_save(head):
        raise DataError(f"can only save a SklearnHead, SGDHead or MLPHead; got {type(head).__name__}")
    if isinstance(head, SklearnHead) and not hasattr(head, "models_" if head.multi_label else "model_"):
        raise DataError("cannot save a head that has not been fitted")
    if class_names is not None and len(class_names) != head.n_classes:
        raise DataError(f"{len(class_names)} class names for {head.n_classes} classes")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "n_classes": head.n_classes, "multi_label": head.multi_label,
        "class_names": list(map(str, class_names)) if class_names is not None else None,
        "featuriser_key": featuriser_key, "versions": _versions(),
    }
    if isinstance(head, SGDHead | MLPHead):
        kind = KIND_SGD if isinstance(head, SGDHead) else KIND_MLP
        data_file = out / ARRAYS_FILE
        meta.update(kind=kind, estimator=type(head).__name__, head_params=_own_params(head))
        np.savez(data_file, allow_pickle=False, **_own_arrays(head))
    elif not isinstance(head, SklearnHead):  # pragma: no cover - can_save checked above
        raise DataError(f"cannot save a {type(head).__name__}")
    elif _is_logreg_head(head):
        meta["estimator"] = type(head.estimator).__name__
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
        meta["estimator"] = type(head.estimator).__name__
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
    expected = _KIND_FILES.get(meta.get("kind", ""))
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


def load_head(path: str | Path, *, trusted: Sequence[str] = ()) -> Head:
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
    arrays = _read_arrays(folder / ARRAYS_FILE)
    if meta["kind"] in _OWN_KINDS:
        return _load_own(meta, arrays, n_classes, multi)
    params = _params_from_json(meta.get("estimator_params", {}))
    head = SklearnHead(LogisticRegression(**params), n_classes, multi_label=multi)
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


def _read_arrays(file: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as exc:  # object arrays would need pickle
        raise UnsafeFormatError(f"{ARRAYS_FILE}: {exc}") from exc
    for k, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise UnsafeFormatError(f"{ARRAYS_FILE}: array {k!r} has dtype {a.dtype}; numbers only")
    return arrays


def _own_head_params(cls: type[SGDHead] | type[MLPHead], params: Any) -> dict[str, Any]:
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "n_classes", "multi_label"}
    if not isinstance(params, dict):
        raise UnsafeFormatError("head_params in the metadata is not an object")
    unknown = set(params) - allowed
    if unknown:
        raise UnsafeFormatError(f"unknown {cls.__name__} parameters in metadata: {sorted(unknown)}")
    bad = [k for k, v in params.items() if v is not None and not isinstance(v, bool | int | float | str)]
    if bad:
        raise UnsafeFormatError(f"{cls.__name__} parameters {bad} are not plain JSON values")
    return params


def _check_shapes(kind: str, arrays: dict[str, np.ndarray], n_classes: int) -> None:
    """Every array present, with shapes that agree with each other and with ``n_classes``."""
    if kind == KIND_SGD:
        coef = arrays["coef"]
        d = coef.shape[0] if coef.ndim == 2 else -1
        want = {"coef": (d, n_classes), "intercept": (n_classes,), "sq_grad": (d, n_classes),
                "sq_grad_b": (n_classes,), "n_updates": ()}
    else:
        W1 = arrays["layer_W1"]
        d, h = W1.shape if W1.ndim == 2 else (-1, -1)
        want = {"layer_W1": (d, h), "layer_b1": (h,), "layer_W2": (h, n_classes),
                "layer_b2": (n_classes,), "layer_x_mean": (d,), "n_steps": ()}
    for k, shape in want.items():
        if k not in arrays:
            raise UnsafeFormatError(f"{ARRAYS_FILE}: array {k!r} is missing")
        if arrays[k].shape != shape or -1 in shape:
            raise UnsafeFormatError(f"{ARRAYS_FILE}: array {k!r} has shape {arrays[k].shape}, expected {shape}")


def _load_own(meta: dict[str, Any], arrays: dict[str, np.ndarray], n_classes: int, multi: bool) -> Head:
    kind = meta["kind"]
    cls = _OWN_KINDS[kind]
    params = _own_head_params(cls, meta.get("head_params", {}))
    try:
        _check_shapes(kind, arrays, n_classes)
        head = cls(n_classes, multi_label=multi, **params)
    except (KeyError, TypeError) as exc:
        raise UnsafeFormatError(f"{ARRAYS_FILE} does not match its metadata: {exc!r}") from exc
    if isinstance(head, SGDHead):
        head.coef_ = arrays["coef"].astype(np.float64)
        head.intercept_ = arrays["intercept"].astype(np.float64)
        head.sq_grad_ = arrays["sq_grad"].astype(np.float64)
        head.sq_grad_b_ = arrays["sq_grad_b"].astype(np.float64)
        head.n_updates_ = int(arrays["n_updates"])
    else:
        head.params_ = {k: arrays[f"layer_{k}"].astype(np.float32) for k in _MLP_LAYERS}
        head.n_steps_ = int(arrays["n_steps"])
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
