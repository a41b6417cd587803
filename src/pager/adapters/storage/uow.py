"""The unit of work on SQLAlchemy Core: one transaction for events, snapshot, read models,
outbox and timers. The same code runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from types import TracebackType
from typing import Self

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.handoff import Handoff
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
from pager.adapters.storage.directory import SqlDirectory
from pager.adapters.storage.engine import WRITE, write_lock
from pager.adapters.storage.prepared import Prepared, pipelined, query
from pager.adapters.storage.projections import Projection, project_policy_event
from pager.application.ports import ClaimedNotification, ConcurrencyConflict, Loaded, TimerKey
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

    def _load_rows(self, stream_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """Each stream's (version, snapshot as JSON text): in one lock order on PostgreSQL
        (no deadlocks)."""
        if not stream_ids:
            return {}
        if self._locking:
            rows = query(self._conn, _LOCK_STREAMS, {"ids": list(stream_ids)})
        else:
            marks = ", ".join("?" * len(stream_ids))
            rows = query(self._conn, _LOAD_STREAMS.format(marks=marks), tuple(stream_ids))
        return {stream_id: (version, snapshot) for stream_id, version, snapshot in rows}

    def _append(self, appends: Sequence[tuple[str, int, Sequence[Event], str]]) -> None:
        """Append each stream's events at its expected version and write its snapshot (JSON
        text). The unique (stream, version) makes a concurrent append fail here, whatever
        else did."""
        rows = []
        created = []
        updated = []
        for stream_id, version, events, snapshot in appends:
            for offset, event in enumerate(events, start=1):
                type_name, data = encode_event(event)
                rows.append(
                    {
                        "stream_id": stream_id,
                        "version": version + offset,
                        "type": type_name,
                        "data": data,
                        "recorded_at": event.at,
                        "incident_id": getattr(event, "incident_id", None),
                    }
                )
            new = {"stream_id": stream_id, "version": version + len(events), "snapshot": snapshot}
            if version == 0:
                created.append(new)
            else:
                updated.append({**new, "b_id": stream_id, "b_version": version})
        try:
            _INSERT_EVENTS.executemany(self._conn, rows)
            _INSERT_STREAMS.executemany(self._conn, created)
            _UPDATE_STREAM.executemany(self._conn, updated)
        except sa.exc.IntegrityError as error:
            raise ConcurrencyConflict(str(error.orig)) from error


_LOAD_STREAMS = (
    "SELECT stream_id, version, snapshot FROM streams WHERE stream_id IN ({marks}) "
    "ORDER BY stream_id"
)
_LOCK_STREAMS = (
    "SELECT stream_id, version, snapshot::text FROM streams WHERE stream_id = ANY(%(ids)s) "
    "ORDER BY stream_id FOR UPDATE"
)
# Levels as text on both (decoded from text, and cached by it: see codec).
_POLICY = "SELECT name, repeat, levels FROM policies WHERE id = ?"
_POLICY_PG = "SELECT name, repeat, levels::text FROM policies WHERE id = %(id)s"
_INSERT_EVENTS = Prepared(t.events.insert(), json_text=["data"])
_INSERT_STREAMS = Prepared(t.streams.insert(), json_text=["snapshot"])
_UPDATE_STREAM = Prepared(
    t.streams.update()
    .where(
        t.streams.c.stream_id == sa.bindparam("b_id"),
        t.streams.c.version == sa.bindparam("b_version"),
    )
    .values(version=sa.bindparam("version"), snapshot=sa.bindparam("snapshot")),
    json_text=["snapshot"],
)
_REMOVE_TIMER = Prepared(
    t.timers.delete().where(
        t.timers.c.kind == sa.bindparam("b_kind"),
        t.timers.c.subject == sa.bindparam("b_subject"),
        t.timers.c.level == sa.bindparam("b_level"),
        t.timers.c.round == sa.bindparam("b_round"),
    )
)


class _DecodedSnapshots:
    """The last snapshot of each of the services this process wrote or read lately, with
    its decoded state. A command loads its service's snapshot, most often the one the last
    command on that service wrote, and decoding it cost more than deciding the alert. A
    state is reused only for the very text it was decoded from (or encoded to), so a hit is
    what decoding would give, whoever wrote the row; a snapshot written in a transaction
    that then rolled back is never read back, so it is never matched. States are frozen:
    one is shared safely. The least recently stored service goes first when it is full."""

    def __init__(self, services: int) -> None:
        self._services = services
        self._known: dict[str, tuple[str, ServiceState]] = {}
        self._lock = threading.Lock()

    def decode(self, service_id: str, snapshot: str) -> ServiceState:
        known = self._known.get(service_id)
        if known is not None and known[0] == snapshot:
            return known[1]
        state = decode_service_state(snapshot)
        self.remember(service_id, snapshot, state)
        return state

    def remember(self, service_id: str, snapshot: str, state: ServiceState) -> None:
        with self._lock:
            known = self._known
            known.pop(service_id, None)
            known[service_id] = (snapshot, state)
            if len(known) > self._services:
                del known[next(iter(known))]


_SNAPSHOTS = _DecodedSnapshots(services=4096)


class SqlServiceStreams(_Streams):
    def __init__(
        self,
        conn: sa.Connection,
        locking: bool,
        on_work: Callable[[frozenset[str]], None],
        handoff: Handoff | None = None,
        handed: list[ClaimedNotification] | None = None,
    ) -> None:
        super().__init__(conn, locking)
        self._on_work = on_work
        self._handoff = handoff
        self._handed = handed if handed is not None else []

    def load(self, service_id: str) -> Loaded[ServiceState]:
        return self.load_many([service_id])[service_id]

    def load_many(self, service_ids: Sequence[str]) -> dict[str, Loaded[ServiceState]]:
        """Each service's snapshot, in one query (and one lock order on PostgreSQL)."""
        wanted = sorted(set(service_ids))
        rows = self._load_rows([service_stream(service_id) for service_id in wanted])
        loaded = {}
        for service_id in wanted:
            row = rows.get(service_stream(service_id))
            if row is None:
                loaded[service_id] = Loaded(ServiceState(service_id), 0)
            else:
                version, snapshot = row
                loaded[service_id] = Loaded(_SNAPSHOTS.decode(service_id, snapshot), version)
        return loaded

    def append(self, loaded: Loaded[ServiceState], events: Sequence[ServiceEvent]) -> None:
        self.append_many([(loaded, events)])

    def append_many(
        self,
        appends: Sequence[tuple[Loaded[ServiceState], Sequence[ServiceEvent]]],
        states: Sequence[Sequence[ServiceState]] | None = None,
    ) -> None:
        """Append to several streams at once, with their snapshots, read models, outbox and
        timers; one statement per kind of row."""
        projection = Projection(self._handoff, self._handed)
        streams = []
        for n, (loaded, events) in enumerate(appends):
            if not events:
                continue
            state = loaded.state
            afters = states[n] if states is not None else None
            for m, event in enumerate(events):
                after = afters[m] if afters is not None else evolve(state, event)
                projection.add(state, event, after)
                state = after
            snapshot = encode_service_state(state)
            _SNAPSHOTS.remember(state.service_id, snapshot, state)
            streams.append((service_stream(state.service_id), loaded.version, events, snapshot))
        if not streams:
            return
        try:
            with pipelined(self._conn):
                self._append(streams)
                projection.write(self._conn)
        except sa.exc.IntegrityError as error:  # from the pipeline's end, on PostgreSQL
            raise ConcurrencyConflict(str(error.orig)) from error
        if work := projection.queued_work:
            self._on_work(work)

    def service_of_incident(self, incident_id: str) -> str | None:
        service_id: str | None = self._conn.scalar(
            sa.select(t.incidents.c.service_id).where(t.incidents.c.id == incident_id)
        )
        return service_id


