"""Python SDK for a Labella server (imports nothing from the server side).

    from labella.client import Client
    c = Client("http://127.0.0.1:8000", token=TOKEN)       # or Client.from_env()
    p = c.create_project(name="reviews", task="text", multi_label=False, labels=["neg", "pos"])
    p.import_file("reviews.csv").wait()
    items = p.next(n=5)
    p.annotate(items[0].id, label="pos")
    p.metrics()
    p.export("labels.jsonl")
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from labella.client_accounts import AccountMethods, ProjectAdminMethods, TeamMethods

READ_RETRIES = 2
"""A read-only request (GET, HEAD) that loses its connection is sent again this many times:
a server may close an idle kept-alive connection just as the client reuses it."""
_RETRY_ON = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)

EXPORT_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".json": "label_studio", ".zip": "hf"}


class LabellaClientError(Exception):
    """The server refused a request; ``status`` is the HTTP status, ``detail`` its reason."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"HTTP {status}: {detail}")


class JobFailed(LabellaClientError):
    """A job ended failed or cancelled."""


@dataclass(frozen=True)
class Reason:
    strategy: str
    score: float | None
    model_version: int


@dataclass(frozen=True)
class Item:
    id: int
    text: str | None
    image_url: str | None
    image_name: str | None
    suggestion: list[str] | None
    confidence: float | None
    reason: Reason
    preselect: bool = False
    """The server pre-selects the suggestion (its calibrated chance of being right is high)."""
    explanation: str = ""
    """Why this item, for people ("the model is torn between cat (48 %) and dog (46 %)")."""


