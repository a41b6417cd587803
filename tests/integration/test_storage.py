"""The storage contract: written once, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import decode_event, encode_service_state
from pager.adapters.storage.engine import WAL_CHECKPOINT_PAGES, create_engine
from pager.adapters.storage.migrate import MIGRATIONS, head_revision, migrate
from pager.adapters.storage.types import UtcDateTime
from pager.adapters.storage.uow import SqlUnitOfWork, service_stream
from pager.application.handlers import Handlers
from pager.application.ports import ConcurrencyConflict
from pager.bootstrap import bootstrap
from pager.domain.events import ServiceCreated, ServiceUpdated
from pager.domain.incident import ServiceState, fold
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock
from tests.support.db import row_counts


def stream_events(engine: Engine, stream_id: str) -> list[object]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.events.c.type, t.events.c.data)
            .where(t.events.c.stream_id == stream_id)
            .order_by(t.events.c.version)
        )
        return [decode_event(row.type, row.data) for row in rows]


@pytest.fixture
def handlers(engine: Engine, clock: FakeClock) -> Handlers:
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)
    handlers.define_policy(two_level_policy())
    handlers.define_service("db", "Database", "ops")
    return handlers


def test_schema_is_at_head_and_matches_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == head_revision()
        assert compare_metadata(context, t.metadata) == []


def test_migrating_again_changes_nothing(engine: Engine) -> None:
    assert migrate(engine) == (head_revision(), head_revision())


def test_the_console_sessions_migration_downgrades_and_upgrades_again(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0003")
            conn.commit()
            tables = sa.inspect(conn).get_table_names()
            assert "console_sessions" not in tables
            assert "users" in tables
    finally:
        before_after = migrate(engine)  # the database is shared with other tests
    assert before_after == ("0003", head_revision())
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []


def test_the_people_migration_goes_back_one_step_and_keeps_accounts(engine: Engine) -> None:
    accounts = bootstrap(engine=engine).accounts
    accounts.add_user("keep@example.com", "admin")
    token = accounts.create_token("keep@example.com")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0004")
            conn.commit()
            inspector = sa.inspect(conn)
            assert "schedules" not in inspector.get_table_names()
            assert "contact_methods" not in {c["name"] for c in inspector.get_columns("users")}
            assert "unreached" not in {c["name"] for c in inspector.get_columns("incidents")}
            assert conn.scalar(sa.select(sa.func.count()).select_from(t.api_tokens)) == 1
    finally:
        before_after = migrate(engine)  # the database is shared with other tests
    assert before_after == ("0004", head_revision())
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []
    assert accounts.user_for_token(token) is not None  # nothing cascaded from users


def test_a_new_stream_loads_empty_at_version_zero(engine: Engine) -> None:
    with SqlUnitOfWork(engine) as uow:
        loaded = uow.services.load("nothing-here")
    assert loaded.version == 0
    assert loaded.state == ServiceState("nothing-here")


def test_snapshot_equals_the_fold_of_the_stream(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    handlers.receive_alert("db", "disk full", dedup_key="a")
    handlers.receive_alert("db", "disk still full", dedup_key="b")
    clock.advance(61)
    incident_id = handlers.receive_alert("db", "again").incident_id
    handlers.receive_ack_timeout("db", incident_id, 1, 1)
    handlers.acknowledge(incident_id, "alice")

    events = stream_events(engine, service_stream("db"))
    with SqlUnitOfWork(engine) as uow:
        loaded = uow.services.load("db")
    assert loaded.version == len(events) == 7
    assert loaded.state == fold(ServiceState("db"), events)  # type: ignore[arg-type]
    assert loaded.state.incident is not None
    assert loaded.state.incident.status == "acknowledged"


def test_appending_at_a_stale_version_conflicts_and_writes_nothing(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    before = row_counts(engine)
    with SqlUnitOfWork(engine) as uow:
        stale = uow.services.load("db")
    handlers.define_service("db", "Renamed", "ops")
    after_rename = row_counts(engine)
    event = ServiceCreated("db", "Other", "ops", clock.now())
    with SqlUnitOfWork(engine) as uow, pytest.raises(ConcurrencyConflict):
        uow.services.append(stale, [event])
    assert row_counts(engine) == after_rename
    assert after_rename["events"] == before["events"] + 1


def test_the_database_itself_refuses_a_second_event_at_one_version(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    row = {
        "stream_id": service_stream("db"),
        "version": 1,
        "type": "ServiceDeleted",
        "data": {"service_id": "db", "at": clock.now().isoformat()},
        "recorded_at": clock.now(),
    }
    with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(t.events.insert().values(**row))


def test_an_alert_writes_incident_outbox_and_timer_in_one_go(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    outcome = handlers.receive_alert("db", "disk full")
    with engine.connect() as conn:
        service = conn.execute(sa.select(t.services)).one()
        incident = conn.execute(sa.select(t.incidents)).one()
        outbox = conn.execute(sa.select(t.notifications).order_by(t.notifications.c.target_key))
        notifications = outbox.all()
        timer = conn.execute(sa.select(t.timers)).one()
    assert (service.state, service.open_incident_id) == ("unhealthy", outcome.incident_id)
    assert (incident.status, incident.level, incident.round) == ("triggered", 1, 1)
    assert incident.opened_at == clock.now()
    assert [(n.channel, n.target_key, n.status) for n in notifications] == [
        ("email", "email:alice@example.com", "queued"),
        ("sms", "sms:+14155550100", "queued"),
    ]
    assert (timer.kind, timer.subject, timer.level, timer.round) == (
        "ack",
        outcome.incident_id,
        1,
        1,
    )
    assert timer.due_at == clock.now() + timedelta(seconds=60)


def test_the_outbox_refuses_a_second_row_for_one_target_and_step(
    engine: Engine, handlers: Handlers
) -> None:
    handlers.receive_alert("db", "disk full")
    with engine.begin() as conn:
        row = conn.execute(sa.select(t.notifications)).first()
        assert row is not None
        copy = {**row._asdict(), "id": "another"}
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(t.notifications.insert().values(**copy))


def test_acknowledging_drops_the_timer_and_cancels_unsent_notifications(
    engine: Engine, handlers: Handlers
) -> None:
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    handlers.acknowledge(incident_id, "alice")
    with engine.connect() as conn:
        statuses = conn.scalars(sa.select(t.notifications.c.status)).all()
        timers = conn.scalars(sa.select(t.timers.c.id)).all()
        incident = conn.execute(sa.select(t.incidents)).one()
    assert statuses == ["cancelled", "cancelled"]
    assert timers == []
    assert (incident.status, incident.acknowledged_by) == ("acknowledged", "alice")


def test_healthy_resolves_the_incident_in_the_read_models(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    clock.advance(5)
    handlers.mark_healthy("db")
    with engine.connect() as conn:
        service = conn.execute(sa.select(t.services)).one()
        incident = conn.execute(sa.select(t.incidents)).one()
    assert (service.state, service.open_incident_id) == ("healthy", None)
    assert (incident.id, incident.status, incident.resolved_at) == (
        incident_id,
        "resolved",
        clock.now(),
    )


def test_a_failed_unit_of_work_leaves_nothing_behind(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    before = row_counts(engine)

    def crash_before_commit() -> None:
        with SqlUnitOfWork(engine) as uow:
            loaded = uow.services.load("fresh")
            event = ServiceCreated("fresh", "Half-written", "ops", clock.now())
            uow.services.append(loaded, [event])
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash_before_commit()
    assert row_counts(engine) == before


def test_a_load_reads_the_snapshot_another_process_wrote(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    handlers.receive_alert("db", "disk full", dedup_key="a")  # this process knows that one
    with SqlUnitOfWork(engine) as uow:
        mine = uow.services.load("db")
    assert mine.state.name == "Database"
    elsewhere = replace(mine.state, name="Renamed elsewhere")
    with engine.begin() as conn:  # as another process would write it
        conn.execute(
            t.streams.update()
            .where(t.streams.c.stream_id == service_stream("db"))
            .values(version=mine.version + 1, snapshot=json.loads(encode_service_state(elsewhere)))
        )

    with SqlUnitOfWork(engine) as uow:
        loaded = uow.services.load("db")
    assert loaded.version == mine.version + 1
    assert loaded.state == elsewhere


def test_a_snapshot_from_a_rolled_back_unit_of_work_is_never_loaded(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    def rename_then_crash() -> None:
        with SqlUnitOfWork(engine) as uow:
            loaded = uow.services.load("db")
            renamed = ServiceUpdated("db", "Never committed", "ops", clock.now())
            uow.services.append(loaded, [renamed])  # its snapshot is encoded here
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        rename_then_crash()

    with SqlUnitOfWork(engine) as uow:
        assert uow.services.load("db").state.name == "Database"


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 29, 1, 5, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-8))),
    ],
)
def test_sqlite_stores_times_as_sqlalchemy_writes_them(value: datetime) -> None:
    # Times are compared as text in SQLite (timers fall due by `due_at <= ?`): Pager's own
    # formatting must give exactly the text SQLAlchemy's DATETIME gives for the UTC time.
    dialect = sqlite.dialect()
    ours = UtcDateTime().bind_processor(dialect)
    theirs = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours(value) == theirs(value.astimezone(UTC).replace(tzinfo=None))
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(value.replace(tzinfo=None))


def test_times_come_back_as_utc(engine: Engine, handlers: Handlers, clock: FakeClock) -> None:
    handlers.receive_alert("db", "disk full")
    with engine.connect() as conn:
        opened_at = conn.scalar(sa.select(t.incidents.c.opened_at))
    assert opened_at == clock.now()
    assert opened_at is not None
    assert opened_at.utcoffset() == timedelta(0)


def test_every_sqlite_connection_commits_durably_to_a_write_ahead_log(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            settings = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "wal_autocheckpoint", "foreign_keys")
            }
    finally:
        engine.dispose()
    # synchronous 2 is FULL: every commit reaches the disk before a 2xx is sent.
    assert settings == {
        "journal_mode": "wal",
        "synchronous": 2,
        "wal_autocheckpoint": WAL_CHECKPOINT_PAGES,
        "foreign_keys": 1,
    }


def test_the_calendar_feeds_migration_goes_back_one_step_and_keeps_schedules(
    engine: Engine,
) -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            t.schedules.insert().values(
                id="keep", name="Keep", time_zone="UTC", layers=[], created_at=at, updated_at=at
            )
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0005")
            conn.commit()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("calendar_feeds")}
            assert columns == {"token_hash", "kind", "subject", "created_at"}
            assert conn.scalar(sa.select(sa.func.count()).select_from(t.schedules)) == 1
    finally:
        before_after = migrate(engine)  # the database is shared with other tests
    assert before_after == ("0005", head_revision())
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []
