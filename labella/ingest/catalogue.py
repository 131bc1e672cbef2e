"""Built-in datasets a project can start from without uploading anything.

``digits`` ships with scikit-learn and works offline. The other entries come from
the Hugging Face hub through the optional ``datasets`` library (``labella[hub]``);
when the hub cannot be reached :func:`read_catalogue` says so at once (offline
mode, or a connection probe with a short timeout) instead of hanging.

Every reader yields :class:`~labella.ingest.records.RawRecord` like the file
readers do: a dataset's ``train`` (and ``validation``) split goes to the pool,
its ``test`` split to the evaluation set, with the dataset's own label names.
"""

from __future__ import annotations

import io
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from labella.config import Limits
from labella.errors import DataError, LabellaError, MissingExtraError, UnknownNameError
from labella.ingest.records import RawRecord, Split

log = logging.getLogger(__name__)

HUB_PROBE_TIMEOUT = 3.0
"""Seconds to wait for the hub to answer a connection before calling it unreachable."""
DIGITS_EVAL_FRACTION = 0.2
DIGITS_SEED = 0
_TRUTHY = {"1", "on", "yes", "true"}


class CatalogueUnavailableError(LabellaError):
    """A catalogue dataset cannot be loaded here (e.g. its hub is unreachable)."""


@dataclass(frozen=True)
class CatalogueEntry:
    """A dataset a project can be created from.

    Attributes:
        name: the catalogue key (``digits``, ``imdb``, ...).
        title: a short human name.
        task: ``text`` or ``image``.
        multi_label: whether an item may carry several labels.
        description: one or two sentences for the dataset picker.
        source: ``builtin`` (works offline) or ``huggingface`` (needs the hub).
        hf_id: the dataset's id on the Hugging Face hub.
        labels: the label names, in class index order.
        size_hint: how big it is, for people (``"1,797 images"``).
        license: the dataset's licence as its publisher states it.
        hf_config: the hub dataset's configuration name, if it has several.
    """

    name: str
    title: str
    task: Literal["text", "image"]
    multi_label: bool
    description: str
    source: Literal["builtin", "huggingface"]
    hf_id: str | None
    labels: list[str] | None
    size_hint: str
    license: str
    hf_config: str | None = None


@dataclass(frozen=True)
class _HubColumns:
    payload: str
    label: str


_GO_EMOTIONS = ["admiration", "amusement", "anger", "annoyance", "approval", "caring",
                "confusion", "curiosity", "desire", "disappointment", "disapproval", "disgust",
                "embarrassment", "excitement", "fear", "gratitude", "grief", "joy", "love",
                "nervousness", "optimism", "pride", "realization", "relief", "remorse",
                "sadness", "surprise", "neutral"]

CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        "digits", "Handwritten digits (8×8)", "image", False,
        "scikit-learn's bundled handwritten digits, upscaled to 32×32 PNGs; "
        "20% held out for evaluation. Works offline.",
        "builtin", None, [str(d) for d in range(10)], "1,797 images", "CC BY 4.0 (UCI)"),
    CatalogueEntry(
        "imdb", "IMDb movie reviews", "text", False,
        "Movie reviews labelled by sentiment (negative / positive).",
        "huggingface", "stanfordnlp/imdb", ["neg", "pos"],
        "50,000 texts (25,000 test)", "other (research use)"),
    CatalogueEntry(
        "ag_news", "AG News topics", "text", False,
        "News headlines and leads in four topics.",
        "huggingface", "fancyzhx/ag_news", ["World", "Sports", "Business", "Sci/Tech"],
        "127,600 texts (7,600 test)", "unknown (research use)"),
    CatalogueEntry(
        "cifar10", "CIFAR-10", "image", False,
        "32×32 colour photos in ten object classes.",
        "huggingface", "uoft-cs/cifar10",
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        "60,000 images (10,000 test)", "unknown (research use)"),
    CatalogueEntry(
        "go_emotions", "GoEmotions", "text", True,
        "Reddit comments tagged with any of 27 emotions or neutral.",
        "huggingface", "google-research-datasets/go_emotions", _GO_EMOTIONS,
        "54,263 texts (5,427 test)", "Apache-2.0", hf_config="simplified"),
)
"""Every catalogue dataset, in the order a picker shows them."""

_HUB_COLUMNS: dict[str, _HubColumns] = {
    "imdb": _HubColumns("text", "label"),
    "ag_news": _HubColumns("text", "label"),
    "cifar10": _HubColumns("img", "label"),
    "go_emotions": _HubColumns("text", "labels"),
}
_SPLITS: dict[str, Split] = {"train": "pool", "validation": "pool", "test": "evaluation"}
"""Hub split -> Labella split; other splits (e.g. imdb's ``unsupervised``) are not read."""


