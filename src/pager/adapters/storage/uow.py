"""The unit of work on SQLAlchemy Core: one transaction for events, snapshot, read models,
outbox and timers. The same code runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import (
    Event,
    decode_policy,
    decode_policy_state,
    decode_service_state,
    encode_event,
    encode_policy_state,
    encode_service_state,
)
from pager.adapters.storage.engine import WRITE
from pager.adapters.storage.projections import project_policy_event, project_service_event
from pager.application.ports import ConcurrencyConflict, Loaded
from pager.domain.events import PolicyEvent, ServiceEvent
from pager.domain.incident import ServiceState, evolve
from pager.domain.policy import EscalationPolicy
from pager.domain.policy_stream import PolicyState, evolve_policy

WORK_CHANNEL = "pager_work"
"""PostgreSQL NOTIFY channel that wakes workers when timers or notifications are committed."""


def service_stream(service_id: str) -> str:
    return f"service:{service_id}"


def policy_stream(policy_id: str) -> str:
    return f"policy:{policy_id}"


class _Streams:
    def __init__(self, conn: sa.Connection, locking: bool) -> None:
        self._conn = conn
        self._locking = locking

    def _load_row(self, stream_id: str) -> sa.Row[Any] | None:
        query = sa.select(t.streams.c.version, t.streams.c.snapshot).where(
            t.streams.c.stream_id == stream_id
        )
        if self._locking:
            query = query.with_for_update()
        return self._conn.execute(query).first()

    def _append(
        self, stream_id: str, version: int, events: Sequence[Event], snapshot: dict[str, Any]
    ) -> None:
        now = events[0].at
        rows = []
        for offset, event in enumerate(events, start=1):
            type_name, data = encode_event(event)
            rows.append(
                {
                    "stream_id": stream_id,
                    "version": version + offset,
                    "type": type_name,
                    "data": data,
                    "recorded_at": now,
                    "incident_id": getattr(event, "incident_id", None),
                }
            )
        new_version = version + len(events)
        try:
            self._conn.execute(t.events.insert(), rows)
            if version == 0:
                self._conn.execute(
                    t.streams.insert().values(
                        stream_id=stream_id, version=new_version, snapshot=snapshot
                    )
                )
            else:
                updated = self._conn.execute(
                    t.streams.update()
                    .where(t.streams.c.stream_id == stream_id, t.streams.c.version == version)
                    .values(version=new_version, snapshot=snapshot)
                )
                if updated.rowcount != 1:
                    raise ConcurrencyConflict(stream_id)
        except sa.exc.IntegrityError as error:
            raise ConcurrencyConflict(stream_id) from error


class SqlServiceStreams(_Streams):
    def __init__(self, conn: sa.Connection, locking: bool, on_work: Callable[[], None]) -> None:
        super().__init__(conn, locking)
        self._on_work = on_work

    def load(self, service_id: str) -> Loaded[ServiceState]:
        row = self._load_row(service_stream(service_id))
        if row is None:
            return Loaded(ServiceState(service_id), 0)
        return Loaded(decode_service_state(row.snapshot), row.version)

    def append(self, loaded: Loaded[ServiceState], events: Sequence[ServiceEvent]) -> None:
        state = loaded.state
        states = []
        for event in events:
            state = evolve(state, event)
            states.append(state)
        self._append(
            service_stream(state.service_id), loaded.version, events, encode_service_state(state)
        )
        queued = False
        for event, after in zip(events, states, strict=True):
            queued = project_service_event(self._conn, event, after) or queued
        if queued:
            self._on_work()

    def service_of_incident(self, incident_id: str) -> str | None:
        service_id: str | None = self._conn.scalar(
            sa.select(t.incidents.c.service_id).where(t.incidents.c.id == incident_id)
        )
        return service_id


class SqlPolicyStreams(_Streams):
    def load(self, policy_id: str) -> Loaded[PolicyState]:
        row = self._load_row(policy_stream(policy_id))
        if row is None:
            return Loaded(PolicyState(policy_id), 0)
        return Loaded(decode_policy_state(row.snapshot), row.version)

    def append(self, loaded: Loaded[PolicyState], events: Sequence[PolicyEvent]) -> None:
        state = loaded.state
        for event in events:
            state = evolve_policy(state, event)
        self._append(
            policy_stream(state.policy_id), loaded.version, events, encode_policy_state(state)
        )
        for event in events:
            project_policy_event(self._conn, event)

    def current(self, policy_id: str) -> EscalationPolicy | None:
        row = self._conn.execute(sa.select(t.policies).where(t.policies.c.id == policy_id)).first()
        if row is None:
            return None
        return decode_policy(row.id, row.name, row.repeat, row.levels)

    def used_by(self, policy_id: str) -> tuple[str, ...]:
        rows = self._conn.scalars(
            sa.select(t.services.c.id)
            .where(t.services.c.policy_id == policy_id)
            .order_by(t.services.c.id)
        )
        return tuple(rows)


class SqlTimers:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def remove(self, incident_id: str, level: int, round_: int) -> None:
        self._conn.execute(
            t.timers.delete().where(
                t.timers.c.incident_id == incident_id,
                t.timers.c.level == level,
                t.timers.c.round == round_,
            )
        )


class SqlUnitOfWork:
    """One write transaction. On PostgreSQL the stream row is locked (SELECT ... FOR UPDATE),
    so commands on one service queue rather than conflict; on SQLite the write lock is taken
    at BEGIN. Either way the unique (stream, version) is the final guard."""

    services: SqlServiceStreams
    policies: SqlPolicyStreams
    timers: SqlTimers

    def __init__(self, engine: Engine, after_commit: Callable[[], None] | None = None) -> None:
        self._engine = engine
        self._after_commit = after_commit
        self._postgres = engine.dialect.name == "postgresql"
        self._work_queued = False
        self._conn: sa.Connection | None = None

    def __enter__(self) -> Self:
        self._conn = self._engine.connect().execution_options(**WRITE)
        self._conn.begin()
        self.services = SqlServiceStreams(self._conn, self._postgres, self._queue_work)
        self.policies = SqlPolicyStreams(self._conn, self._postgres)
        self.timers = SqlTimers(self._conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if self._conn.in_transaction():
                self._conn.rollback()
        finally:
            self._conn.close()
            self._conn = None

    @property
    def connection(self) -> sa.Connection:
        assert self._conn is not None, "the unit of work is not open"
        return self._conn

    def _queue_work(self) -> None:
        if self._postgres and not self._work_queued:
            # Delivered to listeners only when (and if) this transaction commits.
            self.connection.execute(sa.select(sa.func.pg_notify(WORK_CHANNEL, "")))
        self._work_queued = True

    def commit(self) -> None:
        try:
            self.connection.commit()
        except sa.exc.IntegrityError as error:
            raise ConcurrencyConflict(str(error.orig)) from error
        if self._work_queued and self._after_commit is not None:
            self._after_commit()
        self._work_queued = False


def unit_of_work_factory(
    engine: Engine, after_commit: Callable[[], None] | None = None
) -> Callable[[], SqlUnitOfWork]:
    return lambda: SqlUnitOfWork(engine, after_commit)
