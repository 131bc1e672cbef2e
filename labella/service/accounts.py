"""User management for people: set your own password, the site admin's user list, one-time
login links, and adding a project member who has no account yet.

Built on :mod:`labella.service.auth` (hashing, sessions, links); these functions add who may
do what. A one-time login link is returned as its secret token: the caller turns it into
``/login?token=...`` for the person, who signs in with it once and then sets a password on
``/account``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labella.config import REQUEST_LIMITS
from labella.service import auth, projects
from labella.service.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from labella.store.projects import ROLES, Member
from labella.store.users import User

MIN_PASSWORD = 8


@dataclass(frozen=True)
class Account:
    """A user as the admin page lists them."""

    id: int
    username: str
    is_admin: bool
    disabled: bool
    has_password: bool
    created_at: datetime
    n_projects: int


def login_path(token: str) -> str:
    """The path a one-time login token is redeemed at."""
    return f"/login?token={token}"


def _require_site_admin(by: auth.UserPublic, what: str) -> None:
    if not by.is_admin:
        raise PermissionDeniedError(f"only site admins {what}")


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidRequestError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > REQUEST_LIMITS.max_password_chars:
        raise InvalidRequestError(
            f"a password has at most {REQUEST_LIMITS.max_password_chars} characters")
    return password


def has_password(s: Session, user_id: int) -> bool:
    user = s.get(User, user_id)
    return user is not None and bool(user.password_hash)


def change_own_password(s: Session, user: auth.UserPublic, new_password: str, *,
                        current_password: str | None = None) -> None:
    """Set the caller's password. A user who already has one must give it (a session left
    open on a shared machine cannot take the account over); a user who signed in with a
    one-time link and has none sets the first one. Ends the user's other web sessions."""
    row = s.get(User, user.id)
    if row is None or row.disabled:
        raise AuthenticationError("this user is disabled")
    check_password(new_password)
    if row.password_hash and not auth.verify_password(current_password or "", row.password_hash):
        raise AuthenticationError("the current password is wrong")
    auth.set_password(s, user.id, new_password)


def list_accounts(s: Session, by: auth.UserPublic) -> list[Account]:
    _require_site_admin(by, "list users")
    counts = dict(s.execute(select(Member.user_id, func.count()).group_by(Member.user_id)).all())
    return [Account(u.id, u.username, u.is_admin, u.disabled, bool(u.password_hash),
                    u.created_at, int(counts.get(u.id, 0)))
            for u in s.scalars(select(User).order_by(User.id))]


def create_account(s: Session, by: auth.UserPublic, username: str, *, is_admin: bool = False,
                   password: str | None = None) -> tuple[auth.UserPublic, str | None]:
    """Create a user (site admins only). Without a password, also returns a one-time login
    link's token for the new user; with one, ``None``."""
    _require_site_admin(by, "create users")
    if password is not None:
        check_password(password)
    user = auth.create_user(s, username, password=password, is_admin=is_admin)
    return user, (None if password else auth.create_login_link(s, user.id))


def login_link(s: Session, by: auth.UserPublic, user_id: int) -> str:
    """A fresh one-time login link's token for ``user_id`` (site admins only): for a user who
    forgot their password or never had one."""
    _require_site_admin(by, "make login links")
    user = s.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    if user.disabled:
        raise InvalidRequestError(f"{user.username!r} is disabled; enable the user first")
    return auth.create_login_link(s, user_id)


@dataclass(frozen=True)
class Invitation:
    member: projects.MemberPublic
    created: bool
    """Whether the user was created for this (then ``token`` is their one-time login link)."""
    token: str | None


def invite_member(s: Session, by: auth.UserPublic, project_id: int, username: str,
                  role: str) -> Invitation:
    """Add ``username`` to a project (its admins only), creating the user when there is none
    yet: the reply then carries a one-time login link to pass on. No CLI step is needed."""
    auth.require_role(s, by, project_id, "admin")
    name = auth.check_username(username)
    if role not in ROLES:
        raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    existing = s.scalar(select(User.id).where(User.username == name))
    token = None
    if existing is None:
        user = auth.create_user(s, name)
        token = auth.create_login_link(s, user.id)
    member = projects.set_member(s, by, project_id, name, role)
    return Invitation(member, existing is None, token)
