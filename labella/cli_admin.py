"""``labella user list|disable|enable|link|password`` and ``labella project list|delete``.

Like the other server-side commands they act on a data directory as its first site admin
(whoever can run them can read the data directory anyway).
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

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

console = Console(stderr=True)
project_app = typer.Typer(help="Manage projects.", no_args_is_help=True)

BaseUrl = Annotated[str, typer.Option(help="The server's address, to print whole links.")]


def _user_id(ctx: Any, username: str) -> int:
    from labella.service import auth

    with ctx.session() as s:
        return auth.get_user(s, username=username).id


def user_list_cmd(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the users: name, site admin, disabled, whether they have a password."""
    from labella.service import accounts

    ctx = _context(_settings(data_dir, database_url))
    try:
        admin = _operator(ctx)
        with ctx.session() as s:
            rows = accounts.list_accounts(s, admin)
        table = Table(title="Users")
        for col in ("id", "username", "site admin", "disabled", "password", "projects"):
            table.add_column(col)
        for a in rows:
            table.add_row(str(a.id), a.username, "yes" if a.is_admin else "",
                          "disabled" if a.disabled else "", "set" if a.has_password else "none",
                          str(a.n_projects))
        Console().print(table)
    except LabellaError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.close()


def _set_disabled(username: str, disabled: bool, data_dir: Any, database_url: Any) -> None:
    from labella.service import auth

    ctx = _context(_settings(data_dir, database_url))
    try:
        admin = _operator(ctx)
        uid = _user_id(ctx, username)
        with ctx.session() as s:
            auth.update_user(s, admin, uid, disabled=disabled)
        typer.echo(f"{username!r} is {'disabled' if disabled else 'enabled'}")
    except LabellaError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.close()


def user_disable_cmd(username: Annotated[str, typer.Argument(help="Who.")],
                     data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Disable a user: their sign-ins, sessions and API tokens stop working at once."""
    _set_disabled(username, True, data_dir, database_url)


def user_enable_cmd(username: Annotated[str, typer.Argument(help="Who.")],
                    data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Enable a disabled user again."""
    _set_disabled(username, False, data_dir, database_url)


def user_link_cmd(username: Annotated[str, typer.Argument(help="Who.")],
                  base_url: BaseUrl = "http://127.0.0.1:8000",
                  data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Print a one-time login link for a user (valid 24 hours); they set a password on
    /account after signing in with it."""
    from labella.service import accounts

    ctx = _context(_settings(data_dir, database_url))
    try:
        admin = _operator(ctx)
        uid = _user_id(ctx, username)
        with ctx.session() as s:
            token = accounts.login_link(s, admin, uid)
        console.print(f"one-time login link for {username!r} (valid 24 hours):")
        typer.echo(base_url.rstrip("/") + accounts.login_path(token))
    except LabellaError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.close()


def user_password_cmd(username: Annotated[str, typer.Argument(help="Who.")],
                      password: Annotated[str | None, typer.Option(
                          help="The new password (prompted for if omitted).")] = None,
                      data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Set a user's password (signs them out of every browser)."""
    from labella.service import accounts, auth

    if password is None:
        password = getpass.getpass(f"new password for {username}: ")
    ctx = _context(_settings(data_dir, database_url))
    try:
        uid = _user_id(ctx, username)
        with ctx.session() as s:
            auth.set_password(s, uid, accounts.check_password(password))
        typer.echo(f"password of {username!r} set")
    except LabellaError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.close()


@project_app.command("list")
def project_list_cmd(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the projects with their item and label counts."""
    from labella.service import projects

    ctx = _context(_settings(data_dir, database_url))
    try:
        admin = _operator(ctx)
        with ctx.session() as s:
            rows = projects.list_projects(s, admin)
        table = Table(title="Projects")
        for col in ("id", "name", "task", "items", "labelled"):
            table.add_column(col)
        for p in rows:
            table.add_row(str(p.id), p.name, f"{p.task}{' multi' if p.multi_label else ''}",
                          str(p.n_items), str(p.n_labeled))
        Console().print(table)
    finally:
        ctx.close()


@project_app.command("delete")
def project_delete_cmd(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    confirm: Annotated[str | None, typer.Option(
        help="The project's exact name, to confirm (prompted for if omitted).")] = None,
    data_dir: DataDir = None, database_url: DatabaseUrl = None,
) -> None:
    """Delete a project: items, labels, models, jobs, and the image blobs and cached
    embeddings no other project uses. Asks for the project's name to confirm."""
    from labella.service.removal import delete_project

    ctx = _context(_settings(data_dir, database_url))
    try:
        admin = _operator(ctx)
        pid = _project_id(ctx, admin, project)
        if confirm is None:
            confirm = typer.prompt("type the project's name to delete it")
        gone = delete_project(ctx, admin, pid, confirm=confirm)
        typer.echo(f"deleted project {gone.name!r}: {gone.items} items, {gone.blobs} image "
                   f"blobs, {gone.embeddings} cached embeddings")
    except LabellaError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.close()


def register(app: typer.Typer, user_app: typer.Typer) -> None:
    for name, fn in (("list", user_list_cmd), ("disable", user_disable_cmd),
                     ("enable", user_enable_cmd), ("link", user_link_cmd),
                     ("password", user_password_cmd)):
        user_app.command(name)(fn)
    app.add_typer(project_app, name="project")
