"""Errors the service raises; the API maps each class to one HTTP status in one place."""

from __future__ import annotations

from labella.errors import LabellaError


class NotFoundError(LabellaError):
    """The project, item, job or user does not exist (or is not visible to the caller)."""


class AuthenticationError(LabellaError):
    """No valid credentials were given."""


class PermissionDeniedError(LabellaError):
    """The caller is known but may not do this."""


class ConflictError(LabellaError):
    """The request clashes with the current state (a name already taken, ...)."""


class InvalidRequestError(LabellaError):
    """The request is well-formed but its values are not acceptable."""
