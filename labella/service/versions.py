"""Dataset versions: freeze, list, diff and read named snapshots of a project's labels.

:func:`freeze` copies every labelled item's current label (:mod:`labella.service.labels`:
a reviewer's final label wins over the annotators' answers) and the newest ready model
version into a version that is never changed afterwards. :func:`diff` compares two
versions, or a version with the labels now (``"now"``). Exports of a version go through
:mod:`labella.service.exporting` with :func:`snapshot_labels`. Freezing needs the
project's reviewer or admin role; reading, any member's.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from labella.service import auth
from labella.service.errors import ConflictError, InvalidRequestError, NotFoundError
from labella.service.labels import CurrentLabel, current_labels
from labella.store.models import READY, ModelVersion
from labella.store.users import User
from labella.store.versions import DatasetVersion, VersionLabel

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

NOW = "now"
"""The name that stands for the current labels in a diff (no version may take it)."""
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
CHUNK = 5000


@dataclass(frozen=True)
class VersionInfo:
    name: str
    note: str
    model_version: int | None
    n_labels: int
    created_by: str | None
    created_at: datetime
    label_counts: dict[str, int] = field(default_factory=dict)
    """Items per label name (multi-label: an item counts once per label)."""


@dataclass(frozen=True)
class Diff:
    a: str
    b: str
    n_added: int
    n_changed: int
    n_removed: int
    n_unchanged: int
    transitions: dict[str, int]
    """``"old -> new"`` (label names joined by ``+`` for multi-label) -> items."""
    added: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    removed: list[dict[str, Any]]


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or name == NOW:
        raise InvalidRequestError(
            "a version name is 1-100 letters, digits, '.', '_' or '-' (starting with a letter "
            f"or digit), and not {NOW!r}; got {name[:101]!r}")
    return name


def _get(s: Session, project_id: int, name: str) -> DatasetVersion:
    v = s.scalar(select(DatasetVersion).where(DatasetVersion.project_id == project_id,
                                              DatasetVersion.name == name))
    if v is None:
        raise NotFoundError(f"project {project_id} has no version {name!r}")
    return v


def _counts(labels: dict[int, CurrentLabel]) -> dict[str, int]:
    return dict(Counter(n for cur in labels.values() for n in cur.labels))


def _info(v: DatasetVersion, by: str | None) -> VersionInfo:
    return VersionInfo(v.name, v.note, v.model_version, v.n_labels, by, v.created_at,
                       dict(v.label_counts))


def freeze(ctx: ServiceContext, user: auth.UserPublic, project_id: int, name: str, *,
           note: str = "") -> VersionInfo:
    """Snapshot the current labels and model version as ``name`` (unique per project)."""
    check_name(name)
    with ctx.session() as s:
        auth.require_role(s, user, project_id, "reviewer")
        if s.scalar(select(DatasetVersion.id).where(DatasetVersion.project_id == project_id,
                                                    DatasetVersion.name == name)) is not None:
            raise ConflictError(f"project {project_id} already has a version {name!r}; "
                                "versions never change: pick a new name")
        labels = current_labels(s, project_id)
        model_version = s.scalar(select(func.max(ModelVersion.version)).where(
            ModelVersion.project_id == project_id, ModelVersion.status == READY))
        v = DatasetVersion(project_id=project_id, name=name, note=note,
                           model_version=model_version, n_labels=len(labels),
                           label_counts=_counts(labels), created_by=user.id)
        s.add(v)
        s.flush()
        rows = [{"version_id": v.id, "item_id": cur.item_id, "labels": cur.labels,
                 "user_id": cur.user_id, "annotation_id": cur.annotation_id,
                 "annotated_at": cur.created_at} for cur in labels.values()]
        for i in range(0, len(rows), CHUNK):
            s.execute(insert(VersionLabel), rows[i:i + CHUNK])
        return _info(v, user.username)


def list_versions(ctx: ServiceContext, user: auth.UserPublic, project_id: int
                  ) -> list[VersionInfo]:
    """The project's versions, oldest first, with their label counts."""
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
        found = s.execute(select(DatasetVersion, User.username)
                          .outerjoin(User, User.id == DatasetVersion.created_by)
                          .where(DatasetVersion.project_id == project_id)
                          .order_by(DatasetVersion.id)).all()
        return [_info(v, by) for v, by in found]


def _snapshot(s: Session, version_id: int) -> dict[int, CurrentLabel]:
    return {r.item_id: CurrentLabel(r.item_id, list(r.labels), r.user_id, r.annotation_id,
                                    r.annotated_at)
            for r in s.scalars(select(VersionLabel).where(VersionLabel.version_id == version_id)
                               .order_by(VersionLabel.item_id))}


def snapshot_labels(s: Session, project_id: int, name: str) -> dict[int, CurrentLabel]:
    """The labels version ``name`` holds (``"now"``: the current labels), by item id.
    The caller checks the role."""
    if name == NOW:
        return current_labels(s, project_id)
    return _snapshot(s, _get(s, project_id, name).id)


def _show(labels: list[str]) -> str:
    return "+".join(sorted(labels)) or "(none)"


def diff(ctx: ServiceContext, user: auth.UserPublic, project_id: int, a: str, b: str = NOW, *,
         limit: int = 100) -> Diff:
    """What changed from version ``a`` to ``b`` (default: the labels now): items labelled
    in ``b`` only (added), in both with other labels (changed), in ``a`` only (removed);
    at most ``limit`` items of each are listed, the counts are complete."""
    if not 0 <= limit <= 10_000:
        raise InvalidRequestError(f"limit must be between 0 and 10000; got {limit}")
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
        old, new = snapshot_labels(s, project_id, a), snapshot_labels(s, project_id, b)
    added = [i for i in new if i not in old]
    removed = [i for i in old if i not in new]
    changed = [i for i in new if i in old and sorted(old[i].labels) != sorted(new[i].labels)]
    transitions = Counter(f"{_show(old[i].labels)} -> {_show(new[i].labels)}" for i in changed)
    return Diff(a, b, len(added), len(changed), len(removed),
                len(new) - len(added) - len(changed), dict(transitions.most_common()),
                [{"item_id": i, "labels": new[i].labels} for i in sorted(added)[:limit]],
                [{"item_id": i, "old": old[i].labels, "new": new[i].labels}
                 for i in sorted(changed)[:limit]],
                [{"item_id": i, "labels": old[i].labels} for i in sorted(removed)[:limit]])


def version_exists(s: Session, project_id: int, name: str) -> None:
    """:class:`NotFoundError` unless ``name`` is a version of the project (or ``"now"``)."""
    if name != NOW:
        _get(s, project_id, name)
