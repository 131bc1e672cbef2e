"""REST endpoints under ``/api``: each parses, calls one service function and renders."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from labella.api.deps import Ctx, CurrentUser
from labella.api.errors import responses
from labella.api.schemas import (
    AckModel,
    AnnotationCreate,
    EventPublicModel,
    ImportSource,
    ItemAction,
    JobPublic,
    MemberPublicModel,
    MemberSet,
    NextItemModel,
    ProjectCreate,
    ProjectPublicModel,
    ProjectSummaryModel,
    ProjectUpdate,
    TokenCreate,
    TokenPublic,
    UserCreate,
    UserPublicModel,
    UserUpdate,
)
from labella.api.security import login_throttle
from labella.api.validation import PathId, no_nul
from labella.config import REQUEST_LIMITS as LIMITS
from labella.export import FORMATS
from labella.service import auth, events, labelling, metrics, projects
from labella.service.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from labella.service.importing import (
    check_source,
    import_upload,
    preview_source,
    preview_upload,
    start_import,
)
from labella.service.training import start_retrain

router = APIRouter(prefix="/api")

# the error replies each kind of operation documents (every one also has 401 and 422)
SIGNED_IN = responses(401, 422)
ADMIN_ONLY = responses(401, 403, 409, 422)
IN_PROJECT = responses(401, 403, 404, 409, 422)
ProjectId = PathId
def _download(*media_types: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": "the file, as an attachment",
                  "content": {m: {"schema": {"type": "string", "format": "binary"}}
                              for m in media_types}}}


Filter = Annotated[str | None, Query(max_length=LIMITS.max_text_chars)]


# -- auth and users -------------------------------------------------------------------


@router.post("/auth/token", response_model=TokenPublic, tags=["auth"],
             responses=responses(401, 422, 429))
def create_token(body: TokenCreate, ctx: Ctx, request: Request) -> TokenPublic:
    """Exchange a username and password for a new API token (shown once). Failed tries are
    throttled per username and per client address (429 with ``Retry-After``)."""
    with login_throttle(request, body.username), ctx.session() as s:
        user = auth.authenticate_password(s, body.username, body.password)
        tok = auth.create_token(s, user.id, name=body.name)
    return TokenPublic(id=tok.id, name=tok.name, token=tok.token, username=user.username)


def _user_model(u: auth.UserPublic) -> UserPublicModel:
    return UserPublicModel(id=u.id, username=u.username, is_admin=u.is_admin,
                           disabled=u.disabled)


@router.get("/me", response_model=UserPublicModel, tags=["auth"], responses=responses(401))
def me(user: CurrentUser) -> UserPublicModel:
    return _user_model(user)


@router.get("/users", response_model=list[UserPublicModel], tags=["auth"],
            responses=responses(401))
def list_users(ctx: Ctx, user: CurrentUser) -> list[UserPublicModel]:
    with ctx.session() as s:
        return [_user_model(u) for u in auth.list_users(s)]


@router.post("/users", response_model=UserPublicModel, status_code=201, tags=["auth"],
             responses=ADMIN_ONLY)
def create_user(body: UserCreate, ctx: Ctx, user: CurrentUser) -> UserPublicModel:
    if not user.is_admin:
        raise PermissionDeniedError("only site admins create users")
    with ctx.session() as s:
        u = auth.create_user(s, body.username, password=body.password, is_admin=body.is_admin)
    return _user_model(u)


@router.patch("/users/{user_id}", response_model=UserPublicModel, tags=["auth"],
              responses=responses(401, 403, 404, 409, 422))
def update_user(user_id: PathId, body: UserUpdate, ctx: Ctx, user: CurrentUser
                ) -> UserPublicModel:
    """Disable or enable a user, or change whether they are a site admin (site admins only).
    Disabling ends the user's web sessions and refuses their API tokens at once."""
    with ctx.session() as s:
        return _user_model(auth.update_user(s, user, user_id, disabled=body.disabled,
                                            is_admin=body.is_admin))


