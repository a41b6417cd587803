"""Engines for the two supported databases, configured for Pager's write pattern."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from pager.adapters.storage.prepared import driver_errors

WRITE = {"pager_write": True}
"""Execution options for a connection that will write: on SQLite it takes the write lock at
BEGIN (BEGIN IMMEDIATE), so two writers queue instead of failing to upgrade a read lock."""


WAL_CHECKPOINT_PAGES = 4000
"""SQLite copies its write-ahead log back into the database file once it holds this many
pages (see `_on_connect`)."""

_write_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def write_lock(engine: Engine) -> AbstractContextManager[object]:
    """SQLite has one writer at a time. Writers of one process queue on this lock instead of
    on SQLite's busy handler, which sleeps up to 100 ms between tries; writers of other
    processes still meet the busy timeout. PostgreSQL needs nothing of the kind."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    return _write_locks.setdefault(engine, threading.Lock())


@contextmanager
def write_transaction(engine: Engine) -> Iterator[sa.Connection]:
    """A connection in a write transaction, committed when the block ends without error."""
    with write_lock(engine), engine.connect().execution_options(**WRITE) as conn, conn.begin():
        yield conn


OUTAGES: tuple[type[Exception], ...] = (sa.exc.DBAPIError, sa.exc.TimeoutError)
"""The kinds of error that a database outage raises (and, for DBAPIError, other failures)."""


_SQLITE_MISTAKES = ("no such ", "near ", "table ", "incomplete input", "unrecognized token")


def outage(error: BaseException) -> str | None:
    """If `error` says the database cannot be reached or used now (down, restarting, out of
    connections, locked past the busy timeout, disk full) rather than that a statement is
    wrong: what happened, in one line fit for a log (no SQL, no parameters)."""
    unavailable = isinstance(
        error, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError
    ) or (isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated)
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    # SQLite raises OperationalError for a wrong statement as well as for a locked file.
    if not unavailable or (lines and lines[0].startswith(_SQLITE_MISTAKES)):
        return None
    return f"database unavailable: {type(cause).__name__}: {lines[0] if lines else ''}".rstrip()


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if is_sqlite(url):
        return _sqlite_engine(url, **kwargs)
    if url.startswith("postgresql+psycopg://"):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(url, **kwargs)
    raise ValueError(f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite or postgresql")


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 60})
    kwargs.setdefault("pool_size", 8)
    kwargs.setdefault("max_overflow", 56)
    kwargs.setdefault("pool_timeout", 60)
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how a transaction starts (see WRITE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # The WAL is copied back into the database every 4,000 pages (16 MiB with 4 KiB
        # pages) rather than SQLite's 1,000: an alert storm rewrites the same hot pages
        # (its services' snapshots and incidents) over and over, and each checkpoint copies
        # them once (docs/benchmarks.md has what it saved).
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("pager_write", False)
        sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        # Straight to the driver (its errors raised as SQLAlchemy's): Core's execution of a
        # statement costs more than the BEGIN itself, and every group commit begins one.
        with driver_errors(conn, sql, ()):
            conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]

    return engine
