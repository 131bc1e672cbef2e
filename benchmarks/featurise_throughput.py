"""Featuriser throughput: Labella's featurisers against bare onnxruntime on the same ONNX models.

Text: the first 2,000 texts of ``sentiment_cr`` through ``MiniLMFeaturiser`` (onnxruntime backend)
and through a bare loop over the same ONNX file: the same ``tokenizer.json`` with truncation to
256 tokens and padding to the longest text of each batch, batches of 64 in the given order, mean
pooling and L2 normalisation in numpy. A third row, "bare, length-sorted", sorts the texts by
token count first as Labella does, to separate the gain from sorting from the wrapper's overhead.

Images: sign-language-digit photos (JPEG files) through ``EfficientNetLite0Featuriser`` and
through a bare loop over the same ONNX file: Pillow open, RGB, resize to 224x224 bilinear, feed
the uint8 pixels (the graph scales them), batches of 1. Decoding is included in both.

Runs are interleaved (Labella, bare, bare, Labella, ...: the order alternates) so drifting machine
load hits both alike; the table shows median throughputs and the median of the per-run ratios. Each pair's outputs are
compared too (max abs difference). Nothing is asserted: speed is reported, not tested.

    python benchmarks/featurise_throughput.py [--runs 5] [--texts 2000] [--images 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``labella`` importable from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from labella.datafiles import shared_datasets_dir
from labella.features.image import IMAGE_SIZE, EfficientNetLite0Featuriser
from labella.features.text import MiniLMFeaturiser, minilm_model_dir

SHARED = shared_datasets_dir()
TEXT_BATCH = 64


def load_texts(n: int) -> list[str]:
    import pandas as pd

    return pd.read_csv(SHARED / "sentiment_cr" / "data.csv", nrows=n)["text"].astype(str).tolist()


def load_image_paths(n: int) -> list[Path]:
    paths = sorted((SHARED / "images_sign_language_digits" / "images").glob("*/*"))
    step = max(1, len(paths) // n)  # spread over the classes
    return paths[::step][:n]


def bare_session(path: Path):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def bare_text(onnx_path: Path, *, sort: bool) -> Callable[[list[str]], np.ndarray]:
    """The plain onnxruntime loop someone would write around the same model and tokeniser."""
    from tokenizers import Tokenizer

    session = bare_session(onnx_path)
    tok = Tokenizer.from_file(str(minilm_model_dir() / "tokenizer.json"))
    tok.enable_truncation(max_length=256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest text of each batch

    def run(texts: list[str]) -> np.ndarray:
        order = np.arange(len(texts))
        if sort:
            tok.no_padding()
            lengths = [len(e.ids) for e in tok.encode_batch(texts)]
            tok.enable_padding(pad_id=0, pad_token="[PAD]")
            order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), TEXT_BATCH):
            rows = order[start:start + TEXT_BATCH]
            enc = tok.encode_batch([texts[i] for i in rows])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                        "token_type_ids": np.zeros_like(ids)})[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(1) / m.sum(1)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out

    return run


def bare_image(onnx_path: Path) -> Callable[[list[Path]], np.ndarray]:
    from PIL import Image

    session = bare_session(onnx_path)

    def run(paths: list[Path]) -> np.ndarray:
        out = np.empty((len(paths), 1280), dtype=np.float32)
        for i, p in enumerate(paths):
            with Image.open(p) as im:
                im = im.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
                x = np.asarray(im)[None]  # uint8 NHWC: the graph scales to [-1, 1] itself
            out[i] = session.run(None, {"pixels": x})[0][0]
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    return run


def measure(contenders: dict[str, Callable[[list], np.ndarray]], items: list, runs: int
            ) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Items/s per contender per run (interleaved), and max |output - first contender's output|."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    diffs: dict[str, float] = {}
    for fn in contenders.values():  # warm up: sessions, export, allocator, file cache
        fn(items[:16])
    for run in range(runs):
        outputs = {}
        order = list(contenders.items())
        for name, fn in order if run % 2 == 0 else order[::-1]:  # alternate who goes first
            t0 = time.perf_counter()
            outputs[name] = fn(items)
            rates[name].append(len(items) / (time.perf_counter() - t0))
        ref = outputs[next(iter(contenders))]
        for name, out in outputs.items():
            diffs[name] = max(diffs.get(name, 0.0), float(np.abs(out - ref).max()))
    return rates, diffs


def table(title: str, unit: str, rates: dict[str, list[float]], diffs: dict[str, float]) -> str:
    labella = next(iter(rates))
    lines = [f"\n{title}",
             f"| {'featuriser':<43} | {unit + '/s (median)':>16} | {'runs':<30} | "
             f"{'labella / this row':>22} | {'max |diff|':>10} |",
             f"|{'-' * 45}|{'-' * 18}|{'-' * 32}|{'-' * 24}|{'-' * 12}|"]
    for name, rs in rates.items():
        ratios = [a / b for a, b in zip(rates[labella], rs, strict=True)]
        ratio = f"{statistics.median(ratios):.2f}" if name != labella else ""
        runs = " ".join(f"{r:.0f}" for r in rs)
        lines.append(f"| {name:<43} | {statistics.median(rs):>16.1f} | {runs:<30} | "
                     f"{ratio:>22} | {diffs[name]:>10.1e} |")
    lines.append("labella / this row: median over runs of (Labella's rate ÷ that row's rate) in the"
                 " same run; max |diff|: largest element difference from Labella's output.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--skip", choices=["text", "image"], action="append", default=[])
    args = ap.parse_args(argv)

    import onnxruntime

    print(f"CPU cores: {os.cpu_count()}, onnxruntime {onnxruntime.__version__}, "
          f"load average at start: {os.getloadavg()[0]:.1f}")
    if "text" not in args.skip:
        texts = load_texts(args.texts)
        f = MiniLMFeaturiser()
        f.session()  # export once if needed, outside the timings
        rates, diffs = measure({
            "labella MiniLMFeaturiser (onnx)": f.embed,
            "bare onnxruntime": bare_text(f.onnx_path, sort=False),
            "bare onnxruntime, length-sorted": bare_text(f.onnx_path, sort=True),
        }, texts, args.runs)
        print(table(f"Text: {len(texts)} sentiment_cr texts, all-MiniLM-L6-v2 fp32 ONNX, batch "
                    f"{TEXT_BATCH}, {args.runs} runs", "sent", rates, diffs))
    if "image" not in args.skip:
        paths = load_image_paths(args.images)
        g = EfficientNetLite0Featuriser()
        g.session()
        rates, diffs = measure({
            "labella EfficientNetLite0Featuriser (onnx)": g.embed,
            "bare onnxruntime": bare_image(g.onnx_path),
        }, paths, args.runs)
        print(table(f"Images: {len(paths)} sign-language-digit JPEGs (100x100), EfficientNet-Lite0 "
                    f"fp32 ONNX, batch 1, decoding included, {args.runs} runs", "img", rates,
                    diffs))
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
