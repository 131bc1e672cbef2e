"""The featuriser contract and the small helpers every featuriser shares.

A featuriser turns raw items (texts, or images given as file paths or encoded bytes) into
L2-normalised ``float32`` embeddings of shape ``(n_items, dim)``. Its ``key`` names the model
*and* the preprocessing, so two featurisers with the same key give the same vectors: the
embedding cache (:mod:`labella.features.cache`) files vectors under that key.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

import numpy as np

from labella.errors import DataError

Modality: TypeAlias = Literal["text", "image"]
ImageItem: TypeAlias = bytes | str | os.PathLike[str]
"""An image as its encoded file content (``bytes``) or a path to the file."""
Progress: TypeAlias = Callable[[int, int], None]
"""``progress(done, total)``, called as work advances."""


@runtime_checkable
class Featuriser(Protocol):
    """Turns items into embeddings.

    Plain attributes satisfy the three read-only members as well as properties do.
    """

    @property
    def key(self) -> str:
        """Stable identifier of model + preprocessing version; the embedding cache key."""
        ...

    @property
    def dim(self) -> int:
        """Embedding width."""
        ...

    @property
    def modality(self) -> Modality:
        """``"text"`` (items are ``str``) or ``"image"`` (items are ``bytes`` or paths)."""
        ...

    def embed(
        self,
        items: Sequence[Any],
        *,
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Embeddings of ``items``, in order: ``float32`` array ``(len(items), dim)``, rows L2-normalised.

        ``items`` are ``str`` for a text featuriser, :data:`ImageItem` (bytes or path) for an
        image one. ``batch_size`` overrides the featuriser's own batch size; ``progress(done,
        total)`` is called as batches finish.
        """
        ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (n, d) scaled to unit L2 norm (all-zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


def batches(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of at most ``size`` items."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def check_texts(items: Sequence[object]) -> list[str]:
    """``items`` as a list of ``str``; a clear :class:`DataError` names the first bad one."""
    out = list(items)
    for i, item in enumerate(out):
        if not isinstance(item, str):
            raise DataError(f"text item {i} should be a str, got {type(item).__name__}")
    return out  # type: ignore[return-value]


def read_image_bytes(item: ImageItem, *, index: int = 0) -> bytes:
    """The encoded bytes of an image item (``bytes`` as is, a path read from disk)."""
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, str | os.PathLike):
        try:
            return Path(item).read_bytes()
        except OSError as exc:
            raise DataError(f"image item {index}: cannot read {item!s}: {exc}") from exc
    raise DataError(f"image item {index}: should be bytes or a path, got {type(item).__name__}")


def decode_image(item: ImageItem, *, size: int, mode: str = "RGB", index: int = 0) -> np.ndarray:
    """Decode an image and resize it to ``size`` x ``size``; ``uint8`` array (size, size, C).

    Resize policy (shared by every built-in image featuriser): EXIF orientation is applied,
    transparency is composited onto white, then the *whole* image is resized to a square with
    bilinear filtering (antialiased when shrinking). The aspect ratio is not kept and nothing is
    cropped, so content near the borders — often what a label is about — is never lost; wide or
    tall images are squashed instead.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    data = read_image_bytes(item, index=index)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            im: Image.Image = ImageOps.exif_transpose(opened)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im)
            im = im.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8).reshape(size, size, -1)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        where = "" if isinstance(item, bytes | bytearray | memoryview) else f"{os.fspath(item)}: "
        why = "unknown or corrupt format" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise DataError(f"image item {index}: {where}not a readable image ({why})") from exc


def check_output(x: np.ndarray, *, n: int, dim: int, key: str) -> np.ndarray:
    """Validate a featuriser's output: shape (n, dim), finite; returned as float32."""
    x = np.asarray(x)
    if x.shape != (n, dim):
        raise ValueError(f"featuriser {key!r} returned shape {x.shape}, expected {(n, dim)}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"featuriser {key!r} returned non-finite values")
    return x.astype(np.float32, copy=False)


def default_cache_root() -> Path:
    """Labella's cache root: ``$LABELLA_CACHE_DIR`` if set, else ``~/.cache/labella``."""
    env = os.environ.get("LABELLA_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "labella"


def model_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    """Where exported model files live: ``cache_dir`` itself if given, else ``<root>/models``."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root() / "models"


def fingerprint(*parts: object) -> str:
    """A short stable hash (12 hex chars) of JSON-serialisable parts."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Run ``write(tmp)`` on a fresh temporary file beside ``path``, then rename it onto ``path``.

    A crash leaves at most a stray ``*.tmp`` file, never a half-written ``path``; two processes
    racing both produce a complete file and the last rename wins.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