def list_catalogue() -> list[CatalogueEntry]:
    """Every catalogue entry."""
    return list(CATALOGUE)


def get_entry(name: str) -> CatalogueEntry:
    """The entry called ``name``; :class:`~labella.errors.UnknownNameError` lists the known ones."""
    for entry in CATALOGUE:
        if entry.name == name:
            return entry
    raise UnknownNameError("catalogue dataset", name, [e.name for e in CATALOGUE])


def read_catalogue(
    name: str, *, limits: Limits, limit: int | None = None, cache_dir: Path | None = None
) -> Iterator[RawRecord]:
    """Records of the catalogue dataset ``name``.

    Args:
        name: a catalogue key.
        limits: import guards; more than ``limits.max_rows`` records is an error.
        limit: read at most this many records: ``digits`` gives its first ones; a hub
            dataset gives a seeded random sample of each split, in proportion to the
            splits' sizes (so a small sample still has an evaluation set).
        cache_dir: where ``datasets`` keeps hub downloads (its default cache if None).

    Raises:
        UnknownNameError: no such entry.
        MissingExtraError: a hub dataset without the ``datasets`` library installed.
        CatalogueUnavailableError: a hub dataset while the hub cannot be reached.
        DataError: the dataset breaks ``limits``.
    """
    entry = get_entry(name)
    if limit is not None and limit < 0:
        raise DataError(f"limit must be >= 0 or None; got {limit}")
    cap = limits.max_rows if limit is None else min(limit, limits.max_rows + 1)
    records = _digits(entry) if entry.source == "builtin" else _hub(entry, limit, cache_dir)
    return _guarded(entry, records, limits=limits, cap=cap)


def _guarded(entry: CatalogueEntry, records: Iterator[RawRecord], *, limits: Limits,
             cap: int) -> Iterator[RawRecord]:
    for n, rec in enumerate(records, start=1):
        if n > limits.max_rows:
            raise DataError(f"dataset {entry.name!r} has more than {limits.max_rows} rows, the "
                            "import limit; pass a smaller limit")
        if n > cap:
            return
        if rec.text is not None and len(rec.text) > limits.max_text_chars:
            raise DataError(f"{rec.source}: text of {len(rec.text)} characters; at most "
                            f"{limits.max_text_chars} allowed")
        if rec.image is not None:
            _check_image(rec.source, rec.image, limits)
        yield rec


def _check_image(source: str, image: bytes, limits: Limits) -> None:
    from PIL import Image, UnidentifiedImageError

    if len(image) > limits.max_image_bytes:
        raise DataError(f"{source}: image of {len(image)} bytes; at most "
                        f"{limits.max_image_bytes} allowed")
    try:
        with Image.open(io.BytesIO(image)) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{source}: not a readable image ({exc})") from exc
    if width * height > limits.max_image_pixels:
        raise DataError(f"{source}: image of {width}x{height} pixels; at most "
                        f"{limits.max_image_pixels} pixels allowed")


# ---------------------------------------------------------------------------- digits


