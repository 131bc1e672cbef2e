"""The data map: a 2-D projection of a project's embeddings, made by a background job.

:func:`start_map` queues a ``data_map`` job (or answers the job that already made or is
making the map of the current embeddings); :func:`run_map` projects every embedded item,
pool and held-out (:func:`labella.al.datamap.project_2d`), stores the coordinates in the
blob store (an ``.npz`` of item ids and ``x, y``) and keeps the blob's key, the
featuriser key and the item count in the job's result.

Caching: a map belongs to the embeddings it was made from, so it is found again by the
project's featuriser key (the embedding model and its version) among the project's
succeeded map jobs; a new featuriser makes a new map, a retrain does not (the model's
predictions and confidences are read live each time the points are asked for, and so
are the labels). Items embedded since the map was made are counted (``n_missing``) and
drawn once the map is refreshed.

Beyond :data:`MAX_POINTS` items the points answered are a sample: every labelled item,
then a fixed random sample of the others (:func:`labella.al.datamap.display_sample`).
A region (a lasso's polygon in map coordinates) selects among *all* mapped items,
drawn or not (:func:`items_in_region`).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from labella.al.datamap import display_sample, in_polygon, project_2d
from labella.jobs.runner import JobContext
from labella.service import auth
from labella.service.browse import predictions
from labella.service.errors import InvalidRequestError
from labella.service.labels import current_labels
from labella.store.items import Item
from labella.store.jobs import QUEUED, RUNNING, SUCCEEDED
from labella.store.users import User

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

MAP_KIND = "data_map"
MAX_POINTS = 50_000
"""The most points answered (and drawn); beyond it, a sample."""
MAX_REGION_VERTICES = 500
_SEARCHED = 20
"""How many recent map jobs are looked through for one of the current embeddings."""


@dataclass(frozen=True)
class Coordinates:
    item_ids: np.ndarray
    """Sorted item ids."""
    xy: np.ndarray


@dataclass(frozen=True)
class Category:
    """A column of categories, dictionary-encoded: ``values[codes[i]]`` (-1: none)."""

    values: list[str]
    codes: list[int]


@dataclass(frozen=True)
class MapPoints:
    """The map of a project, or where its job stands. Point columns are parallel lists
    (empty until the map is ready)."""

    status: str
    """``none`` (never made, or made from other embeddings), ``queued``, ``running``,
    ``failed`` or ``ready``."""
    job: Any | None
    """The job that made the map (ready) or is making it (queued, running, failed)."""
    method: str | None = None
    n_items: int = 0
    """Items in the map."""
    n_shown: int = 0
    n_missing: int = 0
    """Embedded items that are not in the map (added since it was made)."""
    featuriser_key: str | None = None
    model_version: int | None = None
    """The model whose predictions and confidences colour the map (``None``: no model)."""
    ids: list[int] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    label: Category = field(default_factory=lambda: Category([], []))
    prediction: Category = field(default_factory=lambda: Category([], []))
    confidence: list[float | None] = field(default_factory=list)
    annotator: Category = field(default_factory=lambda: Category([], []))
    split: Category = field(default_factory=lambda: Category([], []))


class MapFiles:
    """The last few maps read from the blob store, by key (decoded arrays); one per
    service context (``ctx.maps``)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._maps: OrderedDict[str, Coordinates] = OrderedDict()

    def get(self, ctx: ServiceContext, key: str) -> Coordinates:
        with self._lock:
            if key in self._maps:
                self._maps.move_to_end(key)
                return self._maps[key]
        with np.load(io.BytesIO(ctx.blobs.get(key))) as z:
            got = Coordinates(z["item_ids"], z["xy"])
        with self._lock:
            self._maps[key] = got
            while len(self._maps) > self.size:
                self._maps.popitem(last=False)
        return got


def _embedded(ctx: ServiceContext, project_id: int, *, rows: bool = False
              ) -> tuple[str, np.ndarray, np.ndarray | None]:
    """The current embeddings: featuriser key, item ids (pool then held out) and, with
    ``rows``, their matrix rows in that order (a new array)."""
    with ctx.loops.current(project_id) as st:
        key, pool_ids, eval_ids = st.featuriser_key, st.index.item_ids, st.eval_index.item_ids
        X, X_eval = st.X, st.X_eval
    ids = np.concatenate([pool_ids, eval_ids]).astype(np.int64)
    if not rows:
        return key, ids, None
    parts = [a for a in (X, X_eval) if len(a)]
    return key, ids, np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)


def _jobs(ctx: ServiceContext, project_id: int, featuriser_key: str) -> tuple[Any, Any]:
    """(the latest succeeded map of these embeddings, the latest map job of them in any
    status); either may be ``None``."""
    ready = latest = None
    for j in ctx.jobs.list(project_id=project_id, kinds=[MAP_KIND], limit=_SEARCHED):
        if j.params.get("featuriser_key") != featuriser_key:
            continue
        latest = latest or j
        if j.status == SUCCEEDED and j.result and ready is None:
            ready = j
    return ready, latest


def start_map(ctx: ServiceContext, user: auth.UserPublic, project_id: int, *,
              refresh: bool = False) -> Any:
    """The job of the project's map: one queued or running already, the one that made
    the map of the current embeddings (unless ``refresh``, or items were embedded
    since), or a new one."""
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    key, ids, _ = _embedded(ctx, project_id)
    ready, latest = _jobs(ctx, project_id, key)
    if latest is not None and latest.status in (QUEUED, RUNNING):
        return latest
    if ready is not None and not refresh and ready.result.get("n_items") == len(ids):
        return ready
    return ctx.enqueue(MAP_KIND, params={"project_id": project_id, "featuriser_key": key},
                       project_id=project_id, created_by=user.id)


