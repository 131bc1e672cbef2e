"""A persistent embedding cache keyed by (featuriser key, sha256 of the content).

Layout, one folder per featuriser key::

    <directory>/<slug>-<sha256(key)[:12]>/
        meta.json                 {"key", "dim", "modality", "format"}  (informational)
        <shard>.vec.npy           float32 (n, dim)   embeddings
        <shard>.ids.npy           |S64 (n,)          hex sha256 of each row's content

Every file is written to a temporary name and renamed into place, and a shard's ``ids`` file is
written after its ``vec`` file: the ids file is the commit marker, so a crash leaves at most an
orphan ``vec`` file or a ``*.tmp``, both ignored. Files are plain ``.npy`` read with
``allow_pickle=False``; a shard that fails to load or has the wrong shape is renamed to
``*.corrupt`` with a warning and its rows are simply computed again. The index (content hash ->
shard row) is rebuilt in memory from the ids files, and shards written by other processes are
picked up on the next call. Several processes may share one cache: shard names are unique, and
duplicate rows (the same content computed twice) are harmless.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labella.errors import DataError
from labella.features.base import (
    Featuriser,
    ImageItem,
    Progress,
    atomic_write,
    batches,
    check_output,
    read_image_bytes,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_ID_DTYPE = np.dtype("S64")
_AUTO_COMPACT_SHARDS = 128
_STALE_SECONDS = 24 * 3600


class FeaturiseError(DataError):
    """Some items could not be featurised; every other item was computed and cached.

    ``errors`` maps each bad item's position in the call to the reason.
    """

    def __init__(self, errors: dict[int, str], *, total: int) -> None:
        self.errors = dict(sorted(errors.items()))
        shown = "; ".join(f"item {i}: {msg}" for i, msg in list(self.errors.items())[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{len(errors)} of {total} items could not be featurised: {shown}{more}")


def content_hash(item: str | bytes) -> bytes:
    """Hex sha256 (as ASCII bytes) of a text's UTF-8 encoding or of an image's bytes."""
    data = item.encode("utf-8", "surrogatepass") if isinstance(item, str) else item
    return hashlib.sha256(data).hexdigest().encode("ascii")


@dataclass(eq=False)
class _Shard:
    name: str
    ids: np.ndarray
    vecs: np.ndarray  # memory-mapped, read only


@dataclass
class _KeyStore:
    """The in-memory index of one featuriser key's folder."""

    path: Path
    dim: int
    shards: list[_Shard] = field(default_factory=list)
    index: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def refresh(self) -> None:
        """Load shards that appeared since the last look (ours or another process's)."""
        if not self.path.is_dir():
            return
        for ids_path in sorted(self.path.glob("*.ids.npy")):
            name = ids_path.name.removesuffix(".ids.npy")
            if name not in self.seen:
                self.seen.add(name)
                self._load(name)

    def _load(self, name: str) -> None:
        ids_path, vec_path = self.path / f"{name}.ids.npy", self.path / f"{name}.vec.npy"
        try:
            ids = np.load(ids_path, allow_pickle=False)
            vecs = np.load(vec_path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:  # removed by a concurrent compaction
            return
        except (ValueError, OSError, EOFError) as exc:
            self._quarantine(name, f"unreadable ({exc})")
            return
        problem = None
        if ids.ndim != 1 or ids.dtype != _ID_DTYPE:
            problem = f"ids have dtype {ids.dtype} and shape {ids.shape}"
        elif vecs.dtype != np.float32 or vecs.shape != (len(ids), self.dim):
            problem = f"vectors {vecs.dtype} {vecs.shape}, expected float32 {(len(ids), self.dim)}"
        if problem:
            self._quarantine(name, problem)
            return
        self.add(_Shard(name, ids, vecs))

    def _quarantine(self, name: str, why: str) -> None:
        log.warning("embedding cache shard %s/%s is %s; ignoring it (renamed *.corrupt)",
                    self.path.name, name, why)
        for suffix in (".ids.npy", ".vec.npy"):
            p = self.path / f"{name}{suffix}"
            try:
                p.rename(p.with_name(p.name + ".corrupt"))
            except OSError:
                pass

    def add(self, shard: _Shard) -> None:
        s = len(self.shards)
        self.shards.append(shard)
        self.seen.add(shard.name)
        for row, h in enumerate(shard.ids.tolist()):
            self.index.setdefault(h, (s, row))

    def write(self, ids: np.ndarray, vecs: np.ndarray) -> _Shard:
        """Persist one shard (vectors first, then the ids that commit it) and index it."""
        self.path.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        vec_path, ids_path = self.path / f"{name}.vec.npy", self.path / f"{name}.ids.npy"
        atomic_write(vec_path, lambda tmp: _save(tmp, vecs))
        atomic_write(ids_path, lambda tmp: _save(tmp, ids))
        shard = _Shard(name, ids, np.load(vec_path, mmap_mode="r", allow_pickle=False))
        self.add(shard)
        return shard

    def gather(self, hashes: Sequence[bytes]) -> np.ndarray:
        """Vectors for ``hashes`` (all must be indexed): float32 (len(hashes), dim)."""
        out = np.empty((len(hashes), self.dim), dtype=np.float32)
        where = np.array([self.index[h] for h in hashes], dtype=np.int64).reshape(-1, 2)
        for s in np.unique(where[:, 0]):
            mask = where[:, 0] == s
            out[mask] = self.shards[s].vecs[where[mask, 1]]
        return out

    def compact(self, names: set[str] | None = None) -> None:
        """Merge shards (all, or those in ``names``) into one, dropping duplicate rows."""
        chosen = [sh for sh in self.shards if names is None or sh.name in names]
        if len(chosen) < 2:
            return
        ids = np.concatenate([sh.ids for sh in chosen])
        vecs = np.concatenate([np.asarray(sh.vecs) for sh in chosen])
        _, first = np.unique(ids, return_index=True)
        first.sort()
        self.write(ids[first], vecs[first])
        for sh in chosen:  # the ids file first: without it the vec file is an ignored orphan
            (self.path / f"{sh.name}.ids.npy").unlink(missing_ok=True)
            (self.path / f"{sh.name}.vec.npy").unlink(missing_ok=True)
        gone = {sh.name for sh in chosen}
        self._reindex(keep=[sh for sh in self.shards if sh.name not in gone])

    def _reindex(self, keep: list[_Shard]) -> None:
        self.shards, self.index = [], {}
        for sh in keep:
            self.add(sh)

    def sweep(self) -> None:
        """Delete stale leftovers of crashed writes (temporary files, orphan vec files)."""
        cutoff = time.time() - _STALE_SECONDS
        for p in self.path.glob("*"):
            orphan = p.name.endswith(".vec.npy") and not p.with_name(
                p.name.replace(".vec.npy", ".ids.npy")).exists()
            try:
                if (p.name.endswith(".tmp") or orphan) and p.stat().st_mtime < cutoff:
                    p.unlink(missing_ok=True)
            except FileNotFoundError:  # removed meanwhile by another process
                pass


def _reason(exc: Exception) -> str:
    """A featuriser's error message without its own "image item N: " prefix (N is its index)."""
    return re.sub(r"^\w+ item \d+: ", "", str(exc))


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.save would append ".npy" to a path
        np.save(fh, array, allow_pickle=False)


class EmbeddingCache:
    """Embeddings computed once per (featuriser key, content) and kept on disk.

    Args:
        directory: where the cache lives (created on first write).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()
        self._stores: dict[str, _KeyStore] = {}

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.directory)!r})"

    def key_dir(self, key: str) -> Path:
        """The folder holding one featuriser key's shards."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")[:60]
        return self.directory / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def _store(self, featuriser: Featuriser) -> _KeyStore:
        key, dim = featuriser.key, int(featuriser.dim)
        store = self._stores.get(key)
        if store is None or store.dim != dim:
            store = self._stores[key] = _KeyStore(self.key_dir(key), dim)
        store.refresh()
        return store

    def _write_meta(self, featuriser: Featuriser, store: _KeyStore) -> None:
        meta = store.path / "meta.json"
        if not meta.exists():
            doc = {"key": featuriser.key, "dim": store.dim, "modality": featuriser.modality,
                   "format": FORMAT_VERSION}
            atomic_write(meta, lambda tmp: tmp.write_text(json.dumps(doc, indent=1)))

    def count(self, featuriser: Featuriser) -> int:
        """How many distinct contents are cached for this featuriser's key."""
        return len(self._store(featuriser).index)

    def compact(self, featuriser: Featuriser) -> None:
        """Merge this key's shards into one file and delete stale crash leftovers."""
        store = self._store(featuriser)
        store.compact()
        store.sweep()

    def forget(self, hashes: Sequence[bytes]) -> int:
        """Remove the rows of these content hashes under every featuriser key; returns how
        many rows went. Shards holding none of them are left alone; the others are rewritten
        without them (the new shard is written before the old one is removed)."""
        drop = np.array(sorted(set(hashes)), dtype=_ID_DTYPE)
        if not len(drop) or not self.directory.is_dir():
            return 0
        removed = 0
        for meta in sorted(self.directory.glob("*/meta.json")):
            try:
                dim = int(json.loads(meta.read_text())["dim"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            store = _KeyStore(meta.parent, dim)
            store.refresh()
            for sh in list(store.shards):
                hit = np.isin(sh.ids, drop)
                if not hit.any():
                    continue
                if not hit.all():
                    store.write(sh.ids[~hit], np.asarray(sh.vecs)[~hit])
                for suffix in (".ids.npy", ".vec.npy"):  # the ids file (the commit marker) first
                    (store.path / f"{sh.name}{suffix}").unlink(missing_ok=True)
                removed += int(hit.sum())
        self._stores.clear()  # indexes of this process are rebuilt from the files
        return removed

    def lookup(self, featuriser: Featuriser, hashes: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Cached vectors for content hashes (as :func:`content_hash` gives them), computing nothing.

        Returns:
            ``(vectors, found)``: float32 ``(len(hashes), dim)`` with zero rows where
            ``found`` (bool ``(len(hashes),)``) is false.
        """
        store = self._store(featuriser)
        found = np.fromiter((h in store.index for h in hashes), dtype=bool, count=len(hashes))
        out = np.zeros((len(hashes), store.dim), dtype=np.float32)
        if found.any():
            out[found] = store.gather([h for h, ok in zip(hashes, found, strict=True) if ok])
        return out, found

    def get_or_compute(
        self,
        featuriser: Featuriser,
        items: Sequence[str] | Sequence[ImageItem],
        *,
        progress: Progress | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Embeddings of ``items`` in order, computing only contents not cached yet.

        A corpus-dependent featuriser that is not fitted yet (``fitted`` false, e.g. an unfitted
        :class:`~labella.features.fallback.TfidfSvdFeaturiser`) is first fitted on ``items``.
        Identical contents within the call are computed once. Misses are computed in chunks of
        ``batch_size`` distinct items (default 1024 for text, 128 for images), each persisted as
        soon as it is done, so an interrupted call keeps its finished chunks. ``progress(done,
        total)`` counts items of this call whose embedding is available (cached hits first).

        Returns:
            float32 (len(items), featuriser.dim), rows as the featuriser made them.

        Raises:
            FeaturiseError: some items could not be read or decoded; all others were cached.
        """
        if getattr(featuriser, "fitted", True) is False:
            # a corpus-dependent featuriser (TF-IDF) is fitted on the first corpus it is given;
            # its key then names that fit
            log.info("fitting %r on the %d items given", featuriser, len(items))
            featuriser.fit(items)  # type: ignore[attr-defined]
        store = self._store(featuriser)
        text = featuriser.modality == "text"
        chunk = batch_size or (1024 if text else 128)
        if chunk < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        items = list(items)  # also makes a pandas Series positional
        n = len(items)
        hashes: list[bytes] = []
        payloads: dict[bytes, ImageItem] = {}  # distinct misses, first-seen order
        positions: dict[bytes, list[int]] = {}
        errors: dict[int, str] = {}
        for i, item in enumerate(items):
            if text:
                if not isinstance(item, str):
                    raise DataError(f"text item {i} should be a str, got {type(item).__name__}")
                h = content_hash(item)
            else:
                try:
                    h = content_hash(read_image_bytes(item, index=i))
                except DataError as exc:
                    errors[i] = _reason(exc)
                    hashes.append(b"")
                    continue
            hashes.append(h)
            if h not in store.index:
                # a path is passed on (and read again) rather than its bytes kept: memory stays
                # proportional to the number of items, not to their size
                payloads.setdefault(h, item)
                positions.setdefault(h, []).append(i)
        done = n - len(errors) - sum(len(p) for p in positions.values())
        if progress is not None:
            progress(done, n)

        written: set[str] = set()
        misses = list(payloads)
        for sl in batches(len(misses), chunk):
            todo = misses[sl]
            ok, vecs, bad = self._embed_chunk(featuriser, [payloads[h] for h in todo])
            for j, msg in bad.items():
                for i in positions[todo[j]]:
                    errors[i] = msg
            if ok:
                ids = np.array([todo[j] for j in ok], dtype=_ID_DTYPE)
                written.add(store.write(ids, vecs).name)
                self._write_meta(featuriser, store)
            done += sum(len(positions[todo[j]]) for j in ok)
            if progress is not None:
                progress(done, n)

        if len(written) > 1:
            store.compact(written)
        if len(store.shards) > _AUTO_COMPACT_SHARDS:
            store.compact()
        if errors:
            raise FeaturiseError(errors, total=n)
        return store.gather(hashes)

    @staticmethod
    def _embed_chunk(
        featuriser: Featuriser, payloads: list[ImageItem]
    ) -> tuple[list[int], np.ndarray, dict[int, str]]:
        """Embed a chunk; on bad input, retry item by item to isolate the bad ones.

        Returns (positions embedded, their vectors, {position: error message}).
        """
        dim = int(featuriser.dim)
        try:
            vecs = featuriser.embed(payloads)
            vecs = check_output(vecs, n=len(payloads), dim=dim, key=featuriser.key)
            return list(range(len(payloads))), vecs, {}
        except DataError as exc:
            if len(payloads) == 1:
                return [], np.zeros((0, dim), dtype=np.float32), {0: _reason(exc)}
        ok: list[int] = []
        rows: list[np.ndarray] = []
        bad: dict[int, str] = {}
        for j, p in enumerate(payloads):
            try:
                v = featuriser.embed([p])
                rows.append(check_output(v, n=1, dim=dim, key=featuriser.key))
                ok.append(j)
            except DataError as exc:
                bad[j] = _reason(exc)
        vecs = np.concatenate(rows) if rows else np.zeros((0, dim), dtype=np.float32)
        return ok, vecs, bad
