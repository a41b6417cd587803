"""`pagerd apply` and `pagerd export`: escalation policies, services, users and schedules as
code, on the database directly (PAGER_DATABASE_URL)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import Engine, make_url

from pager.adapters.clock import SystemClock
from pager.adapters.storage.migrate import current_revision, head_revision
from pager.application import config_as_code as cac
from pager.application.accounts import Accounts
from pager.application.heartbeats import Heartbeats
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.errors import DomainError, ValidationFailed
from pager.entrypoints import config_file
from pager.entrypoints.cli_common import fail, fail_with, one_line

commands = typer.Typer()

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="PAGER_DATABASE_URL",
        help="The database (default sqlite:///./pager.db).",
        show_default=False,
    ),
]


@commands.command("apply")
def apply(
    file: Annotated[
        str,
        typer.Option("--file", "-f", help="The YAML file to apply; - reads standard input."),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Also delete the escalation policies, services, users and schedules that the "
            "file does not list, in the sections it has (a section it leaves out is not "
            "touched). Deleting a service resolves its open incident. The last admin is never "
            "removed, nor any schedule override.",
        ),
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Create or update escalation policies, services, users and schedules from a YAML file.

    Applying the same file again changes nothing ("no changes"). Without --prune nothing is
    ever deleted: what the database has and the file does not is kept and listed.
    Passwords come from environment variables named by `password_env`, never from the
    file; a user without one keeps the password they have. A file with any mistake is
    refused whole, before anything is written, with every mistake named by its place.
    Works on the database directly and brings its schema up to date first (not with
    --dry-run). `pagerd export` writes such a file; examples/pager.yaml is an example.
    """
    config = _load(file)
    with _database(database_url, migrate=not dry_run) as app:
        accounts = None if app is None else app.accounts
        current = _current(app, accounts)
        allow_private = (app.settings if app else Settings()).allow_private_targets
        try:
            cac.check(config, current, prune, allow_private=allow_private)
        except ValidationFailed as invalid:
            raise _invalid(file, invalid) from None
        now = (app.clock if app else SystemClock()).now()
        plan = cac.plan(
            config, current, prune, _password_check(accounts), now, _key_check(accounts)
        )
        if dry_run or app is None or accounts is None:
            for change in plan.changes:
                typer.echo(change.describe())
        else:
            _apply(plan, config, app, accounts)
    _summarize(plan, dry_run)


@commands.command("export")
def export(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output."),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Write the escalation policies, services (with their maintenance windows in force or
    to come), users and schedules as YAML that `pagerd apply` accepts and that changes
    nothing.

    Users are written without passwords (only their hashes are stored). Webhook secrets
    and Slack URLs are written as stored: keep the file private, or move them to
    environment variables (secret_env, url_env) before committing it.
    """
    with _database(database_url, migrate=False) as app:
        if app is None:
            raise fail(f"there is no Pager database at {_shown(database_url)} yet")
        text = config_file.dump(cac.current_config(app.queries, app.accounts, app.schedules))
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise fail(f"cannot write {output}: {error.strerror or error}") from None
    typer.echo(f"wrote {output}", err=True)


def _load(file: str) -> cac.Config:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as error:
        raise fail(f"cannot read {file}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise fail(f"cannot read {file}: it is not UTF-8 text") from None
    try:
        return config_file.load(text, os.environ)
    except ValidationFailed as invalid:
        raise _invalid(file, invalid) from None


def _invalid(file: str, invalid: ValidationFailed) -> typer.Exit:
    name = "standard input" if file == "-" else file
    return fail_with(f"{name} is invalid; nothing was applied:", invalid.problems)


@contextmanager
def _database(database_url: str | None, *, migrate: bool) -> Iterator[App | None]:
    """The application on the database, migrated first if `migrate`. Without `migrate`:
    None if there is no Pager database yet, which is left as it was (not even created)."""
    try:
        settings = Settings(database_url=database_url) if database_url else Settings()
    except Exception as error:  # a malformed PAGER_* variable
        raise fail(f"invalid settings: {one_line(error)}") from None
    if not migrate and _missing_sqlite_file(settings.database_url):
        yield None
        return
    try:
        app = bootstrap(settings, run_migrations=migrate)
    except Exception as error:  # a bad URL or an unreachable database: one line
        raise fail(f"cannot open the database: {one_line(error)}") from None
    try:
        yield app if migrate or _has_schema(app.engine) else None
    finally:
        app.engine.dispose()


def _shown(database_url: str | None) -> str:
    """The URL without its password."""
    url = database_url or Settings().database_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the database URL"


def _missing_sqlite_file(url: str) -> bool:
    try:
        parsed = make_url(url)
    except Exception:  # let create_engine say what is wrong with it
        return False
    database = parsed.database or ""
    return (
        parsed.drivername.startswith("sqlite")
        and database not in ("", ":memory:")
        and not Path(database).exists()
    )


def _has_schema(engine: Engine) -> bool:
    """Whether the database has Pager's tables; fails if they are not the newest ones."""
    try:
        revision = current_revision(engine)
    except Exception as error:
        raise fail(f"cannot open the database: {one_line(error)}") from None
    head = head_revision()
    if revision is not None and revision != head:
        raise fail(f"the database schema is at {revision}, not {head}: run `pagerd migrate`")
    return revision is not None


def _current(app: App | None, accounts: Accounts | None) -> cac.Config:
    if app is None or accounts is None:
        return cac.Config((), (), (), (), ())  # no database yet
    return cac.current_config(app.queries, accounts, app.schedules)


def _password_check(accounts: Accounts | None) -> Callable[[str, str], bool]:
    if accounts is None:
        return lambda email, password: False
    return lambda email, password: accounts.check_password(email, password) is not None


def _key_check(accounts: Accounts | None) -> Callable[[str, str], bool]:
    if accounts is None:
        return lambda service_id, key: False
    return lambda service_id, key: accounts.service_for_key(key) == service_id


def _apply(plan: cac.Plan, config: cac.Config, app: App, accounts: Accounts) -> None:
    applied: list[cac.Change] = []

    def done(change: cac.Change) -> None:
        applied.append(change)
        typer.echo(change.describe())

    def key(service_id: str, key: str) -> None:
        typer.echo(f"  integration key of {service_id} (shown once, only its hash is kept): {key}")

    try:
        heartbeats = Heartbeats(app.handlers, app.queries)
        cac.apply(
            plan,
            config,
            app.handlers,
            accounts,
            done,
            key,
            schedules=app.schedules,
            heartbeats=heartbeats,
        )
    except Exception as error:  # a conflict or a lost database: what was done, in one line
        failed = plan.changes[len(applied)]
        message = error.message if isinstance(error, DomainError) else one_line(error)
        raise fail(
            f"stopped at `{failed.describe()}`: {message}; "
            f"{len(applied)} change(s) above were applied"
        ) from None


def _summarize(plan: cac.Plan, dry_run: bool) -> None:
    if plan.kept:
        kept = ", ".join(f"{kind} {id_}" for kind, id_ in plan.kept)
        typer.echo(f"not in the file, kept (--prune would delete them): {kept}")
    created, updated, deleted = (plan.count(a) for a in ("create", "update", "delete"))
    if not plan.changes:
        typer.echo("no changes")
    elif dry_run:
        typer.echo(
            f"dry run: {created} to create, {updated} to update, {deleted} to delete; "
            "nothing was written"
        )
    else:
        typer.echo(f"applied: {created} created, {updated} updated, {deleted} deleted")
