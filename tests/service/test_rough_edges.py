"""The new user's rough edges in the service layer: hotkeys, explanations for people, label
names that differ only in case, duplicates inside one file, user management and project
deletion (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from labella.service import accounts, auth, explain, hotkeys, projects
from labella.service.context import ServiceContext
from labella.service.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from labella.service.importing import start_import
from labella.service.removal import delete_project
from labella.store.items import Item
from tests.service.conftest import reviews, wait_jobs, write_csv

# -- hotkeys ---------------------------------------------------------------------------


def test_labels_named_like_digits_get_their_own_key() -> None:
    digits = [str(d) for d in range(10)]
    keys = hotkeys.label_keys(digits, None)
    assert keys["1"] == "1" and keys["0"] == "0" and keys["9"] == "9"
    # other names get the number keys in label order
    assert hotkeys.label_keys(["cat", "dog"], None) == {"cat": "1", "dog": "2"}


def test_many_labels_give_number_keys_to_the_most_frequent() -> None:
    labels = [f"emotion{i:02d}" for i in range(28)]
    counts = {lab: 0 for lab in labels}
    counts.update({"emotion27": 50, "emotion20": 40, "emotion03": 30})
    keys = hotkeys.label_keys(labels, {"emotion05": "x"}, counts)
    assert keys["emotion05"] == "x"
    assert keys["emotion27"] == "1" and keys["emotion20"] == "2" and keys["emotion03"] == "3"
    assert len(keys) == 11 and len(set(keys.values())) == 11


@pytest.mark.parametrize(("value", "message"), [
    ({"a": "ab"}, "one printable character"),
    ({"a": "s"}, "kept for the labelling view"),
    ({"a": "k", "b": "K"}, "both use the key"),
    ({"zzz": "k"}, "not one of the project's labels"),
    (["a"], "must be an object"),
])
def test_bad_hotkeys_are_refused(value: object, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        hotkeys.check_hotkeys(value, ["a", "b"])


def test_hotkeys_setting_is_checked_against_the_labels(
        ctx: ServiceContext, admin: auth.UserPublic,
        make_text_project: Callable[..., projects.ProjectPublic]) -> None:
    p = make_text_project(labels=["neg", "pos"], settings={"hotkeys": {"neg": "n", "pos": "p"}})
    assert p.settings["hotkeys"] == {"neg": "n", "pos": "p"}
    with ctx.session() as s, pytest.raises(InvalidRequestError, match="not one of"):
        projects.update_project(s, admin, p.id, settings={"hotkeys": {"maybe": "m"}})
    with ctx.session() as s:
        q = projects.update_project(s, admin, p.id, settings={"hotkeys": {"neg": "j"}})
    assert q.settings["hotkeys"] == {"neg": "j"}


def test_label_names_differing_only_in_case_are_refused(
        make_text_project: Callable[..., projects.ProjectPublic]) -> None:
    with pytest.raises(InvalidRequestError, match="more than case"):
        make_text_project(labels=["Cat", "dog", "cat"])


# -- explanations ------------------------------------------------------------------------


def test_why_item_names_the_labels_the_model_is_torn_between() -> None:
    top = explain.top_labels(np.array([0.06, 0.48, 0.46]), ["bird", "cat", "dog"],
                             multi_label=False)
    text = explain.why_item("margin", top=top, multi_label=False, ranked_version=2,
                            model_version=14)
    assert text.startswith("the model is torn between cat (48 %) and dog (46 %)")
    assert "model v14" in text and "queued under v2" in text
    sure = explain.why_item("typiclust", top=[("cat", 0.9), ("dog", 0.05)], multi_label=False,
                            ranked_version=3, model_version=3)
    assert "leans to cat (90 %)" in sure and "queued" not in sure
    cold = explain.why_item("random (cold start)", top=None, multi_label=False,
                            ranked_version=0, model_version=0)
    assert cold == "picked at random · cold start: no model yet, the first labels teach it"
    multi = explain.why_item("mean_entropy", multi_label=True, ranked_version=1, model_version=1,
                             top=explain.top_labels(np.array([0.99, 0.52, 0.3]),
                                                    ["joy", "anger", "fear"], multi_label=True))
    assert multi.startswith("the model is unsure about anger (52 %) and fear (30 %)")


def test_stop_advice_says_how_many_predictions_changed() -> None:
    base = np.zeros(1000, dtype=int)
    rounds = [base.copy() for _ in range(4)]
    rounds[1][:40] = 1   # 4 % changed, then back: 4 %, then 0.4 %
    rounds[3][:4] = 1
    rates = explain.change_rates(rounds)
    assert rates == pytest.approx([0.04, 0.04, 0.004])
    go = explain.stop_advice(False, "none", {"stabilizing_predictions": {}}, rates)
    assert go == "keep labelling: predictions changed on 4 % of items over the last 3 refits"
    stop = explain.stop_advice(True, "stabilizing_predictions", {"k": 3}, rates[-1:])
    assert stop == "stop soon: predictions changed on 0.4 % of items over the last 1 refit"
    assert "kappa" not in go + stop
    assert explain.stop_advice(False, "none", {}, []).startswith("keep labelling: too few")


# -- imports: duplicates inside one file ---------------------------------------------------


def test_duplicates_inside_one_file_are_told_apart(
        ctx: ServiceContext, admin: auth.UserPublic, tmp_path: Path,
        make_text_project: Callable[..., projects.ProjectPublic]) -> None:
    p = make_text_project()
    rows = [{"text": t, "label": lab} for t, lab in reviews(30)]
    first = write_csv(tmp_path / "a.csv", rows[:20] + rows[:5])  # 5 repeated inside the file
    job = start_import(ctx, admin, p.id, str(first))
    info = ctx.jobs.wait(job.id, timeout=120)
    assert info.result["added"] == 20
    assert info.result["duplicates"] == 5 and info.result["repeated_in_file"] == 5
    second = write_csv(tmp_path / "b.csv", rows[10:30] + rows[25:30])
    info = ctx.jobs.wait(start_import(ctx, admin, p.id, str(second)).id, timeout=120)
    assert info.result["added"] == 10
    # 10 already in the project, 5 repeated inside this file
    assert info.result["duplicates"] == 15 and info.result["repeated_in_file"] == 5


# -- users ---------------------------------------------------------------------------------


def test_first_password_after_a_link_then_change_needs_the_old_one(
        ctx: ServiceContext, admin: auth.UserPublic) -> None:
    with ctx.session() as s:
        bob, token = accounts.create_account(s, admin, "bob")
    assert token is not None
    with ctx.session() as s:
        assert auth.redeem_login_link(s, token).username == "bob"
        assert not accounts.has_password(s, bob.id)
        accounts.change_own_password(s, bob, "first password")
    with ctx.session() as s:
        assert auth.authenticate_password(s, "bob", "first password").id == bob.id
    with ctx.session() as s, pytest.raises(AuthenticationError, match="current password"):
        accounts.change_own_password(s, bob, "second password", current_password="wrong one")
    with ctx.session() as s, pytest.raises(InvalidRequestError, match="at least 8"):
        accounts.change_own_password(s, bob, "short", current_password="first password")
    with ctx.session() as s:
        accounts.change_own_password(s, bob, "second password", current_password="first password")
        with pytest.raises(PermissionDeniedError):
            accounts.list_accounts(s, bob)
        with pytest.raises(PermissionDeniedError):
            accounts.login_link(s, bob, admin.id)
        listed = {a.username: a for a in accounts.list_accounts(s, admin)}
    assert listed["bob"].has_password and not listed["bob"].is_admin


def test_invite_creates_a_missing_user_with_a_login_link(
        ctx: ServiceContext, admin: auth.UserPublic,
        make_text_project: Callable[..., projects.ProjectPublic]) -> None:
    p = make_text_project()
    with ctx.session() as s:
        inv = accounts.invite_member(s, admin, p.id, "newcomer", "annotator")
    assert inv.created and inv.token and inv.member.role == "annotator"
    with ctx.session() as s:
        again = accounts.invite_member(s, admin, p.id, "newcomer", "admin")
        user = auth.redeem_login_link(s, inv.token)
        assert [m.username for m in projects.list_members(s, user, p.id)] == ["admin", "newcomer"]
        plain = auth.create_user(s, "plain")
        auth.set_member(s, p.id, plain.id, "annotator")
        with pytest.raises(PermissionDeniedError):  # annotators do not add members
            accounts.invite_member(s, plain, p.id, "x", "annotator")
        with pytest.raises(NotFoundError):  # nor do outsiders, who do not see the project
            accounts.invite_member(s, auth.create_user(s, "outsider"), p.id, "x", "annotator")
    assert not again.created and again.token is None and again.member.role == "admin"


# -- project deletion ------------------------------------------------------------------------


def test_delete_project_removes_rows_blobs_and_unshared_embeddings(
        ctx: ServiceContext, admin: auth.UserPublic, tmp_path: Path,
        make_text_project: Callable[..., projects.ProjectPublic]) -> None:
    rows = [{"text": t, "label": lab} for t, lab in reviews(40, seed=3)]
    keep = make_text_project("keep")
    gone = make_text_project("gone")
    shared = write_csv(tmp_path / "shared.csv", rows[:10])
    own = write_csv(tmp_path / "own.csv", rows[10:40])
    for pid, path in ((keep.id, shared), (gone.id, shared), (gone.id, own)):
        ctx.jobs.wait(start_import(ctx, admin, pid, str(path)).id, timeout=120)
        wait_jobs(ctx, pid)
    cached = ctx.cache.forget([])  # nothing asked, nothing removed
    assert cached == 0
    blob = ctx.blobs.put(b"an image only this project holds", suffix=".png")
    with ctx.session() as s:
        item = s.query(Item).filter(Item.project_id == gone.id).first()
        assert item is not None
        item.blob_key = blob
        annotator = auth.create_user(s, "ann")
        auth.set_member(s, gone.id, annotator.id, "annotator")
    with pytest.raises(PermissionDeniedError):
        delete_project(ctx, annotator, gone.id, confirm="gone")
    with pytest.raises(InvalidRequestError, match="exact name"):
        delete_project(ctx, admin, gone.id, confirm="Gone")
    done = delete_project(ctx, admin, gone.id, confirm="gone")
    assert done.items == 40 and done.blobs == 1 and done.embeddings == 30
    assert not ctx.blobs.exists(blob)
    with ctx.session() as s:
        assert s.query(Item).filter(Item.project_id == gone.id).count() == 0
        with pytest.raises(NotFoundError):
            projects.get_project(s, admin, gone.id)
        left = projects.get_project(s, admin, keep.id)
    assert left.n_items == 10
    assert ctx.jobs.list(project_id=gone.id) == []
    # the shared texts keep their embeddings: the other project still uses them
    feat = ctx.featuriser("hashing")
    hashes = [h.encode() for h in _hashes(ctx, keep.id)]
    _, found = ctx.cache.lookup(feat, hashes)
    assert found.all()


def _hashes(ctx: ServiceContext, project_id: int) -> list[str]:
    with ctx.session() as s:
        return [h for (h,) in s.query(Item.content_hash).filter(Item.project_id == project_id)]
