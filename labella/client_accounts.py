"""SDK methods for user management, project deletion and teams (the disagreement review
queue, dataset versions), mixed into :class:`labella.client.Client` and
:class:`labella.client.Project`."""

from __future__ import annotations

import uuid
from typing import Any


class AccountMethods:
    """Your password, and the site admin's users (``Client`` methods)."""

    url: str

    def request(self, method: str, path: str, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def set_password(self, new_password: str, *, current_password: str | None = None) -> None:
        """Set your password (``current_password`` is needed once you have one)."""
        self.request("POST", "/api/me/password", json={"new_password": new_password,
                                                       "current_password": current_password})

    def users(self) -> list[dict[str, Any]]:
        """Every user with ``has_password``, ``disabled``, ``n_projects`` (site admins)."""
        result: list[dict[str, Any]] = self.request("GET", "/api/admin/users")
        return result

    def create_user(self, username: str, *, is_admin: bool = False,
                    password: str | None = None) -> dict[str, Any]:
        """Create a user (site admins); without a password, ``login_url`` is their one-time
        sign-in link."""
        r: dict[str, Any] = self.request("POST", "/api/admin/users", json={
            "username": username, "is_admin": is_admin, "password": password})
        r["login_url"] = self.url + r["path"] if r.get("path") else None
        return r

    def login_link(self, user_id: int) -> str:
        """A fresh one-time sign-in link (a URL) for a user (site admins)."""
        r = self.request("POST", f"/api/admin/users/{user_id}/login-link")
        return self.url + str(r["path"])

    def disable_user(self, user_id: int, disabled: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = self.request("PATCH", f"/api/users/{user_id}",
                                              json={"disabled": disabled})
        return result


class ProjectAdminMethods:
    """Inviting members and deleting the project (``Project`` methods)."""

    _c: Any

    @property
    def id(self) -> int:  # pragma: no cover (Project's own)
        raise NotImplementedError

    def invite(self, username: str, role: str = "annotator") -> dict[str, Any]:
        """Add a member; a username without an account is created and ``login_url`` is
        their one-time sign-in link to pass on."""
        r: dict[str, Any] = self._c.request("POST", f"/api/projects/{self.id}/members/invite",
                                            json={"username": username, "role": role})
        r["login_url"] = self._c.url + r["login_path"] if r.get("login_path") else None
        return r

    def delete(self, *, confirm: str) -> dict[str, Any]:
        """Delete the project with everything only it holds; ``confirm`` is its exact name."""
        result: dict[str, Any] = self._c.request("DELETE", f"/api/projects/{self.id}",
                                                 params={"confirm": confirm})
        return result


class TeamMethods:
    """The disagreement review queue and dataset versions (``Project`` methods)."""

    _c: Any

    @property
    def id(self) -> int:  # pragma: no cover (Project's own)
        raise NotImplementedError

    def disagreements(self, limit: int = 50) -> dict[str, Any]:
        """Items whose annotators disagree and no reviewer resolved since (reviewers and
        admins): ``n_open``, ``n_reviewed`` and ``items``, each with ``answers`` (username,
        labels), ``consensus`` (the majority vote) and ``consensus_share``."""
        result: dict[str, Any] = self._c.request(
            "GET", f"/api/projects/{self.id}/disagreements", params={"limit": limit})
        return result

    def resolve(self, item_id: int, *, label: str | None = None,
                labels: list[str] | None = None) -> dict[str, Any]:
        """Give an item its final label as a reviewer (``source="review"`` in its history)."""
        result: dict[str, Any] = self._c.request(
            "POST", f"/api/projects/{self.id}/items/{item_id}/resolve",
            json={"label": label, "labels": labels, "request_id": uuid.uuid4().hex})
        return result

    def freeze(self, name: str, *, note: str = "") -> dict[str, Any]:
        """Freeze a dataset version: every labelled item's current label and the model
        version, under ``name`` (reviewers and admins)."""
        result: dict[str, Any] = self._c.request(
            "POST", f"/api/projects/{self.id}/versions", json={"name": name, "note": note})
        return result

    def versions(self) -> list[dict[str, Any]]:
        """The dataset versions, oldest first (name, n_labels, label_counts, model_version)."""
        result: list[dict[str, Any]] = self._c.request("GET",
                                                       f"/api/projects/{self.id}/versions")
        return result

    def diff(self, a: str, b: str = "now", *, limit: int = 100) -> dict[str, Any]:
        """What changed from version ``a`` to ``b`` (a version, or ``"now"``): ``n_added``,
        ``n_changed``, ``n_removed``, ``transitions`` and up to ``limit`` items of each."""
        result: dict[str, Any] = self._c.request(
            "GET", f"/api/projects/{self.id}/versions/{a}/diff",
            params={"against": b, "limit": limit})
        return result
