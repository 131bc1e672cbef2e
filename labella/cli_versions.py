"""``labella versions PROJECT`` and ``labella freeze PROJECT NAME``: dataset versions.

Like the other server-side commands they act on a data directory as its first site admin.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from labella.cli_server import (
    DatabaseUrl,
    DataDir,
    _context,
    _fail,
    _operator,
    _project_id,
    _settings,
)
from labella.errors import LabellaError

Project = Annotated[str, typer.Argument(help="Project name or id.")]


def versions_cmd(project: Project, data_dir: DataDir = None,
                 database_url: DatabaseUrl = None) -> None:
    """List a project's dataset versions with their label counts."""
    from labella.service import versions

    ctx = _context(_settings(data_dir, database_url))
    try:
        admin = _operator(ctx)
        rows = versions.list_versions(ctx, admin, _project_id(ctx, admin, project))
        table = Table(title="Dataset versions")
        for col in ("name", "labels", "per label", "model", "frozen at", "by"):
            table.add_column(col)
        for v in rows:
            per = ", ".join(f"{k} {n}" for k, n in sorted(v.label_counts.items()))
            table.add_row(v.name, str(v.n_labels), per,
                          "-" if v.model_version is None else f"v{v.model_version}",
                          f"{v.created_at:%Y-%m-%d %H:%M}", v.created_by or "")
        Console().print(table)
    except LabellaError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.close()


def freeze_cmd(project: Project,
               name: Annotated[str, typer.Argument(help="The new version's name.")],
               note: Annotated[str, typer.Option(help="A note to keep with it.")] = "",
               data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Freeze a dataset version: every labelled item's current label and the model version."""
    from labella.service import versions

    ctx = _context(_settings(data_dir, database_url))
    try:
        admin = _operator(ctx)
        v = versions.freeze(ctx, admin, _project_id(ctx, admin, project), name, note=note)
        typer.echo(f"froze {v.name!r}: {v.n_labels} labels"
                   + (f", model v{v.model_version}" if v.model_version is not None else ""))
    except LabellaError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.close()


def register(app: typer.Typer) -> None:
    app.command("versions")(versions_cmd)
    app.command("freeze")(freeze_cmd)