# -- projects -------------------------------------------------------------------------


@router.get("/projects", response_model=list[ProjectSummaryModel], tags=["projects"],
            responses=responses(401))
def list_projects(ctx: Ctx, user: CurrentUser) -> list[ProjectSummaryModel]:
    """The caller's projects, as summaries (label names and settings are on each
    project's own route)."""
    with ctx.session() as s:
        return [ProjectSummaryModel.of(p) for p in projects.list_projects(s, user)]


@router.post("/projects", response_model=ProjectPublicModel, status_code=201, tags=["projects"],
             responses=responses(401, 409, 422))
def create_project(body: ProjectCreate, ctx: Ctx, user: CurrentUser) -> ProjectPublicModel:
    with ctx.session() as s:
        p = projects.create_project(s, user, **body.model_dump())
    return ProjectPublicModel.of(p)


@router.get("/projects/{project_id}", response_model=ProjectPublicModel, tags=["projects"],
            responses=IN_PROJECT)
def get_project(project_id: ProjectId, ctx: Ctx, user: CurrentUser) -> ProjectPublicModel:
    with ctx.session() as s:
        return ProjectPublicModel.of(projects.get_project(s, user, project_id))


@router.patch("/projects/{project_id}", response_model=ProjectPublicModel, tags=["projects"],
              responses=IN_PROJECT)
def update_project(project_id: ProjectId, body: ProjectUpdate, ctx: Ctx, user: CurrentUser
                   ) -> ProjectPublicModel:
    with ctx.session() as s:  # the write: role check and new settings, nothing else
        projects.change_project(s, user, project_id, **body.model_dump(exclude_unset=True))
    with ctx.read_session() as s:  # the reply's counts are read without the write lock
        p = projects.get_project(s, user, project_id)
    # the running loop takes the new settings in place; its refit runs in the background
    pending = ctx.loops.apply_settings(project_id)
    return ProjectPublicModel.of(p).model_copy(update={"refit_pending": pending})


@router.get("/projects/{project_id}/members", response_model=list[MemberPublicModel],
            tags=["projects"],
            responses=IN_PROJECT)
def list_members(project_id: ProjectId, ctx: Ctx, user: CurrentUser) -> list[MemberPublicModel]:
    with ctx.session() as s:
        return [MemberPublicModel.of(m) for m in projects.list_members(s, user, project_id)]


@router.put("/projects/{project_id}/members", response_model=MemberPublicModel, tags=["projects"],
            responses=IN_PROJECT)
def set_member(project_id: ProjectId, body: MemberSet, ctx: Ctx, user: CurrentUser) -> MemberPublicModel:
    with ctx.session() as s:
        return MemberPublicModel.of(projects.set_member(s, user, project_id, body.username,
                                                        body.role))


@router.delete("/projects/{project_id}/members/{username}", status_code=204, tags=["projects"],
               responses=IN_PROJECT)
def remove_member(project_id: ProjectId,
                  username: Annotated[str, PathParam(max_length=LIMITS.max_username_chars)],
                  ctx: Ctx, user: CurrentUser) -> Response:
    with ctx.session() as s:
        projects.remove_member(s, user, project_id, username)
    return Response(status_code=204)


# -- import ---------------------------------------------------------------------------


@router.post("/projects/{project_id}/imports", response_model=JobPublic, status_code=202,
             tags=["data"], responses=IN_PROJECT)
def upload_import(project_id: ProjectId, ctx: Ctx, user: CurrentUser,
                  file: Annotated[UploadFile, File(description="CSV, TSV, JSONL, Parquet or zip")],
                  text_column: Annotated[str | None, Form(max_length=LIMITS.max_text_chars)] = None,
                  label_column: Annotated[str | None, Form(max_length=LIMITS.max_text_chars)] = None,
                  labels: Annotated[Literal["all", "evaluation", "none"],
                                    Form(description="which labels become annotations")] = "all",
                  ) -> JobPublic:
    """Upload a file and import it as a background job."""
    for field, value in (("text_column", text_column), ("label_column", label_column),
                         ("file name", file.filename)):
        no_nul(value, field)
    return JobPublic.of(import_upload(ctx, user, project_id, file.file, file.filename,
                                      text_column=text_column, label_column=label_column,
                                      labels=labels))


