"""Server-side commands of ``labella``: serve, import, export, user, token.

They act on a data directory (``--data-dir``, default ``$LABELLA_DATA_DIR`` or
``~/.labella``) through the service layer, as the local operator: whoever can
run them can read the data directory anyway, so they act as its first site
admin.
"""

from __future__ import annotations

import getpass
import secrets
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from labella.config import Settings
from labella.errors import LabellaError

console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Data directory (default: $LABELLA_DATA_DIR or ~/.labella).")]
DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", help="SQLAlchemy URL, e.g. postgresql://user@host/db (default: SQLite "
                           "in the data directory; or $LABELLA_DATABASE_URL).")]

user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)


def _settings(data_dir: Path | None, database_url: str | None = None, **kw: Any) -> Settings:
    return Settings.from_env(data_dir, database_url=database_url, **kw)


def _context(settings: Settings) -> Any:
    from labella.service.context import ServiceContext

    return ServiceContext(settings)


def _operator(ctx: Any) -> Any:
    """The user the CLI acts as: the first site admin (created if there is none)."""
    from sqlalchemy import select

    from labella.service import auth
    from labella.store.users import User

    with ctx.session() as s:
        uid = s.scalar(select(User.id).where(User.is_admin.is_(True)).order_by(User.id).limit(1))
        if uid is None:
            return auth.create_user(s, "admin", is_admin=True)
        return auth.get_user(s, user_id=uid)


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/] {exc}")
    return typer.Exit(2)


def _follow(ctx: Any, job: Any, *, title: str) -> Any:
    """Show a job's progress until it ends (and the featurisation an import starts)."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.fields[msg]}"), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task(title, total=None, msg="")
        while True:
            info = ctx.jobs.get(job.id)
            bar.update(task, total=info.total, completed=info.done, msg=(info.message or "")[:60])
            if info.terminal:
                break
            time.sleep(0.2)
    if info.status != "succeeded":
        raise _fail(LabellaError(f"{info.kind} job {info.id} {info.status}: {info.error}"))
    if info.kind == "import" and (info.result or {}).get("added"):
        nxt = [j for j in ctx.jobs.list(project_id=info.project_id, kinds=["featurise"])
               if j.id > info.id]
        if nxt:
            _follow(ctx, nxt[-1], title="featurising")
    return info


def _find_project(ctx: Any, user: Any, project: str) -> int | None:
    """The id of the project named (or numbered) ``project``, or ``None``."""
    from labella.service import projects

    with ctx.session() as s:
        for p in projects.list_projects(s, user):
            if str(p.id) == project or p.name == project:
                return p.id
    return None


def _project_id(ctx: Any, user: Any, project: str) -> int:
    pid = _find_project(ctx, user, project)
    if pid is None:
        raise _fail(LabellaError(f"no project {project!r}"))
    return pid


def serve_cmd(
    demo: Annotated[bool, typer.Option(help="Create a demo project (scikit-learn digits) if "
                                            "there is none.")] = False,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    workers: Annotated[int, typer.Option(help="Job worker threads in this process (0: none).")] = 1,
) -> None:
    """Start the Labella server (web app, REST API at /api, docs at /docs, job worker)."""
    import uvicorn

    from labella.app import create_app
    from labella.service import auth

    settings = _settings(data_dir, database_url, worker=workers > 0,
                         worker_threads=max(workers, 1))
    try:
        ctx = _context(settings)
    except LabellaError as exc:
        raise _fail(exc) from exc
    with ctx.session() as s:
        fresh = auth.count_users(s) == 0
    admin = _operator(ctx)
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    if fresh:
        with ctx.session() as s:
            token = auth.create_login_link(s, admin.id)
        console.print(f"Created the admin user {admin.username!r} in {settings.data_dir}.")
        console.print("Open this one-time link to sign in (then set a password):")
        typer.echo(f"    {base}/login?token={token}")
    if demo:
        _ensure_demo(ctx, admin)
    console.print(f"Labella on {base}  (API docs: {base}/docs; data: {settings.data_dir})")
    app = create_app(settings, ctx=ctx, recover_all=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        ctx.close()


def _ensure_demo(ctx: Any, admin: Any) -> None:
    from labella.service import projects
    from labella.service.importing import start_import

    name = "Digits demo"
    with ctx.session() as s:
        if any(p.name == name for p in projects.list_projects(s, admin)):
            return
        p = projects.create_project(
            s, admin, name=name, task="image", multi_label=False, labels=[str(d) for d in range(10)],
            settings={"hotkeys": {str(d): str(d) for d in range(10)}},  # key 1 labels "1"
            featuriser="pixels", description="scikit-learn's bundled 8x8 handwritten digits "
                                             "(offline demo; pixel features).")
    start_import(ctx, admin, p.id, "catalogue:digits", labels="evaluation")
    console.print(f"Demo project {name!r} created; its digits are being imported.")


def import_cmd(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    source: Annotated[str, typer.Argument(help="File, image folder, zip, s3://... or "
                                               "catalogue:<name>.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    create: Annotated[bool, typer.Option(help="Create the project if it does not exist.")] = False,
    task: Annotated[str, typer.Option(help="With --create: text or image.")] = "text",
    labels: Annotated[str | None, typer.Option(help="With --create: comma-separated label "
                                                     "names.")] = None,
    multi_label: Annotated[bool, typer.Option(help="With --create: multi-label.")] = False,
    featuriser: Annotated[str | None, typer.Option(help="With --create: the featuriser "
                                                        "(default: by task).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Text column (default: text).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column.")] = None,
    keep_labels: Annotated[str, typer.Option(
        "--keep-labels", help="Which labels in the file become annotations: all, evaluation "
                              "(only the test split's) or none.")] = "all",
) -> None:
    """Import data into a project, with a progress bar; prints the import report."""
    from labella.service import projects
    from labella.service.importing import start_import

    ctx = _context(_settings(data_dir, database_url)).start(worker=True)
    try:
        user = _operator(ctx)
        pid = _find_project(ctx, user, project)
        created = False
        if pid is None:  # looked up quietly: with --create, a missing project is no error
            if not create:
                raise _fail(LabellaError(f"no project {project!r} (pass --create to create it)"))
            if not labels:
                raise _fail(LabellaError("--create needs --labels a,b,..."))
            with ctx.session() as s:
                pid = projects.create_project(
                    s, user, name=project, task=task, multi_label=multi_label,
                    labels=[x.strip() for x in labels.split(",")], featuriser=featuriser).id
            created = True
        src = source if "://" in source or source.startswith("catalogue:") else str(
            Path(source).expanduser().resolve())
        try:
            job = start_import(ctx, user, pid, src, text_column=text_column,
                               label_column=label_column, labels=keep_labels)
            info = _follow(ctx, job, title=f"importing {Path(source).name}")
        except (LabellaError, typer.Exit):
            if created:  # never leave behind an empty project made for a failed import
                from labella.service.removal import delete_project

                delete_project(ctx, user, pid, confirm=project)
                console.print(f"the project {project!r} created for this import was deleted "
                              "again; fix the source and run the command again")
            raise
        r = info.result or {}
        repeated = r.get("repeated_in_file", 0)
        typer.echo(f"added {r.get('added', 0)}, already in the project "
                   f"{r.get('duplicates', 0) - repeated}, repeated in the file {repeated}, "
                   f"labelled {r.get('labeled', 0)}, evaluation {r.get('evaluation', 0)}, "
                   f"bad rows {r.get('n_errors', 0)}")
        for e in (r.get("errors") or [])[:20]:
            typer.echo(f"  {e['source']}: {e['message']}")
    except LabellaError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.close()


def export_cmd(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    out: Annotated[Path, typer.Argument(help="Where to write (.csv, .jsonl, .json = Label Studio, "
                                             ".zip = Hugging Face).")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv, jsonl, hf or label_studio "
                                                              "(default: from OUT's suffix).")] = None,
    include_unlabeled: Annotated[bool, typer.Option(help="Also write unlabelled items.")] = False,
    version: Annotated[str | None, typer.Option(
        help="A dataset version's name (default: the current labels).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Export a project's labels (or a dataset version's)."""
    import shutil

    from labella.service.exporting import export_labels

    suffixes = {".csv": "csv", ".jsonl": "jsonl", ".json": "label_studio", ".zip": "hf"}
    chosen = fmt or suffixes.get(out.suffix.lower())
    if chosen is None:
        raise _fail(LabellaError(f"cannot tell the format from {out.name!r}; pass --format"))
    ctx = _context(_settings(data_dir, database_url))
    try:
        user = _operator(ctx)
        path, _media = export_labels(ctx, user, _project_id(ctx, user, project), chosen,
                                     include_unlabeled=include_unlabeled, version=version)
        shutil.move(str(path), out)
        typer.echo(f"wrote {out}")
    except LabellaError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.close()


