"""Build a multi-label image set by tiling real sign-language-digit photos 2x2.

Each tile is a 200x200 JPEG made of four 100x100 photos picked at random
(digit uniformly, then a photo of that digit); its labels are the set of digits
shown (1 to 4 of the 10). The photos are split into train and test photos
first, and test tiles use test photos only, so no photo appears in both the
pool and the test set. The output directory holds ``tiles/*.jpg`` and a
``labels.csv`` with ``filename,labels,split,sources`` (labels joined by ``|``,
sources = the four photos, relative to the source directory, joined by ``;``),
which ``labella simulate DIR`` reads as multi-label image data.

The result is deterministic for a seed. Usage::

    python benchmarks/make_tiled_images.py OUT_DIR [--n 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from labella.datafiles import shared_datasets_dir

SOURCE = shared_datasets_dir() / "images_sign_language_digits" / "images"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
CELL = 100
GRID = 2


@dataclass(frozen=True)
class Tile:
    filename: str
    labels: list[str]
    split: str
    sources: list[str]


def _photos_by_digit(source: Path) -> dict[str, list[Path]]:
    out = {}
    for d in sorted(p for p in source.iterdir() if p.is_dir()):
        photos = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if photos:
            out[d.name] = photos
    if len(out) < 2:
        raise ValueError(f"{source}: expected class folders with images; found {list(out)}")
    return out


def _split_photos(
    photos: dict[str, list[Path]], test_fraction: float, rng: np.random.Generator
) -> dict[str, dict[str, list[Path]]]:
    """``{"train": {digit: photos}, "test": {digit: photos}}``, each digit split on its own."""
    out: dict[str, dict[str, list[Path]]] = {"train": {}, "test": {}}
    for digit, ps in photos.items():
        order = rng.permutation(len(ps))
        k = max(1, round(len(ps) * test_fraction))
        out["test"][digit] = [ps[i] for i in sorted(order[:k])]
        out["train"][digit] = [ps[i] for i in sorted(order[k:])]
    return out


def _compose(paths: list[Path]) -> object:
    from PIL import Image

    canvas = Image.new("RGB", (CELL * GRID, CELL * GRID))
    for k, p in enumerate(paths):
        with Image.open(p) as im:
            cell = im.convert("RGB").resize((CELL, CELL), Image.Resampling.BILINEAR)
        canvas.paste(cell, ((k % GRID) * CELL, (k // GRID) * CELL))
    return canvas


def make_tiled(
    out_dir: str | Path,
    *,
    n: int = 2000,
    seed: int = 0,
    test_fraction: float = 0.2,
    source: str | Path = SOURCE,
) -> list[Tile]:
    """Write ``n`` tiles and ``labels.csv`` under ``out_dir``; return the tiles in file order.

    A directory already holding this exact set (same n, seed, test fraction and
    source, recorded in ``tiles.json``) is left as it is.
    """
    out, src = Path(out_dir), Path(source)
    params = {"n": n, "seed": seed, "test_fraction": test_fraction, "source": str(src.resolve())}
    meta = out / "tiles.json"
    if meta.exists() and (out / "labels.csv").exists():
        saved = json.loads(meta.read_text())
        if saved.get("params") == params:
            return [Tile(**t) for t in saved["tiles"]]
    if n < 1 or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"need n >= 1 and 0 < test_fraction < 1; got {n}, {test_fraction}")
    rng = np.random.default_rng(seed)
    photos = _split_photos(_photos_by_digit(src), test_fraction, rng)
    digits = sorted(photos["train"])
    for split, by_digit in photos.items():
        if min(len(v) for v in by_digit.values()) < 1 or sum(map(len, by_digit.values())) < GRID * GRID:
            raise ValueError(f"{src}: too few photos for {split} tiles "
                             f"({ {d: len(v) for d, v in by_digit.items()} })")
    n_test = round(n * test_fraction)
    (out / "tiles").mkdir(parents=True, exist_ok=True)
    tiles = []
    for i in range(n):
        split = "test" if i < n_test else "train"
        chosen: list[Path] = []
        cells: list[str] = []
        while len(chosen) < GRID * GRID:
            digit = digits[int(rng.integers(len(digits)))]
            pool = photos[split][digit]
            p = pool[int(rng.integers(len(pool)))]
            if p not in chosen:
                chosen.append(p)
                cells.append(digit)
        name = f"tiles/tile_{i:05d}.jpg"
        _compose(chosen).save(out / name, quality=90)  # type: ignore[attr-defined]
        tiles.append(Tile(name, sorted(set(cells), key=digits.index), split,
                          [str(p.relative_to(src)) for p in chosen]))
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["filename", "labels", "split", "sources"])
        for t in tiles:
            w.writerow([t.filename, "|".join(t.labels), t.split, ";".join(t.sources)])
    meta.write_text(json.dumps({"params": params, "tiles": [asdict(t) for t in tiles]}))
    return tiles


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--n", type=int, default=2000, help="number of tiles (default 2000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--source", type=Path, default=SOURCE, help="folder of <digit>/<photo> images")
    a = ap.parse_args(argv)
    tiles = make_tiled(a.out_dir, n=a.n, seed=a.seed, test_fraction=a.test_fraction, source=a.source)
    n_labels = np.mean([len(t.labels) for t in tiles])
    print(f"{len(tiles)} tiles in {a.out_dir} ({sum(t.split == 'test' for t in tiles)} test), "
          f"{n_labels:.2f} labels per tile")


if __name__ == "__main__":
    main()