@router.post("/projects/{project_id}/imports/source", response_model=JobPublic, status_code=202,
             tags=["data"],
             responses=IN_PROJECT)
def source_import(project_id: ProjectId, body: ImportSource, ctx: Ctx, user: CurrentUser) -> JobPublic:
    """Import from an S3 URI, a catalogue dataset (``catalogue:digits``) or, for site admins,
    a path on the server."""
    src = check_source(user, body.source)
    job = start_import(ctx, user, project_id, src, text_column=body.text_column,
                       label_column=body.label_column, labels=body.labels)
    return JobPublic.of(job)


@router.post("/imports/preview", tags=["data"], responses=responses(401, 403, 422))
def import_preview(ctx: Ctx, user: CurrentUser,
                   task: Annotated[str, Form(description="text or image")],
                   multi_label: Annotated[bool, Form()] = False,
                   file: Annotated[UploadFile | None, File(description="the file to read")] = None,
                   source: Annotated[str | None, Form(description="s3://... (or, for site "
                                                      "admins, a path on the server)")] = None,
                   text_column: Annotated[str | None, Form(max_length=LIMITS.max_text_chars)] = None,
                   label_column: Annotated[str | None, Form(max_length=LIMITS.max_text_chars)] = None,
                   complete: Annotated[bool, Form(description="false: the file is only the "
                                                  "start of a larger one")] = True,
                   ) -> dict[str, Any]:
    """What an import would find in a file or source, without importing it: columns, label
    names with counts, split sizes and the first bad rows (the new-project wizard asks this)."""
    for field, value in (("task", task), ("text_column", text_column),
                         ("label_column", label_column), ("source", source),
                         ("file name", file.filename if file is not None else None)):
        no_nul(value, field)
    if file is not None:
        return preview_upload(ctx, user, file.file, file.filename, task=task,
                              multi_label=multi_label, text_column=text_column,
                              label_column=label_column, complete=complete)
    return preview_source(ctx, user, source or "", task=task, multi_label=multi_label,
                          text_column=text_column, label_column=label_column, complete=complete)


@router.get("/catalogue", tags=["data"], responses=responses(401))
def catalogue(user: CurrentUser) -> list[dict[str, Any]]:
    from dataclasses import asdict

    from labella.ingest.catalogue import list_catalogue

    return [asdict(e) for e in list_catalogue()]


# -- the labelling loop ---------------------------------------------------------------


@router.get("/projects/{project_id}/next", response_model=list[NextItemModel], tags=["labelling"],
            responses=IN_PROJECT)
def next_items(project_id: ProjectId, ctx: Ctx, user: CurrentUser,
               n: Annotated[int, Query(ge=1, le=LIMITS.max_next)] = 1) -> list[NextItemModel]:
    """The next items to label, each with the model's suggestion and why it was chosen."""
    return [NextItemModel.of(it, project_id)
            for it in labelling.next_items(ctx, user, project_id, n)]


@router.post("/projects/{project_id}/annotations", response_model=AckModel, tags=["labelling"],
             responses=IN_PROJECT)
def annotate(project_id: ProjectId, body: AnnotationCreate, ctx: Ctx, user: CurrentUser) -> AckModel:
    """Label an item. Durable when acknowledged; resending a ``request_id`` is a no-op."""
    labels: list[str] | str | None = body.labels if body.labels is not None else body.label
    return AckModel.of(labelling.annotate(ctx, user, project_id, body.item_id, labels=labels,
                                          request_id=body.request_id, meta=body.meta))


@router.post("/projects/{project_id}/skip", response_model=AckModel, tags=["labelling"],
             responses=IN_PROJECT)
