"""REST endpoints under ``/api``: each parses, calls one service function and renders."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse

from labella.api.deps import Ctx, CurrentUser
from labella.api.schemas import (
    AckModel,
    AnnotationCreate,
    ImportSource,
    ItemAction,
    JobPublic,
    MemberPublicModel,
    MemberSet,
    NextItemModel,
    ProjectCreate,
    ProjectPublicModel,
    ProjectUpdate,
    TokenCreate,
    TokenPublic,
    UserCreate,
    UserPublicModel,
)
from labella.service import auth, labelling, metrics, projects
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


# -- auth and users -------------------------------------------------------------------


@router.post("/auth/token", response_model=TokenPublic, tags=["auth"])
def create_token(body: TokenCreate, ctx: Ctx) -> TokenPublic:
    """Exchange a username and password for a new API token (shown once)."""
    with ctx.session() as s:
        user = auth.authenticate_password(s, body.username, body.password)
        tok = auth.create_token(s, user.id, name=body.name)
    return TokenPublic(id=tok.id, name=tok.name, token=tok.token, username=user.username)


@router.get("/me", response_model=UserPublicModel, tags=["auth"])
def me(user: CurrentUser) -> UserPublicModel:
    return UserPublicModel(id=user.id, username=user.username, is_admin=user.is_admin)


@router.get("/users", response_model=list[UserPublicModel], tags=["auth"])
def list_users(ctx: Ctx, user: CurrentUser) -> list[UserPublicModel]:
    with ctx.session() as s:
        return [UserPublicModel(id=u.id, username=u.username, is_admin=u.is_admin)
                for u in auth.list_users(s)]


@router.post("/users", response_model=UserPublicModel, status_code=201, tags=["auth"])
def create_user(body: UserCreate, ctx: Ctx, user: CurrentUser) -> UserPublicModel:
    if not user.is_admin:
        raise PermissionDeniedError("only site admins create users")
    with ctx.session() as s:
        u = auth.create_user(s, body.username, password=body.password, is_admin=body.is_admin)
    return UserPublicModel(id=u.id, username=u.username, is_admin=u.is_admin)


# -- projects -------------------------------------------------------------------------


@router.get("/projects", response_model=list[ProjectPublicModel], tags=["projects"])
def list_projects(ctx: Ctx, user: CurrentUser) -> list[ProjectPublicModel]:
    with ctx.session() as s:
        return [ProjectPublicModel.of(p) for p in projects.list_projects(s, user)]


@router.post("/projects", response_model=ProjectPublicModel, status_code=201, tags=["projects"])
def create_project(body: ProjectCreate, ctx: Ctx, user: CurrentUser) -> ProjectPublicModel:
    with ctx.session() as s:
        p = projects.create_project(s, user, **body.model_dump())
    return ProjectPublicModel.of(p)


@router.get("/projects/{project_id}", response_model=ProjectPublicModel, tags=["projects"])
def get_project(project_id: int, ctx: Ctx, user: CurrentUser) -> ProjectPublicModel:
    with ctx.session() as s:
        return ProjectPublicModel.of(projects.get_project(s, user, project_id))


@router.patch("/projects/{project_id}", response_model=ProjectPublicModel, tags=["projects"])
def update_project(project_id: int, body: ProjectUpdate, ctx: Ctx, user: CurrentUser
                   ) -> ProjectPublicModel:
    with ctx.session() as s:
        p = projects.update_project(s, user, project_id, **body.model_dump(exclude_unset=True))
    # the running loop takes the new settings in place; its refit runs in the background
    pending = ctx.loops.apply_settings(project_id)
    return ProjectPublicModel.of(p).model_copy(update={"refit_pending": pending})


@router.get("/projects/{project_id}/members", response_model=list[MemberPublicModel],
            tags=["projects"])
def list_members(project_id: int, ctx: Ctx, user: CurrentUser) -> list[MemberPublicModel]:
    with ctx.session() as s:
        return [MemberPublicModel.of(m) for m in projects.list_members(s, user, project_id)]


@router.put("/projects/{project_id}/members", response_model=MemberPublicModel, tags=["projects"])
def set_member(project_id: int, body: MemberSet, ctx: Ctx, user: CurrentUser) -> MemberPublicModel:
    with ctx.session() as s:
        return MemberPublicModel.of(projects.set_member(s, user, project_id, body.username,
                                                        body.role))


@router.delete("/projects/{project_id}/members/{username}", status_code=204, tags=["projects"])
def remove_member(project_id: int, username: str, ctx: Ctx, user: CurrentUser) -> Response:
    with ctx.session() as s:
        projects.remove_member(s, user, project_id, username)
    return Response(status_code=204)


# -- import ---------------------------------------------------------------------------


@router.post("/projects/{project_id}/imports", response_model=JobPublic, status_code=202,
             tags=["data"])
def upload_import(project_id: int, ctx: Ctx, user: CurrentUser,
                  file: Annotated[UploadFile, File(description="CSV, TSV, JSONL, Parquet or zip")],
                  text_column: Annotated[str | None, Form()] = None,
                  label_column: Annotated[str | None, Form()] = None,
                  labels: Annotated[str, Form(description="all, evaluation or none")] = "all",
                  ) -> JobPublic:
    """Upload a file and import it as a background job."""
    return JobPublic.of(import_upload(ctx, user, project_id, file.file, file.filename,
                                      text_column=text_column, label_column=label_column,
                                      labels=labels))


@router.post("/projects/{project_id}/imports/source", response_model=JobPublic, status_code=202,
             tags=["data"])
def source_import(project_id: int, body: ImportSource, ctx: Ctx, user: CurrentUser) -> JobPublic:
    """Import from an S3 URI, a catalogue dataset (``catalogue:digits``) or, for site admins,
    a path on the server."""
    src = check_source(user, body.source)
    job = start_import(ctx, user, project_id, src, text_column=body.text_column,
                       label_column=body.label_column, labels=body.labels)
    return JobPublic.of(job)


@router.post("/imports/preview", tags=["data"])
def import_preview(ctx: Ctx, user: CurrentUser,
                   task: Annotated[str, Form(description="text or image")],
                   multi_label: Annotated[bool, Form()] = False,
                   file: Annotated[UploadFile | None, File(description="the file to read")] = None,
                   source: Annotated[str | None, Form(description="s3://... (or, for site "
                                                      "admins, a path on the server)")] = None,
                   text_column: Annotated[str | None, Form()] = None,
                   label_column: Annotated[str | None, Form()] = None,
                   complete: Annotated[bool, Form(description="false: the file is only the "
                                                  "start of a larger one")] = True,
                   ) -> dict[str, Any]:
    """What an import would find in a file or source, without importing it: columns, label
    names with counts, split sizes and the first bad rows (the new-project wizard asks this)."""
    if file is not None:
        return preview_upload(ctx, user, file.file, file.filename, task=task,
                              multi_label=multi_label, text_column=text_column,
                              label_column=label_column, complete=complete)
    return preview_source(ctx, user, source or "", task=task, multi_label=multi_label,
                          text_column=text_column, label_column=label_column, complete=complete)


@router.get("/catalogue", tags=["data"])
def catalogue(user: CurrentUser) -> list[dict[str, Any]]:
    from dataclasses import asdict

    from labella.ingest.catalogue import list_catalogue

    return [asdict(e) for e in list_catalogue()]


# -- the labelling loop ---------------------------------------------------------------


@router.get("/projects/{project_id}/next", response_model=list[NextItemModel], tags=["labelling"])
def next_items(project_id: int, ctx: Ctx, user: CurrentUser,
               n: Annotated[int, Query(ge=1, le=100)] = 1) -> list[NextItemModel]:
    """The next items to label, each with the model's suggestion and why it was chosen."""
    return [NextItemModel.of(it, project_id)
            for it in labelling.next_items(ctx, user, project_id, n)]