class Client(AccountMethods):
    """A connection to a Labella server.

    Args:
        url: the server, e.g. ``http://127.0.0.1:8000``.
        token: an API token (``labella token create`` prints one).
        timeout: seconds per request.
    """

    def __init__(self, url: str, *, token: str, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {token}"})

    @classmethod
    def from_env(cls) -> Client:
        """From ``LABELLA_URL`` (default ``http://127.0.0.1:8000``) and ``LABELLA_TOKEN``."""
        token = os.environ.get("LABELLA_TOKEN")
        if not token:
            raise LabellaClientError(0, "LABELLA_TOKEN is not set; create one with "
                                        "'labella token create'")
        return cls(os.environ.get("LABELLA_URL", "http://127.0.0.1:8000"), token=token)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempts = 1 + (READ_RETRIES if method.upper() in ("GET", "HEAD") else 0)
        for attempt in range(attempts):
            try:
                return self._http.request(method, path, **kwargs)
            except _RETRY_ON:
                if attempt + 1 == attempts:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; errors become :class:`LabellaClientError`. A GET or HEAD whose
        connection drops is retried (:data:`READ_RETRIES`); other methods are not."""
        r = self._send(method, path, **kwargs)
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise LabellaClientError(r.status_code, str(detail))
        if r.status_code == 204 or not r.content:
            return None
        if r.headers.get("content-type", "").startswith("application/json"):
            return r.json()
        return r.content

    def download(self, path: str, dest: Path, **params: Any) -> Path:
        with self._http.stream("GET", path, params=params) as r:
            if r.status_code >= 400:
                r.read()
                raise LabellaClientError(r.status_code, r.text)
            with dest.open("wb") as out:
                for chunk in r.iter_bytes():
                    out.write(chunk)
        return dest

    # -- top level ---------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/api/me")
        return result

    def projects(self) -> list[Project]:
        return [Project(self, d) for d in self.request("GET", "/api/projects")]

    def project(self, id_or_name: int | str) -> Project:
        if isinstance(id_or_name, int):
            return Project(self, self.request("GET", f"/api/projects/{id_or_name}"))
        for p in self.projects():
            if p.name == id_or_name:
                return p.refresh()
        raise LabellaClientError(404, f"no project named {id_or_name!r}")

    def create_project(self, *, name: str, task: str, labels: list[str], multi_label: bool = False,
                       **options: Any) -> Project:
        """Create a project (``options``: description, featuriser, strategy, head, settings)."""
        body = {"name": name, "task": task, "multi_label": multi_label, "labels": labels, **options}
        return Project(self, self.request("POST", "/api/projects", json=body))

    def job(self, job_id: int) -> Job:
        return Job(self, self.request("GET", f"/api/jobs/{job_id}"))

    def catalogue(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/api/catalogue")
        return result

    def preview(self, source: str | os.PathLike[str], *, task: str, multi_label: bool = False,
                text_column: str | None = None, label_column: str | None = None
                ) -> dict[str, Any]:
        """What importing ``source`` would find, without importing it: columns, label names
        with counts, split sizes, bad rows. ``source`` is a local file (uploaded) or an
        ``s3://`` URI (read by the server)."""
        form = {"task": task, "multi_label": str(multi_label).lower()}
        form |= {k: v for k, v in (("text_column", text_column), ("label_column", label_column))
                 if v}
        raw = os.fspath(source)
        if raw.startswith("s3://"):
            result: dict[str, Any] = self.request("POST", "/api/imports/preview",
                                                  data={**form, "source": raw})
            return result
        p = Path(raw)
        with p.open("rb") as fh:
            result = self.request("POST", "/api/imports/preview", files={"file": (p.name, fh)},
                                  data=form)
        return result


class Job:
    """A background job; ``wait()`` polls until it ends."""

    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        self._c = client
        self.data = data

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def status(self) -> str:
        return str(self.data["status"])

    @property
    def progress(self) -> float | None:
        return self.data.get("progress")

    @property
    def eta(self) -> float | None:
        """Seconds left, estimated from the rate so far (``None`` until known)."""
        return self.data.get("eta_seconds")

    @property
    def result(self) -> dict[str, Any] | None:
        return self.data.get("result")

    @property
    def error(self) -> str | None:
        return self.data.get("error")

    def refresh(self) -> Job:
        self.data = self._c.request("GET", f"/api/jobs/{self.id}")
        return self

    def cancel(self) -> Job:
        self.data = self._c.request("POST", f"/api/jobs/{self.id}/cancel")
        return self

    def wait(self, timeout: float = 3600.0, *, poll: float = 0.2, follow: bool = True) -> Job:
        """Wait until the job ends; raise :class:`JobFailed` if it failed or was cancelled.

        With ``follow``, an import also waits for the featurisation job it started, so the
        items are ready to label when this returns.
        """
        deadline = time.monotonic() + timeout
        while self.refresh().status in ("queued", "running"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} ({self.data['kind']}) still {self.status} "
                                   f"after {timeout:.0f} s")
            time.sleep(poll)
        if self.status != "succeeded":
            raise JobFailed(0, f"job {self.id} ({self.data['kind']}) {self.status}: {self.error}")
        if follow and self.data["kind"] == "import" and (self.result or {}).get("added"):
            pid = self.data["project_id"]
            for j in self._c.request("GET", f"/api/projects/{pid}/jobs"):
                if j["kind"] == "featurise" and j["id"] > self.id:
                    Job(self._c, j).wait(max(1.0, deadline - time.monotonic()), poll=poll)
                    break
        return self

    def __repr__(self) -> str:
        return f"Job(id={self.id}, kind={self.data['kind']!r}, status={self.status!r})"