class SqlPolicyStreams(_Streams):
    def load(self, policy_id: str) -> Loaded[PolicyState]:
        row = self._load_rows([policy_stream(policy_id)]).get(policy_stream(policy_id))
        if row is None:
            return Loaded(PolicyState(policy_id), 0)
        version, snapshot = row
        return Loaded(decode_policy_state(snapshot), version)

    def append(self, loaded: Loaded[PolicyState], events: Sequence[PolicyEvent]) -> None:
        state = loaded.state
        for event in events:
            state = evolve_policy(state, event)
        snapshot = encode_policy_state(state)
        self._append([(policy_stream(state.policy_id), loaded.version, events, snapshot)])
        for event in events:
            project_policy_event(self._conn, event)

    def current(self, policy_id: str) -> EscalationPolicy | None:
        if self._locking:
            rows = query(self._conn, _POLICY_PG, {"id": policy_id})
        else:
            rows = query(self._conn, _POLICY, (policy_id,))
        if not rows:
            return None
        name, repeat, levels = rows[0]
        return decode_policy(policy_id, name, repeat, levels)

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

    def remove_many(self, timers: Sequence[TimerKey]) -> None:
        _REMOVE_TIMER.executemany(
            self._conn,
            [
                {"b_kind": k.kind, "b_subject": k.subject, "b_level": k.level, "b_round": k.round}
                for k in timers
            ],
        )


