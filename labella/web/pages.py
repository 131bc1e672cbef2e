"""Imports every page module so that its routes register on :data:`labella.web.router`."""

from labella.web import (
    accounts,  # noqa: F401
    browse,  # noqa: F401
    dashboard,  # noqa: F401
    datamap,  # noqa: F401
    disagreements,  # noqa: F401
    label,  # noqa: F401
    review,  # noqa: F401
    settings,  # noqa: F401
    signin,  # noqa: F401
    wizard,  # noqa: F401
)
