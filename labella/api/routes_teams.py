"""Team endpoints: agreement between a project's annotators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from labella.api.deps import Ctx, CurrentUser
from labella.api.errors import responses
from labella.api.validation import PathId
from labella.service import agreement

router = APIRouter(prefix="/api")


@router.get("/projects/{project_id}/agreement", tags=["teams"],
            responses=responses(401, 403, 404, 409, 422))
def project_agreement(project_id: PathId, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Agreement between the project's annotators: Krippendorff's alpha (nominal; per label
    for multi-label), pairwise Cohen's kappa, and per annotator their labels, median seconds
    per label and agreement with the majority-vote consensus, each with the number of items
    behind it."""
    return agreement.project_agreement(ctx, user, project_id)
