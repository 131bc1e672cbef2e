"""Users, passwords, API tokens, web sessions, one-time login links and project roles.

Passwords are hashed with scrypt (a memory-hard KDF from the standard library)
and a per-password random salt. API tokens, web sessions and login links are
random 256-bit secrets; only their SHA-256 is stored, so a leaked database does
not leak them. Every request checks its token or session against the database,
so signing out, disabling a user or changing a password takes effect at once.
No secret is ever logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from labella.config import REQUEST_LIMITS
from labella.service.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from labella.store.base import utcnow
from labella.store.projects import ROLES, Member, Project
from labella.store.users import ApiToken, LoginLink, User, WebSession

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
TOKEN_PREFIX = "lbl_"
MAX_USERNAME = REQUEST_LIMITS.max_username_chars
LOGIN_LINK_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class UserPublic:
    id: int
    username: str
    is_admin: bool
    disabled: bool = False


def _public(u: User) -> UserPublic:
    return UserPublic(u.id, u.username, u.is_admin, u.disabled)


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                         p=int(p), maxmem=64 * 1024 * 1024, dklen=32)
    return hmac.compare_digest(got, base64.b64decode(digest))


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_username(username: str) -> str:
    name = username.strip()
    if (not name or len(name) > MAX_USERNAME or any(c.isspace() for c in name)
            or not name.isprintable()):
        raise InvalidRequestError(
            f"a username is 1-{MAX_USERNAME} printable characters without spaces; "
            f"got {username[:MAX_USERNAME + 1]!r}")
    return name


def _plausible_username(username: str) -> bool:
    """Whether ``username`` could name a user at all (a cheap check before any query)."""
    return 0 < len(username) <= MAX_USERNAME and "\x00" not in username


def create_user(s: Session, username: str, *, password: str | None = None,
                is_admin: bool = False) -> UserPublic:
    name = check_username(username)
    if s.scalar(select(User.id).where(User.username == name)) is not None:
        raise ConflictError(f"a user named {name!r} already exists")
    if password is not None and len(password) < 8:
        raise InvalidRequestError("a password needs at least 8 characters")
    user = User(username=name, is_admin=is_admin,
                password_hash=hash_password(password) if password else None)
    s.add(user)
    s.flush()
    return _public(user)


def set_password(s: Session, user_id: int, password: str) -> None:
    if len(password) < 8:
        raise InvalidRequestError("a password needs at least 8 characters")
    user = s.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    user.password_hash = hash_password(password)
    end_sessions(s, user_id)


def update_user(s: Session, by: UserPublic, user_id: int, *, disabled: bool | None = None,
                is_admin: bool | None = None) -> UserPublic:
    """Disable / enable a user or change their site-admin flag (site admins only).

    Disabling ends the user's web sessions; their API tokens stay stored but are refused
    while the user is disabled. A site admin cannot disable or demote themselves, so the
    site always keeps one admin who can undo it.
    """
    if not by.is_admin:
        raise PermissionDeniedError("only site admins change users")
    user = s.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    if user.id == by.id and (disabled or is_admin is False):
        raise ConflictError("site admins cannot disable or demote themselves")
    if disabled is not None:
        user.disabled = disabled
        if disabled:
            end_sessions(s, user_id)
    if is_admin is not None:
        user.is_admin = is_admin
    s.flush()
    return _public(user)


def get_user(s: Session, *, user_id: int | None = None, username: str | None = None) -> UserPublic:
    if user_id is not None:
        user = s.get(User, user_id)
    elif username is not None and _plausible_username(username):
        user = s.scalar(select(User).where(User.username == username))
    else:
        user = None
    if user is None:
        raise NotFoundError(f"no user {username or user_id!r}")
    return _public(user)


def list_users(s: Session) -> list[UserPublic]:
    return [_public(u) for u in s.scalars(select(User).order_by(User.id))]


def count_users(s: Session) -> int:
    return len(s.scalars(select(User.id)).all())


def authenticate_password(s: Session, username: str, password: str) -> UserPublic:
    user = (s.scalar(select(User).where(User.username == username))
            if _plausible_username(username) else None)
    # verify against a dummy hash when the user is unknown so timing does not reveal it
    ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    if user is None or user.disabled or not ok:
        raise AuthenticationError("wrong username or password")
    return _public(user)


_DUMMY_HASH = hash_password(secrets.token_hex(8))


@dataclass(frozen=True)
class NewToken:
    """A freshly created API token: ``token`` is shown once and never stored."""

    id: int
    name: str
    token: str
    user: UserPublic


def create_token(s: Session, user_id: int, *, name: str = "") -> NewToken:
    user = s.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user_id, name=name, token_hash=_sha256(token), prefix=token[:10])
    s.add(row)
    s.flush()
    return NewToken(row.id, name, token, _public(user))


def user_for_token(s: Session, token: str) -> UserPublic:
    found = s.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                      .where(ApiToken.token_hash == _sha256(token))).first()
    if found is None or found[0].revoked_at is not None:
        raise AuthenticationError("invalid or revoked API token")
    user = found[1]
    if user.disabled:
        raise AuthenticationError("the token's user is disabled")
    return _public(user)


# -- web sessions ------------------------------------------------------------------------


def start_session(s: Session, user_id: int, *, ttl: timedelta) -> str:
    """A new web session for ``user_id``; returns its secret (for the signed cookie).

    Also removes expired sessions, so the table holds only live ones.
    """
    now = utcnow()
    s.execute(delete(WebSession).where(WebSession.expires_at < now))
    secret = secrets.token_urlsafe(32)
    s.add(WebSession(user_id=user_id, token_hash=_sha256(secret), expires_at=now + ttl))
    s.flush()
    return secret


def user_for_session(s: Session, secret: str) -> UserPublic:
    """The user of a live web session; :class:`AuthenticationError` when it was ended,
    has expired or its user is disabled."""
    found = s.execute(select(WebSession, User).join(User, User.id == WebSession.user_id)
                      .where(WebSession.token_hash == _sha256(secret))).first()
    if found is None or found[0].expires_at < utcnow():
        raise AuthenticationError("your sign-in has ended; sign in again")
    if found[1].disabled:
        raise AuthenticationError("this user is disabled")
    return _public(found[1])


def end_session(s: Session, secret: str) -> None:
    """Sign out one browser (nothing happens for an unknown secret)."""
    s.execute(delete(WebSession).where(WebSession.token_hash == _sha256(secret)))


def end_sessions(s: Session, user_id: int) -> None:
    """Sign ``user_id`` out of every browser."""
    s.execute(delete(WebSession).where(WebSession.user_id == user_id))


def revoke_token(s: Session, token_id: int, *, by: UserPublic) -> None:
    row = s.get(ApiToken, token_id)
    if row is None or (row.user_id != by.id and not by.is_admin):
        raise NotFoundError(f"no token with id {token_id}")
    row.revoked_at = utcnow()


def create_login_link(s: Session, user_id: int, *, ttl: timedelta = LOGIN_LINK_TTL) -> str:
    """A one-time login token for ``user_id`` (put it in a URL); valid once, for ``ttl``."""
    token = secrets.token_urlsafe(32)
    s.add(LoginLink(user_id=user_id, token_hash=_sha256(token), expires_at=utcnow() + ttl))
    s.flush()
    return token


def redeem_login_link(s: Session, token: str, *, now: datetime | None = None) -> UserPublic:
    now = now or utcnow()
    row = s.scalar(select(LoginLink).where(LoginLink.token_hash == _sha256(token)))
    if row is None or row.used_at is not None or row.expires_at < now:
        raise AuthenticationError("this login link is invalid, used or expired")
    row.used_at = now
    user = s.get(User, row.user_id)
    if user is None or user.disabled:
        raise AuthenticationError("this login link's user is disabled")
    return _public(user)


# -- project roles ---------------------------------------------------------------------


def role_in(s: Session, user: UserPublic, project_id: int) -> str | None:
    """``admin`` / ``reviewer`` / ``annotator`` / ``None`` (not a member, or no such
    project). Site admins are admins of every project that exists.

    One query, which also loads the project into the session (a later
    ``s.get(Project, project_id)`` costs no round trip).
    """
    if not 0 < project_id <= REQUEST_LIMITS.max_id:  # no such id fits the database's column
        return None
    row = s.execute(
        select(Project, Member.role)
        .outerjoin(Member, (Member.project_id == Project.id) & (Member.user_id == user.id))
        .where(Project.id == project_id)).first()
    if row is None:
        return None
    return "admin" if user.is_admin else row[1]


def require_role(s: Session, user: UserPublic, project_id: int, role: str = "annotator") -> str:
    """The caller's role in the project, or an error if it is below ``role`` (admin >
    reviewer > annotator, the order of :data:`ROLES`).

    A user who is not a member gets :class:`NotFoundError` (the project's existence
    is not revealed); a member below ``role`` gets :class:`PermissionDeniedError`.
    """
    have = role_in(s, user, project_id)
    if have is None:
        raise NotFoundError(f"no project with id {project_id}")
    if ROLES.index(have) > ROLES.index(role):
        raise PermissionDeniedError(f"this needs the project's {role} role"
                                    + (" (or admin)" if role != "admin" else ""))
    return have


def set_member(s: Session, project_id: int, user_id: int, role: str) -> None:
    if role not in ROLES:
        raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    if s.get(User, user_id) is None:
        raise NotFoundError(f"no user with id {user_id}")
    m = s.get(Member, (project_id, user_id))
    if m is None:
        s.add(Member(project_id=project_id, user_id=user_id, role=role))
    else:
        m.role = role


def remove_member(s: Session, project_id: int, user_id: int) -> None:
    m = s.get(Member, (project_id, user_id))
    if m is None:
        raise NotFoundError(f"user {user_id} is not a member of project {project_id}")
    if m.role == "admin":
        admins = s.scalars(select(Member.user_id).where(
            Member.project_id == project_id, Member.role == "admin")).all()
        if len(admins) <= 1:
            raise ConflictError("cannot remove the project's last admin")
    s.delete(m)