def run_map(ctx: ServiceContext, job: JobContext) -> dict[str, Any]:
    project_id = int(job.params["project_id"])
    key, ids, X = _embedded(ctx, project_id, rows=True)
    assert X is not None
    if key != job.params.get("featuriser_key"):
        raise InvalidRequestError("the project was re-featurised since this map was asked "
                                  "for: ask again")
    if not len(ids):
        raise InvalidRequestError("no item is embedded yet: nothing to map")
    steps = 4
    job.progress(0, steps, f"projecting {len(ids)} items")

    step = [0]

    def say(message: str) -> None:
        step[0] = min(step[0] + 1, steps - 1)
        job.progress(step[0], steps, message)

    proj = project_2d(X, seed=project_id, progress=say)
    del X
    order = np.argsort(ids, kind="stable")
    buf = io.BytesIO()
    np.savez_compressed(buf, item_ids=ids[order], xy=proj.xy[order])
    blob = ctx.blobs.put(buf.getvalue(), suffix=".npz")
    job.progress(steps, steps, f"{len(ids)} items mapped ({proj.method}, "
                               f"{proj.seconds:.1f} s)")
    return {"featuriser_key": key, "blob": blob, "n_items": len(ids), "method": proj.method,
            "n_fitted": proj.n_fitted, "seconds": round(proj.seconds, 2)}


def _coordinates(ctx: ServiceContext, project_id: int) -> tuple[Any, Any, Coordinates | None]:
    key, _ids, _ = _embedded(ctx, project_id)
    ready, latest = _jobs(ctx, project_id, key)
    return ready, latest, (ctx.maps.get(ctx, ready.result["blob"]) if ready else None)


def map_points(ctx: ServiceContext, user: auth.UserPublic, project_id: int, *,
               max_points: int = MAX_POINTS) -> MapPoints:
    """The project's map (at most ``max_points`` points), or where its job stands."""
    if not 1 <= max_points <= MAX_POINTS:
        raise InvalidRequestError(f"max_points must be between 1 and {MAX_POINTS}; "
                                  f"got {max_points}")
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    key, embedded, _ = _embedded(ctx, project_id)
    ready, latest, coords = _coordinates(ctx, project_id)
    if coords is None:
        status = latest.status if latest is not None else "none"
        return MapPoints(status, latest, featuriser_key=key, n_missing=len(embedded))
    with ctx.read_session() as s:
        splits = dict(s.execute(select(Item.id, Item.split).where(
            Item.project_id == project_id)).all())
        labels = current_labels(s, project_id)
        users = dict(s.execute(select(User.id, User.username)).all())
    present = np.fromiter(splits, dtype=np.int64, count=len(splits))
    alive = np.isin(coords.item_ids, present)  # items deleted since drop out
    ids, xy = coords.item_ids[alive], coords.xy[alive]
    shown = display_sample(len(ids), max_points, seed=project_id,
                           keep=np.array([i in labels for i in ids.tolist()], dtype=bool))
    ids, xy = ids[shown], xy[shown]
    id_list = ids.tolist()
    pred, conf = predictions(ctx, project_id, ids)
    cur = [labels.get(i) for i in id_list]
    status = "ready" if latest is None or latest.id == ready.id or latest.status == SUCCEEDED \
        else latest.status
    return MapPoints(
        status, ready if status == "ready" else latest, ready.result.get("method"),
        int(alive.sum()), len(id_list),
        int((~np.isin(embedded, coords.item_ids)).sum()), key, _model_version(ctx, project_id),
        id_list, np.round(xy[:, 0], 4).tolist(), np.round(xy[:, 1], 4).tolist(),
        _encode([", ".join(c.labels) if c else None for c in cur]),
        _encode([", ".join(p) if p is not None else None for p in pred]),
        [None if np.isnan(c) else round(float(c), 3) for c in conf.tolist()],
        _encode([users.get(c.user_id) if c and c.user_id else None for c in cur]),
        _encode([splits.get(i) for i in id_list]))


def _model_version(ctx: ServiceContext, project_id: int) -> int | None:
    st = ctx.loops.state(project_id)
    with st.lock:
        return st.version if st.head is not None else None


def _encode(values: list[str | None]) -> Category:
    names = sorted({v for v in values if v is not None})
    code = {v: k for k, v in enumerate(names)}
    return Category(names, [-1 if v is None else code[v] for v in values])


def parse_region(text: str) -> np.ndarray:
    """``"x1,y1;x2,y2;..."`` (at least three vertices) as an ``(m, 2)`` array."""
    try:
        poly = np.array([[float(v) for v in pair.split(",")] for pair in text.split(";")
                         if pair.strip()], dtype=np.float64)
    except ValueError:
        raise InvalidRequestError("region must be 'x1,y1;x2,y2;x3,y3;...' (numbers)") from None
    if poly.ndim != 2 or poly.shape[1:] != (2,) or not 3 <= len(poly) <= MAX_REGION_VERTICES:
        raise InvalidRequestError(f"region must have 3 to {MAX_REGION_VERTICES} 'x,y' vertices")
    if not np.isfinite(poly).all():
        raise InvalidRequestError("region coordinates must be finite numbers")
    return poly


def items_in_region(ctx: ServiceContext, project_id: int, region: np.ndarray) -> np.ndarray:
    """Sorted ids of every mapped item (drawn or not) inside ``region``, a polygon in the
    coordinates of the project's current map."""
    _ready, _latest, coords = _coordinates(ctx, project_id)
    if coords is None:
        raise InvalidRequestError("the project has no data map of its current embeddings: "
                                  "make one on the map page first")
    return coords.item_ids[in_polygon(coords.xy, region)]
