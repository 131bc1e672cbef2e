"""REST endpoints for user management and project deletion: your own password, the site
admin's user list and one-time login links, inviting a member who has no account yet, and
deleting a project (confirmed by its name)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from labella.api.deps import Ctx, CurrentUser
from labella.api.errors import responses
from labella.api.schemas import MemberPublicModel, Password, Username
from labella.api.validation import Body, PathId
from labella.config import REQUEST_LIMITS as LIMITS
from labella.service import accounts, auth
from labella.service.removal import delete_project

router = APIRouter(prefix="/api")


class PasswordChange(Body):
    new_password: Password
    current_password: Password | None = Field(
        default=None, description="required when the user already has a password")


class AccountModel(BaseModel):
    id: int
    username: str
    is_admin: bool
    disabled: bool
    has_password: bool
    created_at: datetime
    n_projects: int


class AccountCreate(Body):
    username: Username
    is_admin: bool = False
    password: Password | None = Field(default=None, description="omit to get a one-time "
                                      "login link instead")


class LoginLinkModel(BaseModel):
    user_id: int
    username: str
    path: str | None = Field(description="open it once to sign in (then set a password)")


class InviteBody(Body):
    username: Username
    role: Literal["admin", "reviewer", "annotator"] = "annotator"


class InvitationModel(BaseModel):
    member: MemberPublicModel
    created: bool
    login_path: str | None = Field(description="the new user's one-time sign-in link, when "
                                   "the user was created for this invitation")


class DeletedProjectModel(BaseModel):
    id: int
    name: str
    items: int
    blobs: int
    embeddings: int
    jobs_cancelled: int


@router.post("/me/password", status_code=204, tags=["auth"], responses=responses(401, 422))
def change_password(body: PasswordChange, ctx: Ctx, user: CurrentUser) -> None:
    """Set or change your password. After a one-time login link there is none yet, so no
    current password is asked; later it is. Your other browsers are signed out."""
    with ctx.session() as s:
        accounts.change_own_password(s, user, body.new_password,
                                     current_password=body.current_password)


@router.get("/admin/users", response_model=list[AccountModel], tags=["auth"],
            responses=responses(401, 403))
def list_accounts(ctx: Ctx, user: CurrentUser) -> list[AccountModel]:
    """Every user with their state (site admins only)."""
    with ctx.session() as s:
        return [AccountModel(**asdict(a)) for a in accounts.list_accounts(s, user)]


@router.post("/admin/users", response_model=LoginLinkModel, status_code=201, tags=["auth"],
             responses=responses(401, 403, 409, 422))
def create_account(body: AccountCreate, ctx: Ctx, user: CurrentUser) -> LoginLinkModel:
    """Create a user (site admins only); without a password the reply holds the new user's
    one-time login link."""
    with ctx.session() as s:
        u, token = accounts.create_account(s, user, body.username, is_admin=body.is_admin,
                                           password=body.password)
    return LoginLinkModel(user_id=u.id, username=u.username,
                          path=accounts.login_path(token) if token else None)


@router.post("/admin/users/{user_id}/login-link", response_model=LoginLinkModel, tags=["auth"],
             responses=responses(401, 403, 404, 422))
def login_link(user_id: PathId, ctx: Ctx, user: CurrentUser) -> LoginLinkModel:
    """A fresh one-time login link for a user (site admins only), valid for 24 hours."""
    with ctx.session() as s:
        token = accounts.login_link(s, user, user_id)
        name = auth.get_user(s, user_id=user_id).username
    return LoginLinkModel(user_id=user_id, username=name, path=accounts.login_path(token))


@router.post("/projects/{project_id}/members/invite", response_model=InvitationModel,
             tags=["projects"], responses=responses(401, 403, 404, 409, 422))
def invite(project_id: PathId, body: InviteBody, ctx: Ctx, user: CurrentUser
           ) -> InvitationModel:
    """Add a member by username (project admins); a user who does not exist yet is created
    and the reply carries their one-time login link to pass on."""
    with ctx.session() as s:
        inv = accounts.invite_member(s, user, project_id, body.username, body.role)
    return InvitationModel(member=MemberPublicModel.of(inv.member), created=inv.created,
                           login_path=accounts.login_path(inv.token) if inv.token else None)


@router.delete("/projects/{project_id}", response_model=DeletedProjectModel, tags=["projects"],
               responses=responses(401, 403, 404, 422))
def remove_project(project_id: PathId, ctx: Ctx, user: CurrentUser,
                   confirm: Annotated[str, Query(max_length=LIMITS.max_name_chars,
                                                 description="the project's exact name")]
                   ) -> DeletedProjectModel:
    """Delete a project (its admins only) with its items, labels, models, jobs, image blobs
    and cached embeddings that no other project uses. ``confirm`` must be its exact name."""
    return DeletedProjectModel(**asdict(delete_project(ctx, user, project_id, confirm=confirm)))