class SqlUnitOfWork:
    """One write transaction. On PostgreSQL the stream row is locked (SELECT ... FOR UPDATE),
    so commands on one service queue rather than conflict; on SQLite the write lock is taken
    at BEGIN. Either way the unique (stream, version) is the final guard."""

    services: SqlServiceStreams
    policies: SqlPolicyStreams
    timers: SqlTimers

    def __init__(
        self,
        engine: Engine,
        after_commit: Callable[[frozenset[str]], None] | None = None,
        handoff: Handoff | None = None,
    ) -> None:
        self._engine = engine
        self._after_commit = after_commit
        self._handoff = handoff
        self._handed: list[ClaimedNotification] = []
        self._postgres = engine.dialect.name == "postgresql"
        self._work_queued: set[str] = set()
        self._conn: sa.Connection | None = None
        self._lock: AbstractContextManager[object] = nullcontext()

    def __enter__(self) -> Self:
        self._lock = write_lock(self._engine)
        self._lock.__enter__()
        self._conn = self._engine.connect().execution_options(**WRITE)
        self._conn.begin()
        self._handed = []
        self.services = SqlServiceStreams(
            self._conn, self._postgres, self._queue_work, self._handoff, self._handed
        )
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
            self._lock.__exit__(None, None, None)
            if self._handed and self._handoff is not None:  # reserved, never committed
                self._handoff.cancel(len(self._handed))
                self._handed.clear()

    def directory(self, now: datetime, *, hold: bool = False) -> SqlDirectory:
        return SqlDirectory(self.connection, now, hold=hold)

    @property
    def connection(self) -> sa.Connection:
        assert self._conn is not None, "the unit of work is not open"
        return self._conn

    def _queue_work(self, work: frozenset[str]) -> None:
        if self._postgres and not self._work_queued:
            # Delivered to listeners only when (and if) this transaction commits.
            self.connection.execute(sa.select(sa.func.pg_notify(WORK_CHANNEL, "")))
        self._work_queued |= work

    def commit(self) -> None:
        try:
            self.connection.commit()
        except sa.exc.IntegrityError as error:
            raise ConcurrencyConflict(str(error.orig)) from error
        if self._handed and self._handoff is not None:
            handed = list(self._handed)
            self._handed.clear()
            self._handoff.deliver(handed)
        if self._work_queued and self._after_commit is not None:
            self._after_commit(frozenset(self._work_queued))
        self._work_queued = set()


def unit_of_work_factory(
    engine: Engine,
    after_commit: Callable[[frozenset[str]], None] | None = None,
    handoff: Handoff | None = None,
) -> Callable[[], SqlUnitOfWork]:
    return lambda: SqlUnitOfWork(engine, after_commit, handoff)
