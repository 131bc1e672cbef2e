"""Projects: create, list, read, change settings, members."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labella.al.consensus import METHODS as CONSENSUS_METHODS
from labella.al.pipelines import HEAD_FACTORIES, known_names, pipeline_for
from labella.al.strategies import REGISTRY
from labella.config import REQUEST_LIMITS as LIMITS
from labella.features.registry import REGISTRY as FEATURISERS
from labella.features.registry import default_featuriser_name, fallback_warning
from labella.service import auth
from labella.service.errors import ConflictError, InvalidRequestError, NotFoundError
from labella.service.hotkeys import check_hotkeys
from labella.service.state import DEFAULT_SETTINGS, RELABEL_MODES, project_settings
from labella.store.annotations import Annotation
from labella.store.items import Item
from labella.store.models import READY, ModelVersion
from labella.store.projects import Member, Project
from labella.store.users import User

TASKS = ("text", "image")
MAX_LABELS_PER_ITEM = 5
"""The most answers a project may ask for per item (``labels_per_item``)."""
NOT_FOR_PROJECTS = frozenset({"tfidf", "sentence_transformer"})
"""Featurisers a server project cannot use: TF-IDF is fitted on a corpus (its vocabulary
would change with each import; ``labella simulate`` can use it), and a local model directory
is named per call, not per project."""
log = logging.getLogger(__name__)

DEFAULT_FEATURISER = {"text": "minilm", "image": "efficientnet_lite0"}
"""A new project's featuriser where its packages are installed (else :func:`default_project_featuriser`'s fallback)."""


def default_project_featuriser(task: str) -> str:
    """``DEFAULT_FEATURISER[task]`` if it can run here, else the torch-free fallback a
    project can use (``hashing`` for text, ``pixels`` for images), with a one-line warning."""
    name, why = default_featuriser_name(task, corpus_free=True)  # type: ignore[arg-type]
    if why is not None:
        log.warning(fallback_warning(task, name, why))  # type: ignore[arg-type]
    return name


@dataclass(frozen=True)
class ProjectPublic:
    id: int
    name: str
    description: str
    task: str
    multi_label: bool
    labels: list[str]
    featuriser: str
    head: str
    strategy: str
    settings: dict[str, Any]
    created_at: datetime
    role: str | None = None
    n_items: int = 0
    n_pool: int = 0
    n_evaluation: int = 0
    n_labeled: int = 0
    model_version: int = 0


def _public(p: Project, *, role: str | None = None, counts: dict[str, int] | None = None
            ) -> ProjectPublic:
    c = counts or {}
    return ProjectPublic(
        p.id, p.name, p.description, p.task, p.multi_label, list(p.labels), p.featuriser,
        p.head, p.strategy, project_settings(p), p.created_at, role,
        c.get("n_items", 0), c.get("n_pool", 0), c.get("n_evaluation", 0),
        c.get("n_labeled", 0), c.get("model_version", 0))


def check_labels(labels: list[str], *, multi_label: bool) -> list[str]:
    if len(labels) > LIMITS.max_labels:
        raise InvalidRequestError(
            f"labels: a project has at most {LIMITS.max_labels} labels; got {len(labels)}")
    names = [str(lab).strip() for lab in labels]
    long = next((n for n in names if len(n) > LIMITS.max_label_chars), None)
    if long is not None:
        raise InvalidRequestError(f"labels: a label name has at most {LIMITS.max_label_chars} "
                                  f"characters; got one of {len(long)}")
    if len(names) < (1 if multi_label else 2):
        raise InvalidRequestError(
            f"a {'multi' if multi_label else 'single'}-label project needs at least "
            f"{1 if multi_label else 2} labels; got {len(names)}")
    if any(not n for n in names):
        raise InvalidRequestError("label names must not be empty")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[:5]
        raise InvalidRequestError(f"label names must be unique; repeated: {dup}")
    folded: dict[str, str] = {}
    for n in names:
        other = folded.setdefault(n.casefold(), n)
        if other != n:
            raise InvalidRequestError(f"label names must differ in more than case: {other!r} "
                                      f"and {n!r}")
    if multi_label and any("|" in n for n in names):
        raise InvalidRequestError("multi-label names must not contain '|' (it joins names in files)")
    return names


def check_description(description: str) -> str:
    if len(description) > LIMITS.max_description_chars:
        raise InvalidRequestError(
            f"description: at most {LIMITS.max_description_chars:,} characters; got "
            f"{len(description):,}")
    return description


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = set(settings) - set(DEFAULT_SETTINGS)
    if unknown:
        raise InvalidRequestError(
            f"unknown setting(s) {sorted(unknown)}; known: {sorted(DEFAULT_SETTINGS)}")
    out = dict(settings)
    for key, lo, hi in (("batch_size", 1, 1000), ("queue_size", 1, 10_000),
                        ("stop_set_size", 0, 100_000)):
        if key in out and out[key] is not None:
            v = out[key]
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise InvalidRequestError(f"{key} must be an integer in {lo}..{hi}; got {v!r}")
    if "audit_share" in out and out["audit_share"] is not None:
        v = out["audit_share"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= float(v) <= 0.5:
            raise InvalidRequestError(f"audit_share must be a number in 0..0.5; got {v!r}")
        out["audit_share"] = float(v)
    if "preselect_threshold" in out and out["preselect_threshold"] is not None:
        v = out["preselect_threshold"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.5 <= float(v) <= 1.0:
            raise InvalidRequestError(f"preselect_threshold must be a number in 0.5..1; got {v!r}")
        out["preselect_threshold"] = float(v)
    out.update(check_overlap_settings(out))
    if "exploration" in out and out["exploration"] is not None:
        v = out["exploration"]
        if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
            raise InvalidRequestError(f"exploration must be a number in 0..1; got {v!r}")
        out["exploration"] = float(v)
    if out.get("cold_start") not in (None, "random"):
        info = REGISTRY.info(str(out["cold_start"]))  # UnknownNameError lists the names
        if getattr(info.factory, "needs_model", True):
            raise InvalidRequestError(
                f"cold_start must be a strategy that needs no model (e.g. kmeans_pp, typiclust); "
                f"{out['cold_start']!r} needs one")
    if "hotkeys" in out:
        out["hotkeys"] = check_hotkeys(out["hotkeys"])
    budget = out.get("label_budget")
    if budget is not None and (not isinstance(budget, int) or budget < 1):
        raise InvalidRequestError(f"label_budget must be a positive integer or null; got {budget!r}")
    return out


def check_overlap_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``labels_per_item`` (1-5), ``overlap_share`` (0-1), ``consensus`` (a method of
    :mod:`labella.al.consensus`) and ``relabel`` (``off`` or ``activelab``), normalised; the keys not given are left out."""
    out: dict[str, Any] = {}
    if settings.get("labels_per_item") is not None:
        v = settings["labels_per_item"]
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_LABELS_PER_ITEM:
            raise InvalidRequestError(
                f"labels_per_item must be an integer in 1..{MAX_LABELS_PER_ITEM} (how many "
                f"annotators answer an overlap item); got {v!r}")
        out["labels_per_item"] = v
    if settings.get("overlap_share") is not None:
        v = settings["overlap_share"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= float(v) <= 1.0:
            raise InvalidRequestError(
                f"overlap_share must be a number in 0..1 (the share of items that get "
                f"labels_per_item answers; 1: every item); got {v!r}")
        out["overlap_share"] = float(v)
    if settings.get("relabel") is not None and settings["relabel"] not in RELABEL_MODES:
        raise InvalidRequestError(f"relabel must be one of {', '.join(RELABEL_MODES)}; "
                                  f"got {settings['relabel']!r}")
    if settings.get("consensus") is not None and settings["consensus"] not in CONSENSUS_METHODS:
        raise InvalidRequestError(f"consensus must be one of {', '.join(CONSENSUS_METHODS)}; "
                                  f"got {settings['consensus']!r}")
    return out


def create_project(s: Session, user: auth.UserPublic, *, name: str, task: str,
                   multi_label: bool, labels: list[str], description: str = "",
                   featuriser: str | None = None, strategy: str = "labella",
                   head: str | None = None, settings: dict[str, Any] | None = None
                   ) -> ProjectPublic:
    name = name.strip()
    if not name or len(name) > LIMITS.max_name_chars:
        raise InvalidRequestError(f"name: a project name is 1-{LIMITS.max_name_chars} "
                                  f"characters; got {len(name)}")
    check_description(description)
    if task not in TASKS:
        raise InvalidRequestError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    names = check_labels(labels, multi_label=multi_label)
    feat = featuriser or default_project_featuriser(task)
    usable = [n for n in FEATURISERS.names(task) if n not in NOT_FOR_PROJECTS]  # type: ignore[arg-type]
    if feat not in usable:
        raise InvalidRequestError(
            f"featuriser for {task} projects must be one of {', '.join(usable)}; got {feat!r}")
    if strategy not in known_names():
        raise InvalidRequestError(
            f"unknown strategy {strategy!r}; known: {', '.join(sorted(known_names()))}")
    head_name = head or pipeline_for(strategy).head
    if head_name not in HEAD_FACTORIES:
        raise InvalidRequestError(
            f"unknown head {head_name!r}; known: {', '.join(sorted(HEAD_FACTORIES))}")
    cfg = check_settings(settings or {})
    check_hotkeys(cfg.get("hotkeys"), names)
    if s.scalar(select(Project.id).where(Project.name == name)) is not None:
        raise ConflictError(f"a project named {name!r} already exists")
    p = Project(name=name, description=description, task=task, multi_label=multi_label,
                labels=names, featuriser=feat, head=head_name, strategy=strategy, settings=cfg,
                created_by=user.id)
    s.add(p)
    s.flush()
    s.add(Member(project_id=p.id, user_id=user.id, role="admin"))
    s.flush()
    return _public(p, role="admin")


def _counts(s: Session, project_ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {pid: {} for pid in project_ids}
    if not project_ids:
        return out
    for pid, split, n in s.execute(select(Item.project_id, Item.split, func.count())
                                   .where(Item.project_id.in_(project_ids))
                                   .group_by(Item.project_id, Item.split)):
        out[pid]["n_" + split] = n
        out[pid]["n_items"] = out[pid].get("n_items", 0) + n
    for pid, v in s.execute(select(ModelVersion.project_id, func.max(ModelVersion.version))
                            .where(ModelVersion.project_id.in_(project_ids),
                                   ModelVersion.status == READY)
                            .group_by(ModelVersion.project_id)):
        out[pid]["model_version"] = v
    # pool items that ever got a label (the loop's count is exact). Asked per item ("has
    # it a label row?", one index probe each), not as a join filtered on the project on
    # both sides: on PostgreSQL with fresh tables the planner took that join for a few
    # rows and intersected the project's whole annotation index once per item, 1.6 s at
    # 5 000 labels and quadratic beyond
    labelled = (select(Annotation.id).where(Annotation.item_id == Item.id,
                                            Annotation.action == "label").exists())
    for pid, n in s.execute(select(Item.project_id, func.count())
                            .where(Item.project_id.in_(project_ids), Item.split == "pool",
                                   labelled)
                            .group_by(Item.project_id)):
        out[pid]["n_labeled"] = n
    return out


def list_projects(s: Session, user: auth.UserPublic) -> list[ProjectPublic]:
    if user.is_admin:
        rows = [(p, "admin") for p in s.scalars(select(Project).order_by(Project.id))]
    else:
        rows = list(s.execute(select(Project, Member.role).join(
            Member, Member.project_id == Project.id).where(Member.user_id == user.id)
            .order_by(Project.id)))
    counts = _counts(s, [p.id for p, _ in rows])
    return [_public(p, role=r, counts=counts[p.id]) for p, r in rows]


def get_project_row(s: Session, project_id: int) -> Project:
    p = s.get(Project, project_id) if 0 < project_id <= LIMITS.max_id else None
    if p is None:
        raise NotFoundError(f"no project with id {project_id}")
    return p


def get_project(s: Session, user: auth.UserPublic, project_id: int) -> ProjectPublic:
    role = auth.require_role(s, user, project_id)
    p = get_project_row(s, project_id)
    return _public(p, role=role, counts=_counts(s, [project_id])[project_id])


def update_project(s: Session, user: auth.UserPublic, project_id: int, **changes: Any
                   ) -> ProjectPublic:
    """:func:`change_project`, then the project as it now reads."""
    change_project(s, user, project_id, **changes)
    return get_project(s, user, project_id)


def change_project(s: Session, user: auth.UserPublic, project_id: int, *,
                   strategy: str | None = None, head: str | None = None,
                   settings: dict[str, Any] | None = None, description: str | None = None
                   ) -> None:
    """Change a project's strategy, head, loop settings or description (admin only). Only
    writes: a caller under load commits, then reads the project back with
    :func:`get_project` in a read session, so the write lock is held for milliseconds."""
    auth.require_role(s, user, project_id, "admin")
    p = get_project_row(s, project_id)
    if strategy is not None:
        if strategy not in known_names():
            raise InvalidRequestError(
                f"unknown strategy {strategy!r}; known: {', '.join(sorted(known_names()))}")
        p.strategy = strategy
    if head is not None:
        if head not in HEAD_FACTORIES:
            raise InvalidRequestError(
                f"unknown head {head!r}; known: {', '.join(sorted(HEAD_FACTORIES))}")
        p.head = head
    if settings is not None:
        cfg = check_settings(settings)
        check_hotkeys(cfg.get("hotkeys"), list(p.labels))
        p.settings = {**(p.settings or {}), **cfg}
    if description is not None:
        p.description = check_description(description)
    s.flush()


@dataclass(frozen=True)
class MemberPublic:
    user_id: int
    username: str
    role: str


def list_members(s: Session, user: auth.UserPublic, project_id: int) -> list[MemberPublic]:
    auth.require_role(s, user, project_id)
    rows = s.execute(select(Member.user_id, User.username, Member.role)
                     .join(User, User.id == Member.user_id)
                     .where(Member.project_id == project_id).order_by(User.username))
    return [MemberPublic(uid, name, role) for uid, name, role in rows]


def set_member(s: Session, user: auth.UserPublic, project_id: int, username: str, role: str
               ) -> MemberPublic:
    auth.require_role(s, user, project_id, "admin")
    target = auth.get_user(s, username=username)
    auth.set_member(s, project_id, target.id, role)
    return MemberPublic(target.id, target.username, role)


def remove_member(s: Session, user: auth.UserPublic, project_id: int, username: str) -> None:
    auth.require_role(s, user, project_id, "admin")
    target = auth.get_user(s, username=username)
    auth.remove_member(s, project_id, target.id)
