"""Every handler against real storage (SQLite and PostgreSQL): what it commits, and that bad
input is a typed domain error that writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.queries import SqlQueries
from pager.adapters.storage.uow import SqlUnitOfWork
from pager.application.handlers import Handlers
from pager.domain.commands import Acknowledge, ReportChange, Unacknowledge
from pager.domain.errors import (
    DomainError,
    IncidentAlreadyResolved,
    IncidentNotFound,
    PolicyInUse,
    PolicyNotFound,
    ServiceNotFound,
    ValidationFailed,
)
from pager.domain.events import ChangeLink, PolicyCreated, Unacknowledged
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, SmsTarget
from tests.support.builders import single_level_policy, two_level_policy
from tests.support.clock import FakeClock
from tests.support.db import row_counts


@pytest.fixture
def handlers(engine: Engine, clock: FakeClock) -> Handlers:
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)
    handlers.define_policy(two_level_policy())
    handlers.define_service("db", "Database", "ops")
    return handlers


def queued(engine: Engine) -> list[tuple[int, int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                t.notifications.c.round, t.notifications.c.level, t.notifications.c.target_key
            )
            .where(t.notifications.c.status == "queued")
            .order_by(
                t.notifications.c.round, t.notifications.c.level, t.notifications.c.target_key
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def timers(engine: Engine) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.timers.c.round, t.timers.c.level).order_by(t.timers.c.id))
        return [tuple(row) for row in rows]  # type: ignore[misc]


BAD_INPUT: dict[str, tuple[Callable[[Handlers], object], type[DomainError]]] = {
    "alert for an unknown service": (
        lambda h: h.receive_alert("nope", "disk full"),
        ServiceNotFound,
    ),
    "alert with an empty message": (lambda h: h.receive_alert("db", "   "), ValidationFailed),
    "acknowledge an unknown incident": (lambda h: h.acknowledge("nope", "al"), IncidentNotFound),
    "resolve an unknown incident": (lambda h: h.resolve("nope", "al"), IncidentNotFound),
    "unacknowledge an unknown incident": (
        lambda h: h.unacknowledge("nope", "al"),
        IncidentNotFound,
    ),
    "healthy for an unknown service": (lambda h: h.mark_healthy("nope"), ServiceNotFound),
    "invalid policy": (
        lambda h: h.define_policy(EscalationPolicy("p2", "P2", (Level((SmsTarget("555"),)),))),
        ValidationFailed,
    ),
    "policy with no levels": (
        lambda h: h.define_policy(EscalationPolicy("p2", "P2", ())),
        ValidationFailed,
    ),
    "service with an unknown policy": (
        lambda h: h.define_service("web", "Web", "missing"),
        PolicyNotFound,
    ),
    "service with an invalid id": (
        lambda h: h.define_service("Web Site", "Web", "ops"),
        ValidationFailed,
    ),
    "delete an unknown service": (lambda h: h.delete_service("nope"), ServiceNotFound),
    "delete an unknown policy": (lambda h: h.delete_policy("nope"), PolicyNotFound),
    "delete a policy in use": (lambda h: h.delete_policy("ops"), PolicyInUse),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_a_typed_error_and_writes_nothing(
    case: str, engine: Engine, handlers: Handlers
) -> None:
    call, error = BAD_INPUT[case]
    before = row_counts(engine)
    with pytest.raises(error):
        call(handlers)
    assert row_counts(engine) == before


def test_acknowledging_a_resolved_incident_is_a_conflict_and_writes_nothing(
    engine: Engine, handlers: Handlers
) -> None:
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    handlers.mark_healthy("db")
    before = row_counts(engine)
    with pytest.raises(IncidentAlreadyResolved):
        handlers.acknowledge(incident_id, "alice")
    assert row_counts(engine) == before


def test_defining_the_same_policy_twice_records_it_once(engine: Engine, handlers: Handlers) -> None:
    before = row_counts(engine)
    assert handlers.define_policy(two_level_policy()) == ()
    assert row_counts(engine) == before
    events = handlers.define_policy(single_level_policy("night", EmailTarget("n@example.com")))
    assert [type(e) for e in events] == [PolicyCreated]


def test_an_unused_policy_can_be_deleted(engine: Engine, handlers: Handlers) -> None:
    handlers.define_policy(single_level_policy("night", EmailTarget("n@example.com")))
    handlers.delete_policy("night")
    with engine.connect() as conn:
        assert conn.scalars(sa.select(t.policies.c.id)).all() == ["ops"]


def test_alerts_open_one_incident_and_page_level_one(engine: Engine, handlers: Handlers) -> None:
    first = handlers.receive_alert("db", "disk full")
    second = handlers.receive_alert("db", "disk fuller")
    assert (first.action, second.action) == ("opened", "attached")
    assert second.incident_id == first.incident_id
    assert queued(engine) == [(1, 1, "email:alice@example.com"), (1, 1, "sms:+14155550100")]
    with engine.connect() as conn:
        assert conn.scalar(sa.select(t.incidents.c.alert_count)) == 2


def test_the_ack_timeout_pages_the_next_level_from_the_current_policy(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    handlers.define_policy(
        EscalationPolicy(
            "ops",
            "Ops on call",
            (
                Level((EmailTarget("alice@example.com"),)),
                Level((EmailTarget("carol@example.com"),)),
            ),
        )
    )
    clock.advance(60)
    outcome = handlers.receive_ack_timeout("db", incident_id, 1, 1)
    assert len(outcome.events) == 1
    assert (2, "email:carol@example.com") in [(level, key) for _, level, key in queued(engine)]
    assert timers(engine) == [(1, 2)]


def test_a_stale_timeout_changes_nothing_but_its_timer(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    handlers.receive_ack_timeout("db", incident_id, 1, 1)
    before = row_counts(engine)
    outcome = handlers.receive_ack_timeout("db", incident_id, 1, 1)
    assert outcome.events == ()
    assert row_counts(engine) == before


def test_timeouts_after_the_last_level_repeat_then_stop(engine: Engine, handlers: Handlers) -> None:
    handlers.define_policy(two_level_policy(repeat=1))
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    for level, round_ in [(1, 1), (2, 1), (1, 2), (2, 2)]:
        handlers.receive_ack_timeout("db", incident_id, level, round_)
    assert [(r, lv) for r, lv, _ in queued(engine)] == [
        (1, 1),
        (1, 1),
        (1, 2),
        (2, 1),
        (2, 1),
        (2, 2),
    ]
    assert timers(engine) == []
    with engine.connect() as conn:
        assert conn.scalar(sa.select(t.incidents.c.status)) == "triggered"


def test_resolving_the_last_open_dedup_key_makes_the_service_healthy(
    engine: Engine, handlers: Handlers
) -> None:
    handlers.receive_alert("db", "disk full", dedup_key="disk")
    handlers.receive_alert("db", "cpu hot", dedup_key="cpu")
    handlers.receive_alert("db", "disk full", dedup_key="disk")  # re-sent: no-op
    handlers.resolve_alert("db", "disk")
    with engine.connect() as conn:
        assert conn.scalar(sa.select(t.services.c.state)) == "unhealthy"
        assert conn.scalar(sa.select(t.incidents.c.alert_count)) == 2
    handlers.resolve_alert("db", "cpu")
    with engine.connect() as conn:
        assert conn.scalar(sa.select(t.services.c.state)) == "healthy"


def test_resolve_and_delete(engine: Engine, handlers: Handlers) -> None:
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    handlers.resolve(incident_id, "alice")
    handlers.resolve(incident_id, "alice")  # twice is fine
    handlers.receive_alert("db", "disk full again")
    handlers.delete_service("db")
    with engine.connect() as conn:
        assert conn.scalars(sa.select(t.services.c.id)).all() == []
        statuses = conn.scalars(sa.select(t.incidents.c.status)).all()
    assert statuses == ["resolved", "resolved"]
    assert timers(engine) == []
    handlers.delete_policy("ops")  # no longer in use


def due_timers(engine: Engine) -> list[tuple[int, int, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.timers.c.round, t.timers.c.level, t.timers.c.due_at).order_by(t.timers.c.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_unacknowledging_runs_the_current_levels_timer_again_from_now(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    handlers.acknowledge(incident_id, "alice")
    assert timers(engine) == []
    now = clock.advance(30)
    outcome = handlers.unacknowledge(incident_id, "alice")
    assert [type(e) for e in outcome.events] == [Unacknowledged]
    assert due_timers(engine) == [(1, 1, now + timedelta(seconds=60))]
    incident = SqlQueries(engine).incident(incident_id)
    assert incident is not None
    assert (incident.incident.status, incident.incident.acknowledged_by) == ("triggered", None)
    clock.advance(60)
    handlers.receive_ack_timeout("db", incident_id, 1, 1)
    assert (1, 2, "email:bob@example.com") in queued(engine)


def test_an_acknowledgement_undone_in_the_same_batch_keeps_the_new_timer(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    now = clock.advance(10)
    results = handlers.execute(
        [Acknowledge("db", incident_id, "alice"), Unacknowledge("db", incident_id, "alice")]
    )
    assert not any(isinstance(result, DomainError) for result in results)
    assert due_timers(engine) == [(1, 1, now + timedelta(seconds=60))]
    # ... and one acknowledged again afterwards in a batch drops it.
    handlers.execute(
        [
            Unacknowledge("db", incident_id, "alice"),  # triggered already: nothing
            Acknowledge("db", incident_id, "bob"),
        ]
    )
    assert timers(engine) == []


def test_notes_go_on_the_incidents_timeline_and_changes_on_the_services_stream(
    engine: Engine, handlers: Handlers
) -> None:
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    handlers.resolve(incident_id, "alice")
    handlers.add_note(incident_id, "cause: a full /var/log", "alice")
    link = ChangeLink("https://ci.example.com/7", "Build 7")
    handlers.run(ReportChange("db", "Deployed 4.2.1", "ci", None, (link,), (("build", "7"),)))
    queries = SqlQueries(engine)
    detail = queries.incident(incident_id)
    assert detail is not None
    assert (detail.timeline[-1].type, detail.timeline[-1].data) == (
        "NoteAdded",
        {"text": "cause: a full /var/log", "by": "alice"},
    )
    events = queries.service_events("db")
    assert events is not None
    change = events[-1]
    assert (change.type, change.incident_id) == ("ChangeReported", None)
    assert change.data["links"] == [{"href": "https://ci.example.com/7", "text": "Build 7"}]
    assert change.data["details"] == [["build", "7"]]
    with pytest.raises(IncidentNotFound):
        handlers.add_note("nope", "x", "alice")
    before = row_counts(engine)
    with pytest.raises(ValidationFailed):
        handlers.add_note(incident_id, " \n", "alice")
    assert row_counts(engine) == before