@user_app.command("create")
def user_create_cmd(
    username: Annotated[str, typer.Argument(help="The new user's name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make a site admin.")] = False,
    password: Annotated[str | None, typer.Option(help="Password (prompted for if omitted; "
                                                      "empty for none).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user."""
    from labella.service import auth

    if password is None:
        password = getpass.getpass("password (empty: none, sign in with a login link): ")
    ctx = _context(_settings(data_dir, database_url))
    try:
        with ctx.session() as s:
            u = auth.create_user(s, username, password=password or None, is_admin=admin)
        typer.echo(f"created user {u.username!r} (id {u.id}{', site admin' if u.is_admin else ''})")
    except LabellaError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.close()


@token_app.command("create")
def token_create_cmd(
    user: Annotated[str | None, typer.Option("--user", help="Whose token (default: the first "
                                                            "site admin).")] = None,
    name: Annotated[str, typer.Option(help="A name to recognise the token by.")] = "cli",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API token; the token is the last line printed (shown only once)."""
    from labella.service import auth

    ctx = _context(_settings(data_dir, database_url))
    try:
        target = _operator(ctx) if user is None else None
        with ctx.session() as s:
            if target is None:
                target = auth.get_user(s, username=user)
            tok = auth.create_token(s, target.id, name=name or f"cli-{secrets.token_hex(2)}")
        console.print(f"API token for {target.username!r} (store it now; it is not shown again):")
        typer.echo(tok.token)
    except LabellaError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.close()


def register(app: typer.Typer) -> None:
    from labella.cli_admin import register as register_admin

    register_admin(app, user_app)
    from labella.cli_versions import register as register_versions

    register_versions(app)
    app.command("serve")(serve_cmd)
    app.command("import")(import_cmd)
    app.command("export")(export_cmd)
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
