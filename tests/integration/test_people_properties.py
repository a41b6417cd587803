"""Properties of paging people, on real storage (SQLite, a fresh copy of the migrated
database per example) and the real outbox, for people and rules hypothesis makes up: one
notification per (person, contact method) however the level names them, each due at the
earliest delay their rules give that method; an acknowledgement cancels every one not yet
sent, and nothing is claimed after it."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pager.adapters.storage import tables as t
from pager.adapters.storage.outbox import SqlOutbox
from pager.application.ports import Attempt
from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.domain.people import ContactMethod, NotificationRule, Person
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, Target, UserTarget
from tests.support.clock import FakeClock

METHOD_IDS = ("a", "b", "c")


@st.composite
def people(draw: st.DrawFn, number: int) -> Person:
    ids = draw(st.lists(st.sampled_from(METHOD_IDS), unique=True, max_size=3))
    methods = tuple(
        ContactMethod(
            method_id,
            kind,
            f"p{number}-{method_id}@example.com"
            if kind == "email"
            else f"+1415555{number:02d}{i:02d}",
            draw(st.booleans()),
        )
        for i, method_id in enumerate(ids)
        for kind in [draw(st.sampled_from(["email", "sms", "voice"]))]
    )
    rules = draw(
        st.lists(
            st.builds(NotificationRule, st.integers(0, 30), st.sampled_from(ids)),
            max_size=5,
        )
        if ids
        else st.just([])
    )
    return Person(f"p{number}@example.com", contact_methods=methods, rules=tuple(rules))


crowds = st.integers(1, 3).flatmap(lambda n: st.tuples(*[people(i) for i in range(n)]))


def expected_pages(crowd: tuple[Person, ...]) -> dict[str, int]:
    """Page key -> delay in seconds, worked out from the rules as DESIGN.md says."""
    pages = {"email:ops@example.com": 0}
    for person in crowd:
        for method in person.contact_methods:
            if not method.enabled:
                continue
            delays = [r.delay_minutes for r in person.rules if r.contact_method == method.id]
            if person.rules and not delays:
                continue
            pages[f"user:{person.email}:{method.id}"] = 60 * min(delays or [0])
    return pages


@pytest.fixture
def fresh(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> object:
    def make() -> str:
        path = tmp_path_factory.mktemp("example") / "pager.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"

    return make


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(crowd=crowds, twice=st.booleans(), ack_after=st.integers(0, 35 * 60))
def test_one_page_per_method_at_its_delay_and_the_ack_cancels_the_rest(
    fresh: object, crowd: tuple[Person, ...], twice: bool, ack_after: int
) -> None:
    clock = FakeClock()
    app = bootstrap(Settings(database_url=fresh()), clock=clock)  # type: ignore[operator]
    try:
        for person in crowd:
            app.accounts.add_user(person.email, profile=person)
        targets: list[Target] = [UserTarget(p.email) for p in crowd]
        targets.append(EmailTarget("ops@example.com"))
        levels = [Level(tuple(targets), 3 * 3600)]
        app.handlers.define_policy(EscalationPolicy("ops", "Ops", tuple(levels)))
        app.handlers.define_service("db", "Database", "ops")
        opened = clock.now()
        app.handlers.receive_alert("db", "disk full")
        if twice:  # another alert for the same incident pages nobody again
            app.handlers.receive_alert("db", "disk full again")

        rows = pages(app.engine, opened)
        assert rows == {key: (delay, "queued") for key, delay in expected_pages(crowd).items()}

        # The dispatcher sends what falls due until the ack.
        outbox = SqlOutbox(app.engine)
        clock.advance(ack_after)
        claimed, _ = outbox.claim(clock.now(), limit=1000)
        outbox.record([Attempt(c, clock.now(), "sent") for c in claimed])
        incident_id = app.handlers.receive_alert("db", "x").incident_id
        app.handlers.acknowledge(incident_id, "p0@example.com")
        clock.advance(24 * 3600)
        assert outbox.claim(clock.now(), limit=1000) == ([], None)
        after = pages(app.engine, opened)
        assert after == {
            key: (delay, "sent" if delay <= ack_after else "cancelled")
            for key, (delay, _) in rows.items()
        }
    finally:
        app.engine.dispose()


def pages(engine: sa.Engine, opened: datetime) -> dict[str, tuple[int, str]]:
    n = t.notifications.c
    with engine.connect() as conn:
        found = conn.execute(sa.select(n.target_key, n.next_attempt_at, n.status)).all()
    keys = [key for key, _, _ in found]
    assert len(keys) == len(set(keys)), "a page made twice"
    return {key: (int((due - opened) / timedelta(seconds=1)), status) for key, due, status in found}
