"""SDK methods for user management and project deletion, mixed into
:class:`labella.client.Client` and :class:`labella.client.Project`."""

from __future__ import annotations

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
