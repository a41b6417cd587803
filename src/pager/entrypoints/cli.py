"""pagerd: run, configure and drive Pager."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.migrate import migrate as run_migrations
from pager.config import Settings

app = typer.Typer(
    name="pagerd",
    help="Pager: on-call alert escalation. Pages the people on a service's escalation policy, "
    "level by level, until someone acknowledges or the service is healthy again.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Pager: on-call alert escalation."""


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"pagerd: {message}", err=True)
    return typer.Exit(code)


@app.command()
def migrate(
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", envvar="PAGER_DATABASE_URL", help="Database to migrate."),
    ] = None,
) -> None:
    """Create or upgrade the database schema (SQLite or PostgreSQL)."""
    url = database_url or Settings().database_url
    try:
        engine = create_engine(url)
        before, after = run_migrations(engine)
    except Exception as error:  # a bad URL or an unreachable database: one line, no traceback
        raise fail(f"cannot migrate the database: {error}") from None
    if before == after:
        typer.echo(f"database is up to date (revision {after})")
    else:
        typer.echo(f"database migrated from {before or 'empty'} to revision {after}")


HostOption = Annotated[str, typer.Option("--host", help="Address to listen on.")]
PortOption = Annotated[int, typer.Option("--port", help="Port to listen on.")]


@app.command()
def api(host: HostOption = "127.0.0.1", port: PortOption = 8080) -> None:
    """Run the HTTP API and console only (no worker): for scaling out on PostgreSQL."""
    import uvicorn

    from pager.bootstrap import bootstrap
    from pager.entrypoints.http.app import create_app

    container = bootstrap(run_migrations=True)
    uvicorn.run(create_app(container), host=host, port=port, log_level="info")


def main() -> None:
    sys.exit(app())
