"""Passwords, API tokens, login links and project roles."""

from __future__ import annotations

from datetime import timedelta

import pytest

from labella.service import auth, projects
from labella.service.context import ServiceContext
from labella.service.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from labella.store.base import utcnow
from labella.store.users import ApiToken, User


def test_password_hash_is_salted_scrypt_and_verifies() -> None:
    a, b = auth.hash_password("s3cret-pass"), auth.hash_password("s3cret-pass")
    assert a != b and a.startswith("scrypt$")
    assert auth.verify_password("s3cret-pass", a)
    assert not auth.verify_password("s3cret-pasS", a)
    assert not auth.verify_password("anything", None)
    assert not auth.verify_password("anything", "md5$abc")


def test_users_tokens_and_secrets_at_rest(ctx: ServiceContext, admin: auth.UserPublic) -> None:
    with ctx.session() as s:
        with pytest.raises(ConflictError):
            auth.create_user(s, "admin")
    with ctx.session() as s, pytest.raises(InvalidRequestError):
        auth.create_user(s, "two words")
    with ctx.session() as s:
        assert auth.authenticate_password(s, "admin", "correct horse").id == admin.id
        with pytest.raises(AuthenticationError):
            auth.authenticate_password(s, "admin", "wrong")
        with pytest.raises(AuthenticationError):
            auth.authenticate_password(s, "nobody", "correct horse")
        tok = auth.create_token(s, admin.id, name="ci")
    with ctx.session() as s:
        assert auth.user_for_token(s, tok.token).username == "admin"
        row = s.get(ApiToken, tok.id)
        assert row is not None and tok.token not in (row.token_hash, row.prefix)
        pw = s.get(User, admin.id)
        assert pw is not None and "correct horse" not in (pw.password_hash or "")
        auth.revoke_token(s, tok.id, by=admin)
    with ctx.session() as s, pytest.raises(AuthenticationError):
        auth.user_for_token(s, tok.token)


def test_login_link_is_one_time_and_expires(ctx: ServiceContext, admin: auth.UserPublic) -> None:
    with ctx.session() as s:
        link = auth.create_login_link(s, admin.id)
        old = auth.create_login_link(s, admin.id, ttl=timedelta(seconds=-1))
    with ctx.session() as s:
        assert auth.redeem_login_link(s, link).id == admin.id
    with ctx.session() as s, pytest.raises(AuthenticationError):
        auth.redeem_login_link(s, link)
    with ctx.session() as s, pytest.raises(AuthenticationError):
        auth.redeem_login_link(s, old, now=utcnow())


def test_project_roles(ctx: ServiceContext, admin: auth.UserPublic, make_text_project) -> None:  # type: ignore[no-untyped-def]
    p = make_text_project()
    with ctx.session() as s:
        ann = auth.create_user(s, "ann", password="password1")
        other = auth.create_user(s, "other", password="password2")
        projects.set_member(s, admin, p.id, "ann", "annotator")
    with ctx.session() as s:
        assert projects.get_project(s, ann, p.id).role == "annotator"
        assert [x.name for x in projects.list_projects(s, other)] == []
        with pytest.raises(NotFoundError):  # existence is not revealed to non-members
            projects.get_project(s, other, p.id)
        with pytest.raises(PermissionDeniedError):
            projects.update_project(s, ann, p.id, settings={"batch_size": 5})
        with pytest.raises(ConflictError):
            projects.remove_member(s, admin, p.id, "admin")  # last admin stays
        assert {m.username: m.role for m in projects.list_members(s, admin, p.id)} == {
            "admin": "admin", "ann": "annotator"}
