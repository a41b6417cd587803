"""Statements of the write path, compiled once and run through the driver's own cursor.

SQLAlchemy Core executes a statement by computing its cache key, setting up an execution
context and building every row's parameters through several layers; for the group commit
of an alert storm that bookkeeping cost more than the database's work. A `Prepared`
statement keeps what matters from Core (the table definitions, the SQL each dialect needs,
each column type's conversion of its values) and does the rest once: the SQL is compiled
once per dialect, the conversions are looked up once, and each call is one `executemany`
on the connection's cursor, inside the connection's transaction. Driver errors are raised
as SQLAlchemy's (IntegrityError and so on), as Core would raise them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Processor, ...]
    defaults: tuple[Any, ...]
    positional: bool


class Prepared:
    """`statement` (an INSERT, UPDATE or DELETE) ready to run with many rows at once.

    Rows are mappings from bind names (an INSERT's column names) to Python values, as they
    would be given to `Connection.execute`; a bind a row leaves out takes the statement's
    own value (a literal in a WHERE clause, say). An INSERT sets the columns of the first
    row's keys, as with `Connection.execute`. Columns named in `json_text` are given as
    JSON text already encoded (pydantic encodes faster than `json.dumps` of its output)."""

    def __init__(self, statement: ClauseElement, json_text: Iterable[str] = ()) -> None:
        self._statement = statement
        self._insert = isinstance(statement, sa.Insert)
        self._json_text = frozenset(json_text)
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def executemany(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        dialect = conn.dialect
        columns = tuple(rows[0]) if self._insert else ()
        compiled = self._compiled.get((dialect.name, columns)) or self._compile(dialect, columns)
        names, processors, defaults = compiled.names, compiled.processors, compiled.defaults
        triples = tuple(zip(names, processors, defaults, strict=True))
        params: list[Any] = []
        for row in rows:
            values = [
                row.get(name, default) if process is None else process(row.get(name, default))
                for name, process, default in triples
            ]
            params.append(values if compiled.positional else dict(zip(names, values, strict=True)))
        cursor = conn.connection.cursor()
        try:
            with driver_errors(conn, compiled.sql, params):
                cursor.executemany(compiled.sql, params)
        finally:
            cursor.close()

    def _compile(self, dialect: Dialect, columns: tuple[str, ...]) -> _Compiled:
        keys = list(columns) if self._insert else None
        compiled = self._statement.compile(dialect=dialect, column_keys=keys)
        assert isinstance(compiled, SQLCompiler)
        sql = compiled.string
        # An INSERT compiled for PostgreSQL asks for the new primary key back; nobody reads it.
        returning = sql.find(" RETURNING ")
        if returning >= 0:
            sql = sql[:returning]
        if compiled.positional:
            names = tuple(compiled.positiontup or ())
        else:
            names = tuple(dict.fromkeys(compiled.bind_names.values()))
        processors: list[Processor] = []
        defaults: list[Any] = []
        for name in names:
            bind = compiled.binds[name]
            if name in self._json_text:
                # Stored as given: SQLite keeps JSON as text, and PostgreSQL's parameter is
                # cast from text (`::JSONB` in the SQL).
                processors.append(None)
            else:
                processors.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
            defaults.append(bind.effective_value)
        result = _Compiled(sql, names, tuple(processors), tuple(defaults), compiled.positional)
        self._compiled[dialect.name, columns] = result
        return result


def query(
    conn: sa.Connection, sql: str, params: Sequence[Any] | Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """The rows of one SELECT in the driver's own SQL and parameter style, as it returns
    them (no result processing: JSON comes back as text from SQLite, decoded from
    PostgreSQL)."""
    cursor = conn.connection.cursor()
    try:
        with driver_errors(conn, sql, params):
            cursor.execute(sql, params)
            rows: list[tuple[Any, ...]] = list(cursor.fetchall())
    finally:
        cursor.close()
    return rows


@contextmanager
def pipelined(conn: sa.Connection) -> Iterator[None]:
    """On PostgreSQL, the statements run in the block are sent together and their answers
    awaited once at the end (psycopg's pipeline mode), instead of one round trip each; a
    driver error, raised there, is raised as SQLAlchemy's. Elsewhere, nothing changes."""
    if conn.dialect.name != "postgresql":
        yield
        return
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver_errors(conn, None, None), driver.pipeline():
        yield


@contextmanager
def driver_errors(conn: sa.Connection, sql: str | None, params: Any) -> Iterator[None]:
    """The driver's errors raised as SQLAlchemy's (IntegrityError and so on), as Core raises
    them for the statements it runs itself."""
    base = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except base as error:
        raise sa.exc.DBAPIError.instance(sql, params, error, base, dialect=conn.dialect) from error