class Project(ProjectAdminMethods, TeamMethods):
    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        self._c = client
        self.data = data

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def labels(self) -> list[str]:
        if "labels" not in self.data:  # a list entry is a summary; the project has the names
            self.refresh()
        return list(self.data["labels"])

    def __repr__(self) -> str:
        return f"Project(id={self.id}, name={self.name!r})"

    def refresh(self) -> Project:
        self.data = self._c.request("GET", f"/api/projects/{self.id}")
        return self

    def update(self, **changes: Any) -> Project:
        """Change ``strategy``, ``head``, ``settings`` or ``description``."""
        self.data = self._c.request("PATCH", f"/api/projects/{self.id}", json=changes)
        return self

    def import_file(self, path: str | os.PathLike[str], *, text_column: str | None = None,
                    label_column: str | None = None) -> Job:
        """Upload a local file (table or zip of images) and import it."""
        p = Path(path)
        form = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
        with p.open("rb") as fh:
            data = self._c.request("POST", f"/api/projects/{self.id}/imports",
                                   files={"file": (p.name, fh)}, data=form)
        return Job(self._c, data)

    def import_source(self, source: str, **options: Any) -> Job:
        """Import from ``s3://...``, ``catalogue:<name>`` or (site admins) a server path."""
        return Job(self._c, self._c.request("POST", f"/api/projects/{self.id}/imports/source",
                                            json={"source": source, **options}))

    def next(self, n: int = 1) -> list[Item]:
        out = []
        for d in self._c.request("GET", f"/api/projects/{self.id}/next", params={"n": n}):
            url = d["image_url"]
            out.append(Item(d["id"], d["text"], self._c.url + url if url else None, d["image_name"],
                            d["suggestion"], d["confidence"], Reason(**d["reason"]),
                            bool(d.get("preselect", False)),
                            d.get("explanation", "")))
        return out

    def annotate(self, item_id: int, *, label: str | None = None, labels: list[str] | None = None,
                 request_id: str | None = None) -> dict[str, Any]:
        """Label an item; a request id (random by default) makes retries safe."""
        body = {"item_id": item_id, "label": label, "labels": labels,
                "request_id": request_id or uuid.uuid4().hex}
        result: dict[str, Any] = self._c.request("POST", f"/api/projects/{self.id}/annotations",
                                                 json=body)
        return result

    def skip(self, item_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._c.request("POST", f"/api/projects/{self.id}/skip",
                                                 json={"item_id": item_id,
                                                       "request_id": uuid.uuid4().hex})
        return result

    def undo(self, item_id: int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._c.request("POST", f"/api/projects/{self.id}/undo",
                                                 json={"item_id": item_id})
        return result

    def item(self, item_id: int) -> dict[str, Any]:
        """One item: ``labels`` (the current label: the annotators' consensus when several
        answered, a reviewer's decision when there is one), ``consensus_confidence``,
        ``n_answers`` and its ``history``."""
        result: dict[str, Any] = self._c.request("GET", f"/api/projects/{self.id}/items/{item_id}")
        return result

    def items(self, *, offset: int = 0, limit: int = 50, **filters: Any) -> dict[str, Any]:
        """A page of items (``items``, ``total``, ``offset``, ``limit``), each with ``labels``,
        ``annotator``, ``prediction``, ``confidence``, ``consensus_confidence`` and
        ``n_answers``. ``filters``: ``label``, ``prediction``, ``min_confidence``,
        ``max_confidence``, ``annotator``, ``split``, ``q``, ``sort``."""
        result: dict[str, Any] = self._c.request(
            "GET", f"/api/projects/{self.id}/items",
            params={"offset": offset, "limit": limit,
                    **{k: v for k, v in filters.items() if v is not None}})
        return result

    def metrics(self) -> dict[str, Any]:
        """n_labeled, model_version, scores, learning_curve, stop, and ``audit``: the live
        audit's latest estimate of labels saved against random sampling (``latest``, with
        ``labels_saved_low`` / ``labels_saved_high`` at 90 %, ``verdict``) and its history."""
        result: dict[str, Any] = self._c.request("GET", f"/api/projects/{self.id}/metrics")
        return result

    def events(self) -> list[dict[str, Any]]:
        """What Labella decided by itself for the project, newest first (e.g. a switch of
        the query strategy when the audit found active learning losing)."""
        result: list[dict[str, Any]] = self._c.request("GET",
                                                       f"/api/projects/{self.id}/events")
        return result

    # -- teams ----------------------------------------------------------------------------

    def agreement(self) -> dict[str, Any]:
        """Agreement between the project's annotators: ``alpha`` (Krippendorff, nominal) with
        ``alpha_n_items``, ``per_label``, ``pairwise_kappa`` and the per-annotator table
        ``annotators`` (labels, seconds_per_label, agreement_with_consensus)."""
        result: dict[str, Any] = self._c.request("GET", f"/api/projects/{self.id}/agreement")
        return result

    def retrain(self) -> Job:
        return Job(self._c, self._c.request("POST", f"/api/projects/{self.id}/retrain"))

    def jobs(self) -> list[Job]:
        return [Job(self._c, d) for d in self._c.request("GET", f"/api/projects/{self.id}/jobs")]

    def export(self, path: str | os.PathLike[str], *, format: str | None = None,
               include_unlabeled: bool = False, version: str | None = None) -> Path:
        """Download the labels (or dataset version ``version``'s); the format follows the
        suffix (.csv, .jsonl, .json = Label Studio, .zip = Hugging Face datasets folder)
        unless ``format`` is given."""
        dest = Path(path)
        fmt = format or EXPORT_SUFFIXES.get(dest.suffix.lower())
        if fmt is None:
            raise ValueError(f"cannot tell the export format from {dest.name!r}; pass format=")
        extra = {"version": version} if version else {}
        return self._c.download(f"/api/projects/{self.id}/export", dest, format=fmt,
                                include_unlabeled=include_unlabeled, **extra)

    def export_model(self, path: str | os.PathLike[str]) -> Path:
        """Download the current head (zip of head.json + head.npz; no pickle)."""
        return self._c.download(f"/api/projects/{self.id}/model", Path(path))

    def members(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._c.request("GET", f"/api/projects/{self.id}/members")
        return result

    def add_member(self, username: str, role: str = "annotator") -> dict[str, Any]:
        result: dict[str, Any] = self._c.request("PUT", f"/api/projects/{self.id}/members",
                                                 json={"username": username, "role": role})
        return result

    # -- label-error review ----------------------------------------------------------------

    def scan_label_errors(self) -> Job:
        """Start a scan for likely label errors (confident learning); ``.wait()`` on it."""
        return Job(self._c, self._c.request("POST",
                                            f"/api/projects/{self.id}/label-errors/scan"))

    def label_errors(self, limit: int = 50) -> dict[str, Any]:
        """The latest scan's suspects not answered since: ``items`` (each with ``given``,
        ``suggested`` and ``quality``), ``n_checked``, ``n_suspected``, ``n_answered``."""
        result: dict[str, Any] = self._c.request(
            "GET", f"/api/projects/{self.id}/label-errors", params={"limit": limit})
        return result

    def review_label_error(self, item_id: int, *, confirm: bool = False,
                           label: str | None = None,
                           labels: list[str] | None = None) -> dict[str, Any]:
        """Answer a suspect: ``confirm=True`` keeps its label; else relabel it."""
        body: dict[str, Any] = {"action": "confirm" if confirm else "relabel",
                                "request_id": uuid.uuid4().hex}
        if not confirm:
            body.update(label=label, labels=labels)
        result: dict[str, Any] = self._c.request(
            "POST", f"/api/projects/{self.id}/label-errors/{item_id}", json=body)
        return result

    def auto_accept_preview(self, label: str, *, target: float = 0.95) -> dict[str, Any]:
        """Difficulty of the unlabelled items and the threshold at which suggestions of
        ``label`` meet ``target`` precision on the evaluation labels (read-only)."""
        result: dict[str, Any] = self._c.request(
            "GET", f"/api/projects/{self.id}/auto-accept", params={"label": label,
                                                                   "target": target})
        return result

    def auto_accept(self, label: str, *, target: float = 0.95,
                    threshold: float | None = None) -> dict[str, Any]:
        """Accept the model's suggestion ``label`` on every unlabelled item at or above
        ``threshold`` (admins only; default: the threshold a fresh preview shows). The
        labels are marked model-accepted and kept out of evaluation. Returns ``batch`` (for
        :meth:`undo_auto_accept`), ``accepted`` and the precision re-measured on the
        evaluation labels; raises :class:`LabellaClientError` (409) if the threshold no longer
        meets the target."""
        if threshold is None:
            threshold = self.auto_accept_preview(label, target=target)["threshold"]
            if threshold is None:
                raise LabellaClientError(409, f"no threshold meets target {target} for "
                                         f"{label!r} on the evaluation labels")
        result: dict[str, Any] = self._c.request(
            "POST", f"/api/projects/{self.id}/auto-accept",
            json={"label": label, "target": target, "threshold": threshold})
        return result

    def undo_auto_accept(self, batch: str) -> dict[str, Any]:
        """Retract a batch of model-accepted labels: ``{"batch", "retracted", "n_labeled"}``."""
        result: dict[str, Any] = self._c.request(
            "POST", f"/api/projects/{self.id}/auto-accept/undo", json={"batch": batch})
        return result

    # -- data map ----------------------------------------------------------------------

    def data_map(self, *, refresh: bool = False, max_points: int | None = None,
                 timeout: float = 3600.0) -> dict[str, Any]:
        """The project's data map (a 2-D UMAP projection of its embeddings), made first if
        needed (a background job, waited for; ``refresh`` makes it again). Returns parallel
        columns: ``ids``, ``x``, ``y``, ``confidence``, and ``label``, ``prediction``,
        ``annotator``, ``split`` as ``{"values": [...], "codes": [...]}`` (-1: none); with
        ``n_items``, ``n_shown`` (a sample beyond ``max_points``, at most 50 000) and the job."""
        Job(self._c, self._c.request("POST", f"/api/projects/{self.id}/map",
                                     params={"refresh": refresh})).wait(timeout)
        result: dict[str, Any] = self._c.request(
            "GET", f"/api/projects/{self.id}/map",
            params={"max_points": max_points} if max_points else None)
        return result

    # -- similarity search -----------------------------------------------------------

    def similar(self, item_id: int, k: int = 10, *, unlabelled_only: bool = False
                ) -> dict[str, Any]:
        """The ``k`` pool items most like item ``item_id``: ``{"hits": [{"id", "score",
        "text", "image_url", "labels", "prediction", "confidence"}, ...], "method", "note",
        "n_searched"}``, most similar first (``labels`` is null for an unlabelled item)."""
        result: dict[str, Any] = self._c.request(
            "GET", f"/api/projects/{self.id}/items/{item_id}/similar",
            params={"k": k, "unlabelled_only": unlabelled_only})
        return result

    def search(self, text: str, k: int = 10, *, unlabelled_only: bool = False
               ) -> dict[str, Any]:
        """The ``k`` pool items closest in meaning to ``text`` (embedded with the project's
        featuriser; text projects only); the same shape as :meth:`similar`."""
        result: dict[str, Any] = self._c.request(
            "GET", f"/api/projects/{self.id}/search",
            params={"q": text, "k": k, "unlabelled_only": unlabelled_only})
        return result

    def label_many(self, item_ids: list[int], *, label: str | None = None,
                   labels: list[str] | None = None, request_id: str | None = None
                   ) -> dict[str, Any]:
        """Give every item in ``item_ids`` the same label (e.g. search hits): ``{"labelled":
        n, "acks": [...]}``. A request id (random by default) makes a retry safe."""
        result: dict[str, Any] = self._c.request(
            "POST", f"/api/projects/{self.id}/bulk-label",
            json={"item_ids": list(item_ids), "label": label, "labels": labels,
                  "request_id": request_id or uuid.uuid4().hex})
        return result

    def queue(self, item_ids: list[int]) -> list[int]:
        """Put items at the front of your own queue (``next`` serves them first); returns
        your queued item ids in order."""
        result: dict[str, Any] = self._c.request("POST", f"/api/projects/{self.id}/queue",
                                                 json={"item_ids": list(item_ids)})
        return list(result["item_ids"])

    def queued(self) -> list[int]:
        """Your queued item ids, in the order ``next`` serves them."""
        return list(self._c.request("GET", f"/api/projects/{self.id}/queue")["item_ids"])

    def clear_queue(self) -> None:
        self._c.request("DELETE", f"/api/projects/{self.id}/queue")
