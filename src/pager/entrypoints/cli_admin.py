"""Admin commands that work on the database directly (PAGER_DATABASE_URL), so that a script
can bootstrap a fresh install: `pagerd user add`, `pagerd token create`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.engine import Engine

from pager.application.accounts import Accounts
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.errors import DomainError

user_app = typer.Typer(help="Manage users (on the database directly).", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens (on the database directly).", no_args_is_help=True)
service_app = typer.Typer(
    help="Services' integration keys (on the database directly).", no_args_is_help=True
)

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", envvar="PAGER_DATABASE_URL", help="The database."),
]


def accounts_for(engine: Engine) -> Accounts:
    return bootstrap(Settings(), engine=engine).accounts


def ensure_first_admin(engine: Engine) -> tuple[str, str] | None:
    """With no users at all, create an admin (`admin@localhost`) with a random password and
    return (email, password) for the caller to show once; otherwise None."""
    return accounts_for(engine).ensure_first_admin()


@contextmanager
def _accounts(database_url: str | None) -> Iterator[Accounts]:
    with _app(database_url) as app:
        yield app.accounts


@contextmanager
def _app(database_url: str | None) -> Iterator[App]:
    """The database's container, its connections closed when the command is done."""
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    try:
        # Migrating is idempotent, and lets `user add` be the first command on a new database.
        app = bootstrap(settings, run_migrations=True)
    except Exception as error:  # a bad URL or an unreachable database: one line
        text = str(getattr(error, "orig", None) or error).strip().splitlines()
        typer.echo(f"pagerd: cannot open the database: {text[0] if text else error}", err=True)
        raise typer.Exit(1) from None
    try:
        yield app
    finally:
        app.engine.dispose()


def _fail(error: DomainError) -> typer.Exit:
    typer.echo(f"pagerd: {error.message}", err=True)
    return typer.Exit(1)


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Argument(help="The user's email address (their login).")],
    role: Annotated[str, typer.Option("--role", help="admin or responder.")] = "responder",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read a console password from standard input."),
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Add a user. Give them an API token with `pagerd token create`."""
    password = None
    if password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    with _accounts(database_url) as accounts:
        try:
            user = accounts.add_user(email, role, password)
        except DomainError as error:
            raise _fail(error) from None
    typer.echo(f"added {user.role} {user.email}")


@user_app.command("list")
def user_list(database_url: DatabaseOption = None) -> None:
    """Every user and their role."""
    with _accounts(database_url) as accounts:
        for user in accounts.users():
            typer.echo(f"{user.email}\t{user.role}")


@user_app.command("remove")
def user_remove(
    email: Annotated[str, typer.Argument(help="The user's email address.")],
    database_url: DatabaseOption = None,
) -> None:
    """Remove a user and their API tokens."""
    with _accounts(database_url) as accounts:
        try:
            accounts.delete_user(email)
        except DomainError as error:
            raise _fail(error) from None
    typer.echo(f"removed {email}")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="The email of the token's user.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Print a new API token, alone on standard output. It is shown only this once: only
    its hash is stored."""
    with _accounts(database_url) as accounts:
        try:
            token = accounts.create_token(user, name)
        except DomainError as error:
            raise _fail(error) from None
    typer.echo(token)


@service_app.command("key")
def service_key(
    service: Annotated[str, typer.Argument(help="The service's id.")],
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate",
            help="Make a new key and print it alone on standard output, once; the old one "
            "stops working at once.",
        ),
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Show which integration key a service has (its last characters and age), or rotate it.
    Only the key's hash is stored, so a key is shown only when it is made."""
    with _app(database_url) as app:
        if app.queries.service(service) is None:
            typer.echo(f"pagerd: service {service!r} does not exist", err=True)
            raise typer.Exit(1)
        if rotate:
            typer.echo(app.accounts.rotate_integration_key(service).key)
            return
        info = app.accounts.integration_key(service)
    if info is None:
        typer.echo(f"{service} has no integration key yet: `pagerd service key {service} --rotate`")
        return
    made = info.created_at.strftime("%Y-%m-%d %H:%M UTC")
    typer.echo(f"{service}: integration key …{info.hint}, made {made}")