def skip(project_id: ProjectId, body: ItemAction, ctx: Ctx, user: CurrentUser) -> AckModel:
    if body.item_id is None:
        raise InvalidRequestError("item_id is required")
    return AckModel.of(labelling.skip(ctx, user, project_id, body.item_id,
                                      request_id=body.request_id))


@router.post("/projects/{project_id}/undo", response_model=AckModel, tags=["labelling"],
             responses=IN_PROJECT)
def undo(project_id: ProjectId, body: ItemAction, ctx: Ctx, user: CurrentUser) -> AckModel:
    """Retract your label on an item (default: your most recent answer)."""
    return AckModel.of(labelling.undo(ctx, user, project_id, body.item_id,
                                      request_id=body.request_id))


@router.get("/projects/{project_id}/items", tags=["labelling"],
            responses=IN_PROJECT)
def list_items(project_id: ProjectId, ctx: Ctx, user: CurrentUser,
               label: Filter = None, prediction: Filter = None,
               min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
               max_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
               annotator: Filter = None, split: Filter = None, q: Filter = None,
               source: Literal["human", "import", "review", "model"] | None = None,
               difficulty: Literal["easy", "medium", "hard"] | None = None,
               region: Annotated[str | None, Query(
                   max_length=LIMITS.max_text_chars,
                   description="a polygon on the data map, 'x1,y1;x2,y2;x3,y3;...': the "
                               "items whose map point is inside")] = None,
               sort: Literal["id", "confidence", "-confidence"] = "id",
               offset: Annotated[int, Query(ge=0, le=LIMITS.max_id)] = 0,
               limit: Annotated[int, Query(ge=1, le=LIMITS.max_page)] = 50) -> dict[str, Any]:
    """Items filtered by current label (``__unlabeled__`` for none), model prediction,
    confidence range, annotator, split, text, the current label's ``source`` (``model``:
    accepted from the model) and the difficulty of unlabelled items (calibrated
    confidence: ``easy`` >= 0.9, ``hard`` < 0.6), and a region of the data map."""
    from dataclasses import asdict

    from labella.service.browse import list_items as browse

    page = browse(ctx, user, project_id, label=label, prediction=prediction,
                  min_confidence=min_confidence, max_confidence=max_confidence,
                  annotator=annotator, split=split, q=q, source=source,
                  difficulty=difficulty, region=region, sort=sort, offset=offset, limit=limit)
    return asdict(page)


@router.get("/projects/{project_id}/items/{item_id}", tags=["labelling"],
            responses=IN_PROJECT)