@router.post("/projects/{project_id}/annotations", response_model=AckModel, tags=["labelling"])
def annotate(project_id: int, body: AnnotationCreate, ctx: Ctx, user: CurrentUser) -> AckModel:
    """Label an item. Durable when acknowledged; resending a ``request_id`` is a no-op."""
    labels: list[str] | str | None = body.labels if body.labels is not None else body.label
    return AckModel.of(labelling.annotate(ctx, user, project_id, body.item_id, labels=labels,
                                          request_id=body.request_id, meta=body.meta))


@router.post("/projects/{project_id}/skip", response_model=AckModel, tags=["labelling"])
def skip(project_id: int, body: ItemAction, ctx: Ctx, user: CurrentUser) -> AckModel:
    if body.item_id is None:
        raise InvalidRequestError("item_id is required")
    return AckModel.of(labelling.skip(ctx, user, project_id, body.item_id,
                                      request_id=body.request_id))


@router.post("/projects/{project_id}/undo", response_model=AckModel, tags=["labelling"])
def undo(project_id: int, body: ItemAction, ctx: Ctx, user: CurrentUser) -> AckModel:
    """Retract your label on an item (default: your most recent answer)."""
    return AckModel.of(labelling.undo(ctx, user, project_id, body.item_id,
                                      request_id=body.request_id))


