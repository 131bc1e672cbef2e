"""The data map's endpoints: start (or find) the projection job, and read the points."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from labella.api.deps import Ctx, CurrentUser
from labella.api.errors import responses
from labella.api.schemas import JobPublic
from labella.api.validation import PathId
from labella.service import datamap

router = APIRouter(prefix="/api", tags=["map"])
IN_PROJECT = responses(401, 403, 404, 409, 422)


class CategoryModel(BaseModel):
    values: list[str] = Field(description="the distinct values")
    codes: list[int] = Field(description="per point, an index into values (-1: none)")


class MapModel(BaseModel):
    status: str = Field(description="none, queued, running, failed or ready")
    job: JobPublic | None = Field(description="the job that made the map, or is making it "
                                              "(progress, error)")
    method: str | None = Field(description="umap, or pca for tiny projects")
    n_items: int = Field(description="items in the map")
    n_shown: int = Field(description="points answered: a sample when n_items is larger")
    n_missing: int = Field(description="embedded items not in the map (added since): "
                                       "POST to refresh it")
    featuriser_key: str | None
    model_version: int | None = Field(description="the model whose predictions and "
                                                  "confidences are given")
    ids: list[int] = Field(description="item ids; the columns below are parallel to it")
    x: list[float]
    y: list[float]
    label: CategoryModel = Field(description="current label (several joined by ', ')")
    prediction: CategoryModel
    confidence: list[float | None]
    annotator: CategoryModel
    split: CategoryModel

    @classmethod
    def of(cls, m: datamap.MapPoints) -> MapModel:
        d = asdict(m)
        d["job"] = JobPublic.of(m.job) if m.job is not None else None
        return cls(**d)


@router.post("/projects/{project_id}/map", response_model=JobPublic, status_code=202,
             responses=IN_PROJECT)
def start_map(project_id: PathId, ctx: Ctx, user: CurrentUser,
              refresh: Annotated[bool, Query(description="make a new map even if one of "
                                                         "the current embeddings exists")]
              = False) -> JobPublic:
    """Make the project's data map (a 2-D UMAP projection of its embeddings) as a
    background job; answers the job already making it, or the one that made it for the
    current embeddings (unless ``refresh``, or items were added since)."""
    return JobPublic.of(datamap.start_map(ctx, user, project_id, refresh=refresh))


@router.get("/projects/{project_id}/map", response_model=MapModel, responses=IN_PROJECT)
def get_map(project_id: PathId, ctx: Ctx, user: CurrentUser,
            max_points: Annotated[int, Query(ge=1, le=datamap.MAX_POINTS)] = datamap.MAX_POINTS
            ) -> MapModel:
    """The map's points as parallel columns (item id, x, y, label, prediction,
    confidence, annotator, split), at most ``max_points`` (every labelled item first, then
    a fixed random sample); or, until it is made, the job's status and progress."""
    return MapModel.of(datamap.map_points(ctx, user, project_id, max_points=max_points))