def get_item(project_id: ProjectId, item_id: PathId, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    from dataclasses import asdict

    d = asdict(labelling.get_item(ctx, user, project_id, item_id))
    d["image_url"] = f"/api/projects/{project_id}/items/{item_id}/image" if d.pop("image_key") \
        else None
    return d


@router.get("/projects/{project_id}/items/{item_id}/image", tags=["labelling"],
            response_class=Response,
            responses={**_download("image/png", "image/jpeg", "image/webp", "image/gif",
                                   "image/bmp", "image/tiff", "application/octet-stream"),
                       **IN_PROJECT})
def item_image(project_id: ProjectId, item_id: PathId, ctx: Ctx, user: CurrentUser) -> Response:
    data, media = labelling.image_bytes(ctx, user, project_id, item_id)
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=86400"})


# -- model, metrics, export -----------------------------------------------------------


@router.get("/projects/{project_id}/metrics", tags=["model"],
            responses=IN_PROJECT)
def project_metrics(project_id: ProjectId, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Scores of the current model, the learning curve, the stopping recommendation and the
    live audit (labels saved against random sampling, with its 90 % interval)."""
    return metrics.project_metrics(ctx, user, project_id)


@router.get("/projects/{project_id}/events", response_model=list[EventPublicModel],
            tags=["model"], responses=IN_PROJECT)
def project_events(project_id: ProjectId, ctx: Ctx, user: CurrentUser) -> list[EventPublicModel]:
    """What Labella decided by itself for the project, newest first (e.g. the audit
    switching the query strategy to random sampling)."""
    return [EventPublicModel.of(e) for e in events.list_events(ctx, user, project_id)]


@router.post("/projects/{project_id}/retrain", response_model=JobPublic, status_code=202,
             tags=["model"],
             responses=IN_PROJECT)
def retrain(project_id: ProjectId, ctx: Ctx, user: CurrentUser) -> JobPublic:
    return JobPublic.of(start_retrain(ctx, user, project_id))


@router.get("/projects/{project_id}/export", tags=["data"], response_class=FileResponse,
            responses={**_download(*sorted({f.media_type for f in FORMATS.values()})),
                       **IN_PROJECT})
def export(project_id: ProjectId, ctx: Ctx, user: CurrentUser,
           format: Annotated[str, Query(max_length=50,
                                        description="csv, jsonl, hf or label_studio")] = "jsonl",
           include_unlabeled: bool = False,
           version: Annotated[str | None, Query(
               min_length=1, max_length=100,
               description="a dataset version's name (default: the current labels)")] = None
           ) -> FileResponse:
    """The labels (or a dataset version's: the file name ends with its name and the
    ``X-Labella-Dataset-Version`` header names it)."""
    from labella.service.exporting import discard, export_labels

    path, media = export_labels(ctx, user, project_id, format,
                                include_unlabeled=include_unlabeled, version=version)
    return FileResponse(path, media_type=media, filename=path.name,
                        headers={"X-Labella-Dataset-Version": version} if version else None,
                        background=BackgroundTask(discard, path))


@router.get("/projects/{project_id}/model", tags=["model"], response_class=FileResponse,
            responses={**_download("application/zip"), **IN_PROJECT})
def export_model(project_id: ProjectId, ctx: Ctx, user: CurrentUser) -> FileResponse:
    """The current head as a zip of ``head.json`` + ``head.npz`` (no pickle)."""
    from labella.service.exporting import discard
    from labella.service.exporting import export_model as do_export

    path = do_export(ctx, user, project_id)
    return FileResponse(path, media_type="application/zip", filename=path.name,
                        background=BackgroundTask(discard, path))


# -- jobs -----------------------------------------------------------------------------


def _job_for(ctx: Ctx, user: auth.UserPublic, job_id: int) -> Any:
    job = ctx.jobs.get(job_id)
    if job.project_id is not None:
        with ctx.read_session() as s:
            auth.require_role(s, user, job.project_id)
    elif not user.is_admin:
        raise NotFoundError(f"no job with id {job_id}")
    return job


@router.get("/jobs/{job_id}", response_model=JobPublic, tags=["jobs"],
            responses=IN_PROJECT)
def get_job(job_id: PathId, ctx: Ctx, user: CurrentUser) -> JobPublic:
    return JobPublic.of(_job_for(ctx, user, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic, tags=["jobs"],
             responses=IN_PROJECT)
def cancel_job(job_id: PathId, ctx: Ctx, user: CurrentUser) -> JobPublic:
    job = _job_for(ctx, user, job_id)
    if job.project_id is not None:
        with ctx.session() as s:
            auth.require_role(s, user, job.project_id, "admin")
    return JobPublic.of(ctx.jobs.cancel(job_id))


@router.get("/projects/{project_id}/jobs", response_model=list[JobPublic], tags=["jobs"],
            responses=IN_PROJECT)
def project_jobs(project_id: ProjectId, ctx: Ctx, user: CurrentUser,
                 limit: Annotated[int, Query(ge=1, le=LIMITS.max_page)] = 50) -> list[JobPublic]:
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    return [JobPublic.of(j) for j in ctx.jobs.list(project_id=project_id, limit=limit)]


@router.get("/health", tags=["meta"], responses={})
def health(request: Request) -> dict[str, Any]:
    from labella import __version__

    return {"status": "ok", "version": __version__}