@router.get("/projects/{project_id}/items", tags=["labelling"])
def list_items(project_id: int, ctx: Ctx, user: CurrentUser,
               label: str | None = None, prediction: str | None = None,
               min_confidence: float | None = None, max_confidence: float | None = None,
               annotator: str | None = None, split: str | None = None, q: str | None = None,
               sort: Literal["id", "confidence", "-confidence"] = "id",
               offset: Annotated[int, Query(ge=0)] = 0,
               limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """Items filtered by current label (``__unlabeled__`` for none), model prediction,
    confidence range, annotator, split and text."""
    from dataclasses import asdict

    from labella.service.browse import list_items as browse

    page = browse(ctx, user, project_id, label=label, prediction=prediction,
                  min_confidence=min_confidence, max_confidence=max_confidence,
                  annotator=annotator, split=split, q=q, sort=sort, offset=offset, limit=limit)
    return asdict(page)


@router.get("/projects/{project_id}/items/{item_id}", tags=["labelling"])
def get_item(project_id: int, item_id: int, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    from dataclasses import asdict

    d = asdict(labelling.get_item(ctx, user, project_id, item_id))
    d["image_url"] = f"/api/projects/{project_id}/items/{item_id}/image" if d.pop("image_key") \
        else None
    return d


@router.get("/projects/{project_id}/items/{item_id}/image", tags=["labelling"])
def item_image(project_id: int, item_id: int, ctx: Ctx, user: CurrentUser) -> Response:
    data, media = labelling.image_bytes(ctx, user, project_id, item_id)
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=86400"})


# -- model, metrics, export -----------------------------------------------------------


@router.get("/projects/{project_id}/metrics", tags=["model"])
def project_metrics(project_id: int, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Scores of the current model, the learning curve and the stopping recommendation."""
    return metrics.project_metrics(ctx, user, project_id)


@router.post("/projects/{project_id}/retrain", response_model=JobPublic, status_code=202,
             tags=["model"])
def retrain(project_id: int, ctx: Ctx, user: CurrentUser) -> JobPublic:
    return JobPublic.of(start_retrain(ctx, user, project_id))


@router.get("/projects/{project_id}/export", tags=["data"])
def export(project_id: int, ctx: Ctx, user: CurrentUser,
           format: Annotated[str, Query(description="csv, jsonl, hf or label_studio")] = "jsonl",
           include_unlabeled: bool = False) -> FileResponse:
    from labella.service.exporting import export_labels

    path, media = export_labels(ctx, user, project_id, format, include_unlabeled=include_unlabeled)
    return FileResponse(path, media_type=media, filename=path.name)


@router.get("/projects/{project_id}/model", tags=["model"])
def export_model(project_id: int, ctx: Ctx, user: CurrentUser) -> FileResponse:
    """The current head as a zip of ``head.json`` + ``head.npz`` (no pickle)."""
    from labella.service.exporting import export_model as do_export

    path = do_export(ctx, user, project_id)
    return FileResponse(path, media_type="application/zip", filename=path.name)


# -- jobs -----------------------------------------------------------------------------


def _job_for(ctx: Ctx, user: auth.UserPublic, job_id: int) -> Any:
    job = ctx.jobs.get(job_id)
    if job.project_id is not None:
        with ctx.read_session() as s:
            auth.require_role(s, user, job.project_id)
    elif not user.is_admin:
        raise NotFoundError(f"no job with id {job_id}")
    return job


@router.get("/jobs/{job_id}", response_model=JobPublic, tags=["jobs"])
def get_job(job_id: int, ctx: Ctx, user: CurrentUser) -> JobPublic:
    return JobPublic.of(_job_for(ctx, user, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic, tags=["jobs"])
def cancel_job(job_id: int, ctx: Ctx, user: CurrentUser) -> JobPublic:
    job = _job_for(ctx, user, job_id)
    if job.project_id is not None:
        with ctx.session() as s:
            auth.require_role(s, user, job.project_id, "admin")
    return JobPublic.of(ctx.jobs.cancel(job_id))


@router.get("/projects/{project_id}/jobs", response_model=list[JobPublic], tags=["jobs"])
def project_jobs(project_id: int, ctx: Ctx, user: CurrentUser,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[JobPublic]:
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    return [JobPublic.of(j) for j in ctx.jobs.list(project_id=project_id, limit=limit)]


@router.get("/health", tags=["meta"])
def health(request: Request) -> dict[str, Any]:
    from labella import __version__

    return {"status": "ok", "version": __version__}
