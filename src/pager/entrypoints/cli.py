"""pagerd: run, configure and drive Pager."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.migrate import migrate as run_migrations
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.entrypoints.cli_common import fail, one_line
from pager.entrypoints.logs import SafeFormatter
from pager.entrypoints.worker import Worker, build_worker

if TYPE_CHECKING:
    from fastapi import FastAPI

app = typer.Typer(
    name="pagerd",
    help="Pager: on-call alert escalation. Pages the people on a service's escalation policy, "
    "level by level, until someone acknowledges or the service is healthy again.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # joins the lines of a docstring's paragraphs in --help
)


@app.callback()
def _root() -> None:
    """Pager: on-call alert escalation."""


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
        raise fail(f"cannot migrate the database: {one_line(error)}") from None
    if before == after:
        typer.echo(f"database is up to date (revision {after})")
    else:
        typer.echo(f"database migrated from {before or 'empty'} to revision {after}")


HostOption = Annotated[str, typer.Option("--host", help="Address to listen on.")]
PortOption = Annotated[int, typer.Option("--port", help="Port to listen on.")]
TlsCertOption = Annotated[
    Path | None,
    typer.Option(
        "--tls-cert",
        envvar="PAGER_TLS_CERT",
        help="Serve HTTPS with this certificate (PEM, the chain after it); needs --tls-key.",
    ),
]
TlsKeyOption = Annotated[
    Path | None,
    typer.Option("--tls-key", envvar="PAGER_TLS_KEY", help="The certificate's private key (PEM)."),
]


@dataclass(frozen=True, slots=True)
class Listen:
    """Where `pagerd serve` or `pagerd api` listens, and how."""

    host: str
    port: int
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def checked(cls, host: str, port: int, cert: Path | None, key: Path | None) -> Listen:
        if (cert is None) != (key is None):
            raise fail("--tls-cert and --tls-key go together (or PAGER_TLS_CERT and PAGER_TLS_KEY)")
        for path in (cert, key):
            if path is not None and not path.is_file():
                raise fail(f"no such file: {path}")
        return cls(host, port, cert, key)

    @property
    def url(self) -> str:
        """This address as people reach it: a wildcard address is this machine's name."""
        scheme = "https" if self.cert else "http"
        host = socket.getfqdn() if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    def run(self, api: FastAPI) -> None:
        import uvicorn

        uvicorn.run(
            api,
            host=self.host,
            port=self.port,
            log_config=None,
            ssl_certfile=str(self.cert) if self.cert else None,
            ssl_keyfile=str(self.key) if self.key else None,
        )


def configure_logging() -> None:
    # On the root handler, so that uvicorn's loggers (run with log_config=None) use it too.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=Settings().log_level.upper(), handlers=[handler])
    logging.getLogger("alembic").setLevel(logging.WARNING)


YOUNG_COLLECTION_THRESHOLD = 50_000
"""Net new objects between collections of the youngest generation (CPython's default: 700)."""


def settle_heap() -> None:
    """Move everything start-up built (modules, the app, caches) out of the garbage
    collector's sight: a full collection walks every tracked object, and with start-up's
    among them it stalled the event loop under load. Then collect the young less often: a
    webhook's alerts are thousands of objects alive at once, and at 700 they were walked,
    promoted and walked again before they died (docs/benchmarks.md, "the garbage
    collector"). Called last, just before serving."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)


def _start(listen: Listen | None = None) -> App:
    """The container, migrated; for a process that listens, links point at where it
    listens unless PAGER_PUBLIC_URL says otherwise."""
    configure_logging()
    try:
        settings = Settings()
        if settings.public_url is None and listen is not None:
            settings = settings.model_copy(update={"public_url": listen.url})
        elif settings.public_url is None:
            logging.getLogger("pager").warning(
                "PAGER_PUBLIC_URL is not set: links in pages point at %s", settings.links_url
            )
        return bootstrap(settings, run_migrations=True)
    except Exception as error:  # unreachable database, bad URL, bad settings
        raise fail(f"cannot start: {one_line(error)}") from None


@app.command()
def api(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
) -> None:
    """Run the HTTP API and console only (no worker): for scaling out on PostgreSQL."""
    from pager.entrypoints.http.app import create_app

    listen = Listen.checked(host, port, tls_cert, tls_key)
    container = _start(listen)
    api = create_app(container)
    settle_heap()
    listen.run(api)


@app.command()
def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
) -> None:
    """Run everything in one process: HTTP API, web console and worker. Migrates the database
    on start (the embedded SQLite file by default); on a first start with no users it
    creates an admin and prints how to log in. Ctrl-C or SIGTERM stops it cleanly. Links
    in pages point at the address it listens on unless PAGER_PUBLIC_URL is set."""
    from pager.entrypoints.http.app import create_app

    listen = Listen.checked(host, port, tls_cert, tls_key)
    container = _start(listen)
    try:
        background = build_worker(container)
    except ValueError as error:  # a bad PAGER_SMTP_URL, say
        raise fail(str(error)) from None
    api = create_app(container)
    run_alongside(api, background)
    url = listen.url
    first = container.accounts.ensure_first_admin()
    typer.echo(f"Pager is running at {url}/ (API docs: {url}/docs)", err=True)
    if first is not None:
        email, password = first
        typer.echo(
            f"First start: created the admin {email} with password {password}\n"
            f"Log in at {url}/login and change it; this is the only time it is shown.",
            err=True,
        )
    settle_heap()
    listen.run(api)


def run_alongside(api: FastAPI, background: Worker) -> None:
    """Run the worker inside the API's event loop, from start-up to shutdown."""
    inner = api.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            task = asyncio.create_task(background.run())
            try:
                yield state
            finally:
                background.stop()
                await task

    api.router.lifespan_context = lifespan


@app.command()
def worker() -> None:
    """Run the background worker only: ack timers and notification delivery. Any number can
    run on one PostgreSQL database; use one per SQLite database. Stops cleanly on SIGTERM."""
    container = _start()
    try:
        background = build_worker(container)
    except ValueError as error:  # a bad PAGER_SMTP_URL, say
        raise fail(str(error)) from None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, background.stop)
        await background.run()

    settle_heap()
    asyncio.run(main())


from pager.entrypoints.cli_admin import (  # noqa: E402 - after `app`
    service_app,
    token_app,
    user_app,
)

app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(service_app, name="service")

from pager.entrypoints import (  # noqa: E402 - after `app`
    cli_client,
    cli_config,
    cli_demo,
    cli_import,
)

app.add_typer(cli_config.commands)  # apply, export
app.add_typer(cli_demo.commands)  # demo
app.add_typer(cli_client.commands)  # alert, ack, unack, escalate, snooze, reassign, note, ...
app.add_typer(cli_import.commands, name="import")  # import opsgenie, import grafana-oncall


def main() -> None:
    sys.exit(app())
