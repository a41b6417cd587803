"""Schedules as code (`pagerd apply`/`export`) on real SQLite and PostgreSQL: applied in the
order users, schedules, policies, services; every reference checked and named by its place
before anything is written; overrides never removed or changed, even with --prune."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from pager.adapters.storage import tables as t
from pager.adapters.storage.engine import create_engine
from pager.entrypoints.cli import app
from tests.support.db import row_counts

Pagerd = Callable[..., Result]

USERS = """\
users:
  - {email: admin@example.com, role: admin}
  - {email: ann@example.com}
  - {email: bob@example.com}
"""
SCHEDULE = """\
schedules:
  - id: primary
    name: Primary
    time_zone: Europe/Berlin
    layers:
      - users: [ann@example.com, Bob@example.com]
        shift: {weeks: 1}
        start: 2026-03-02T09:00:00
      - users: [bob@example.com]
        shift: {days: 1}
        start: "2026-03-02T09:00"
        restrictions:
          - {days: [sat, sun], from: "22:00", to: "06:00"}
"""
POLICY = """\
escalation_policies:
  - id: ops
    name: Ops
    levels:
      - targets: [{type: schedule, schedule: primary}]
"""
OVERRIDE = """\
    overrides:
      - id: cover-1
        user: bob@example.com
        start: "2026-03-03T12:00:00Z"
        end: "2026-03-03T18:00:00Z"
"""


@pytest.fixture
def pagerd(database_url: str, tmp_path: Path) -> Pagerd:
    runner = CliRunner()

    def run(*args: str, yaml: str | None = None) -> Result:
        if yaml is not None:
            (tmp_path / "pager.yaml").write_text(yaml)
        argv = [str(tmp_path / "pager.yaml") if arg == "FILE" else arg for arg in args]
        return runner.invoke(app, argv, env={"PAGER_DATABASE_URL": database_url})

    return run


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def ok(result: Result) -> list[str]:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result.stdout.splitlines()


def refused(result: Result) -> list[str]:
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output
    return result.stderr.splitlines()


def overrides(engine: Engine) -> list[tuple[str, str, datetime, str]]:
    o = t.schedule_overrides.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(o.id, o.user_email, o.end, o.created_by).order_by(o.id))
        return [(r.id, r.user_email, r.end.astimezone(UTC), r.created_by) for r in rows]


def test_users_then_schedules_then_policies_and_again_no_changes(
    pagerd: Pagerd, db: Engine
) -> None:
    lines = ok(pagerd("apply", "-f", "FILE", yaml=POLICY + SCHEDULE + USERS))
    assert lines == [
        "+ create user admin@example.com (role admin)",
        "+ create user ann@example.com (role responder)",
        "+ create user bob@example.com (role responder)",
        "+ create schedule primary (2 layers, Europe/Berlin)",
        "+ create escalation policy ops (1 level, repeat 0)",
        "applied: 5 created, 0 updated, 0 deleted",
    ]
    assert ok(pagerd("apply", "-f", "FILE")) == ["no changes"]
    exported = pagerd("export")
    assert "schedules:" in exported.stdout
    assert ok(pagerd("apply", "-f", "FILE", yaml=exported.stdout)) == ["no changes"]
    changed = (POLICY + SCHEDULE + USERS).replace("{weeks: 1}", "{weeks: 2}")
    assert ok(pagerd("apply", "-f", "FILE", yaml=changed))[0] == (
        "~ update schedule primary: layer 1 changed"
    )


def test_every_reference_is_checked_and_named_before_anything_is_written(
    pagerd: Pagerd, db: Engine
) -> None:
    bad = (
        POLICY.replace("schedule: primary", "schedule: nope")
        + SCHEDULE.replace("Bob@example.com", "ghost@example.com").replace(
            "Europe/Berlin", "Europe/Nowhere"
        )
        + USERS
    )
    before = row_counts(db)
    errors = refused(pagerd("apply", "-f", "FILE", yaml=bad))
    assert errors[0].endswith("is invalid; nothing was applied:")
    assert row_counts(db) == before
    problems = "\n".join(errors)
    assert "  schedule primary time_zone: 'Europe/Nowhere' is not an IANA time zone" in problems
    assert (
        "  schedule primary layer 1 user 2: user 'ghost@example.com' is neither in the file nor "
        "in the database" in problems
    )
    assert (
        "  escalation policy ops level 1 target 1: schedule 'nope' is neither in the file nor "
        "in the database" in problems
    )


def test_an_unquoted_time_of_day_is_named_with_a_hint(pagerd: Pagerd) -> None:
    errors = refused(
        pagerd("apply", "-f", "FILE", yaml=SCHEDULE.replace('to: "06:00"', "to: 17:00") + USERS)
    )
    assert any(
        line.startswith("  schedule primary layer 2 restriction 1 to: write the time in quotes")
        for line in errors
    ), errors


def test_prune_deletes_a_schedule_only_after_the_policies_that_page_it(
    pagerd: Pagerd, db: Engine
) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=POLICY + SCHEDULE + USERS))
    # The file drops the schedule but keeps the policy that pages it: refused.
    errors = refused(
        pagerd("apply", "--prune", "-f", "FILE", yaml=POLICY + "schedules: []\n" + USERS)
    )
    assert (
        "  escalation policy ops level 1 target 1: schedule 'primary' is not in the file, so "
        "--prune would delete it" in errors
    )
    # Without the policy too, the policy goes first.
    lines = ok(
        pagerd(
            "apply",
            "--prune",
            "-f",
            "FILE",
            yaml="escalation_policies: []\nschedules: []\n" + USERS,
        )
    )
    assert lines == [
        "- delete escalation policy ops",
        "- delete schedule primary",
        "applied: 0 created, 0 updated, 2 deleted",
    ]


def test_listed_overrides_are_added_once_and_never_removed_or_changed(
    pagerd: Pagerd, db: Engine
) -> None:
    with_override = SCHEDULE + OVERRIDE + USERS
    lines = ok(pagerd("apply", "-f", "FILE", yaml=with_override))
    assert (
        "+ create schedule override primary/cover-1 (bob@example.com, "
        "2026-03-03T12:00:00+00:00 to 2026-03-03T18:00:00+00:00)" in lines
    )
    assert overrides(db) == [
        ("cover-1", "bob@example.com", datetime(2026, 3, 3, 18, tzinfo=UTC), "pagerd apply")
    ]
    # Changed in the file: the stored one stays as it was.
    moved = with_override.replace("18:00:00Z", "20:00:00Z").replace("user: bob", "user: ann")
    assert ok(pagerd("apply", "--prune", "-f", "FILE", yaml=moved)) == ["no changes"]
    # Gone from the file, even with --prune: it stays.
    assert ok(pagerd("apply", "--prune", "-f", "FILE", yaml=SCHEDULE + USERS)) == ["no changes"]
    assert overrides(db) == [
        ("cover-1", "bob@example.com", datetime(2026, 3, 3, 18, tzinfo=UTC), "pagerd apply")
    ]


def test_a_listed_override_is_checked_by_its_place(pagerd: Pagerd) -> None:
    bad = (
        SCHEDULE
        + OVERRIDE.replace('end: "2026-03-03T18:00:00Z"', 'end: "2026-03-03T11:00:00Z"').replace(
            "bob@", "nobody@"
        )
        + USERS
    )
    problems = "\n".join(refused(pagerd("apply", "-f", "FILE", yaml=bad)))
    assert "  schedule primary override cover-1 end: must be after the start" in problems
    assert (
        "  schedule primary override cover-1 user: user 'nobody@example.com' is neither" in problems
    )