def digits_evaluation_mask(target: np.ndarray, *, fraction: float = DIGITS_EVAL_FRACTION,
                           seed: int = DIGITS_SEED) -> np.ndarray:
    """Boolean mask, shape ``(n,)``: a stratified ``fraction`` of rows per class, chosen by ``seed``."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(target))
    _, test = train_test_split(rows, test_size=fraction, stratify=target, random_state=seed)
    mask = np.zeros(len(target), dtype=bool)
    mask[test] = True
    return mask


def digit_png(pixels: np.ndarray) -> bytes:
    """One 8×8 digit (values 0..16), shape ``(8, 8)``, as a 32×32 greyscale PNG, dark on light."""
    from PIL import Image

    grey = (255 - pixels * 255 / 16).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grey).resize((32, 32), Image.Resampling.BILINEAR).save(buf, format="PNG")
    return buf.getvalue()


def _digits(entry: CatalogueEntry) -> Iterator[RawRecord]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    evaluation = digits_evaluation_mask(digits.target)
    for i, (pixels, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        image_name = f"{entry.name}/{i:04d}.png"
        yield RawRecord(
            position=i + 1,
            source=f"{entry.name}:{image_name}",
            image=digit_png(pixels),
            image_name=image_name,
            labels=[str(int(target))],
            split="evaluation" if evaluation[i] else "pool",
            external_id=str(i),
        )


# ---------------------------------------------------------------------------- hub


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUTHY


def _unavailable(entry: CatalogueEntry, why: str) -> CatalogueUnavailableError:
    builtin = ", ".join(e.name for e in CATALOGUE if e.source == "builtin")
    return CatalogueUnavailableError(
        f"dataset {entry.name!r} comes from the Hugging Face hub ({entry.hf_id}), which cannot "
        f"be reached from this machine ({why}). Upload the data as a file instead, or pick a "
        f"built-in dataset: {builtin}.")


def _hub_endpoint() -> str:
    endpoint = os.environ.get("HF_ENDPOINT")
    if endpoint:
        return endpoint
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - datasets depends on huggingface_hub
        return "https://huggingface.co"
    return str(constants.ENDPOINT)


def _probe_target() -> str:
    """The URL a hub request connects to first: the HTTPS proxy if one is set, else the hub."""
    endpoint = _hub_endpoint()
    scheme = urlsplit(endpoint).scheme or "https"
    for var in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        proxy = os.environ.get(var)
        if proxy:
            return proxy if "://" in proxy else f"http://{proxy}"
    return endpoint


def _probe_hub(entry: CatalogueEntry, timeout: float) -> None:
    """Raise :class:`CatalogueUnavailableError` unless the hub (or the proxy to it) accepts a
    TCP connection within ``timeout`` seconds."""
    parts = urlsplit(_probe_target())
    host = parts.hostname or "huggingface.co"
    port = parts.port or (80 if parts.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except socket.gaierror as exc:
        raise _unavailable(entry, f"cannot resolve {host}: {exc.strerror}") from exc
    except TimeoutError as exc:
        raise _unavailable(entry, f"no answer from {host}:{port} within {timeout:g} s") from exc
    except OSError as exc:
        raise _unavailable(entry, f"cannot connect to {host}:{port}: "
                                  f"{exc.strerror or exc}") from exc


def _hub(entry: CatalogueEntry, limit: int | None, cache_dir: Path | None) -> Iterator[RawRecord]:
    try:
        import datasets
        from datasets.exceptions import DatasetsError
    except ImportError as exc:
        raise MissingExtraError("datasets", "hub") from exc
    offline = _env_flag("HF_HUB_OFFLINE") or _env_flag("HF_DATASETS_OFFLINE")
    if offline and not datasets.config.HF_HUB_OFFLINE:
        # Offline was asked for after datasets was imported: it would still go online.
        raise _unavailable(entry, "offline mode is on")
    if not offline:
        _probe_hub(entry, HUB_PROBE_TIMEOUT)
    try:
        loaded = datasets.load_dataset(entry.hf_id, entry.hf_config,
                                       cache_dir=str(cache_dir) if cache_dir else None)
    except (OSError, DatasetsError) as exc:
        why = "offline mode is on, and it is not in the local cache" if offline else str(exc)
        raise _unavailable(entry, why) from exc
    return _hub_records(entry, loaded, limit)


def _hub_records(entry: CatalogueEntry, loaded: Any, limit: int | None) -> Iterator[RawRecord]:
    import datasets

    cols = _HUB_COLUMNS[entry.name]
    splits = [(name, loaded[name]) for name in loaded if name in _SPLITS]
    total = sum(len(ds) for _, ds in splits)
    position = 0
    rng = np.random.default_rng(0)
    for split_name, ds in splits:
        rows = np.arange(len(ds))
        if limit is not None:
            take = min(len(ds), round(limit * len(ds) / total)) if total else 0
            rows = np.sort(rng.permutation(len(ds))[:take])
            ds = ds.select(rows)
        names = _names(ds.features[cols.label])
        if entry.task == "image":
            ds = ds.cast_column(cols.payload, datasets.Image(decode=False))
        for row_no, row in zip(rows.tolist(), ds, strict=True):
            position += 1
            raw = row[cols.label]
            labels = [names[j] for j in raw] if entry.multi_label else [names[raw]]
            payload = row[cols.payload]
            source = f"{entry.hf_id}:{split_name}:{row_no}"
            if entry.task == "text":
                yield RawRecord(position=position, source=source, text=str(payload),
                                labels=labels, split=_SPLITS[split_name],
                                external_id=f"{split_name}/{row_no}")
            else:
                name = payload.get("path") or f"{row_no:05d}.png"
                yield RawRecord(position=position, source=source, image=payload["bytes"],
                                image_name=f"{entry.name}/{split_name}/{name}",
                                labels=labels, split=_SPLITS[split_name],
                                external_id=f"{split_name}/{row_no}")


def _names(feature: Any) -> list[str]:
    """Class names of a ``ClassLabel`` or of a list / sequence of one."""
    inner = getattr(feature, "feature", feature)
    names = getattr(inner, "names", None)
    if not names:
        raise DataError(f"expected a class-label column; got {feature!r}")
    return list(names)
