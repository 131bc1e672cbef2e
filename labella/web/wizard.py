"""The new-project wizard: ``/projects/new``.

The page renders every choice the wizard offers (task types, the catalogue,
strategies, heads and featurisers with their one-line descriptions, the loop
settings' defaults); ``static/wizard.js`` walks the user through them, asks the server
which labels the data holds (``POST /api/imports/preview``: the import's own reader, so the
wizard cannot read a file differently from the import), creates the project, starts the
import and follows its jobs. :func:`model_choices` is
shared with the settings page.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from labella.al import heads as head_module
from labella.al.pipelines import (
    DEFAULT_STRATEGY,
    HEAD_FACTORIES,
    PIPELINES,
    known_names,
    pipeline_for,
)
from labella.al.strategies import REGISTRY as STRATEGIES
from labella.config import REQUEST_LIMITS
from labella.features.registry import REGISTRY as FEATURISERS
from labella.features.registry import default_featuriser_name
from labella.ingest.catalogue import list_catalogue
from labella.ingest.records import TEST_SPLITS, TRAIN_SPLITS
from labella.service import auth
from labella.service.projects import DEFAULT_FEATURISER, NOT_FOR_PROJECTS
from labella.service.state import DEFAULT_SETTINGS
from labella.web import router
from labella.web.common import page_user, render

TASK_TYPES = (
    ("text", False, "Text, one label", "Each text gets exactly one label: sentiment, topic, intent."),
    ("text", True, "Text, several labels", "Each text gets any number of labels: tags, emotions."),
    ("image", False, "Image, one label", "Each image gets exactly one label: the object or class."),
    ("image", True, "Image, several labels", "Each image gets any number of labels: what it shows."),
)
"""(task, multi_label, title, explanation) of the four task types, in the order shown."""


@dataclass(frozen=True)
class Choice:
    """One option of a select, with the sentence that explains it.

    Attributes:
        name: the registry name sent to the API.
        description: one sentence for people.
        single_label: usable in single-label projects.
        multi_label: usable in multi-label projects.
        modality: ``text`` / ``image`` for featurisers, ``None`` otherwise.
        available: whether it can run on this server.
        note: why it cannot, when it cannot.
        head: the head a strategy trains by default (strategies only).
    """

    name: str
    description: str
    single_label: bool = True
    multi_label: bool = True
    modality: str | None = None
    available: bool = True
    note: str = ""
    head: str | None = None


@dataclass(frozen=True)
class ModelChoices:
    """Everything a project's model can be built from, as the wizard and settings show it."""

    strategies: list[Choice]
    heads: list[Choice]
    featurisers: list[Choice]
    cold_starts: list[Choice]
    default_strategy: str
    default_featuriser: dict[str, str]
    settings: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _plain(doc: str | None) -> str:
    """The first sentence of a docstring, without reST markup."""
    text = " ".join((doc or "").strip().split("\n\n")[0].split())
    return re.sub(r"``([^`]*)``", r"\1", text)


def _head_description(name: str) -> str:
    factory = HEAD_FACTORIES[name]
    doc = factory.__doc__ or getattr(getattr(head_module, name, None), "__doc__", None)
    return _plain(doc) or name.replace("_", " ")


def _strategy_choice(name: str) -> Choice:
    pipe = pipeline_for(name)
    if name in PIPELINES and name != pipe.strategy:
        inner = STRATEGIES.info(pipe.strategy)
        desc = (f"Labella's measured default: {pipe.strategy.replace('_', ' ')} sampling "
                f"({inner.description[0].lower()}{inner.description[1:].rstrip('.')}) "
                f"with {_head_description(pipe.head)[0].lower()}"
                f"{_head_description(pipe.head)[1:]}")
        return Choice(name, desc, inner.single_label, inner.multi_label, head=pipe.head)
    info = STRATEGIES.info(name)
    return Choice(name, info.description, info.single_label, info.multi_label, head=pipe.head)


def model_choices() -> ModelChoices:
    """Strategies, heads, featurisers and cold starts from the registries, with descriptions.

    The default strategy comes first. Strategies that only pick a first batch (no model) are offered as cold starts, not as
    the project's strategy; featurisers a project cannot use (:data:`NOT_FOR_PROJECTS`) are
    left out.
    """
    names = [n for n in known_names() if n in PIPELINES or not STRATEGIES.info(n).cold_start]
    names.sort(key=lambda n: n != DEFAULT_STRATEGY)  # the default first, the rest as registered
    strategies = [_strategy_choice(n) for n in names]
    head_list = [Choice(n, _head_description(n)) for n in HEAD_FACTORIES]
    feats = []
    for info in FEATURISERS:
        if info.name in NOT_FOR_PROJECTS:
            continue
        ok, why = info.available() if info.available is not None else (True, "")
        feats.append(Choice(info.name, info.description, modality=info.modality, available=ok,
                            note="" if ok else why))
    cold = [Choice("random", "Uniform random first batch.")]
    cold += [Choice(i.name, i.description, i.single_label, i.multi_label)
             for i in STRATEGIES if i.cold_start]
    defaults = {m: default_featuriser_name(m, corpus_free=True)[0]  # type: ignore[arg-type]
                for m in DEFAULT_FEATURISER}  # what runs here: the fallback without the extras
    return ModelChoices(strategies, head_list, feats, cold, DEFAULT_STRATEGY, defaults,
                        dict(DEFAULT_SETTINGS))


SPLIT_NAMES = {"evaluation": sorted(TEST_SPLITS), "pool": sorted(TRAIN_SPLITS)}
"""The split names the import reads, for the data step's hint (the reader's own sets)."""


@router.get("/projects/new")
def wizard_page(request: Request, user: Annotated[auth.UserPublic, Depends(page_user)]) -> Any:
    catalogue = [asdict(e) for e in list_catalogue()]
    return render(request, "wizard.html", user=user, task_types=TASK_TYPES, catalogue=catalogue,
                  choices=model_choices(), split_names=SPLIT_NAMES,
                  name_max=REQUEST_LIMITS.max_name_chars)
