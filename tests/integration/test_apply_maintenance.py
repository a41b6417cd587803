"""Maintenance windows as code (`pagerd apply` and `pagerd export` on SQLite and PostgreSQL):
a listed window is added once, one that is over is left out, one set by hand or ended early
stays as it is, and an export lists those in force or to come and applies as no changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.queries import SqlQueries
from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.entrypoints.cli import app

Pagerd = Callable[..., Result]

NOW = datetime.now(UTC).replace(microsecond=0)
SOON, LATER, PAST = NOW + timedelta(hours=1), NOW + timedelta(hours=3), NOW - timedelta(hours=1)


def config(*windows: tuple[datetime, datetime]) -> str:
    service = {"id": "db", "name": "Database", "escalation_policy": "ops"}
    if windows:
        service["maintenance"] = [
            {"start": s.isoformat(), "end": e.isoformat()} for s, e in windows
        ]  # type: ignore[assignment]
    return yaml.safe_dump(
        {
            "escalation_policies": [
                {
                    "id": "ops",
                    "name": "Ops",
                    "levels": [{"targets": [{"type": "email", "address": "a@example.com"}]}],
                }
            ],
            "services": [service],
        }
    )


@pytest.fixture
def pagerd(database_url: str, tmp_path: Path) -> Pagerd:
    runner = CliRunner()

    def run(*args: str, text: str | None = None) -> Result:
        if text is not None:
            (tmp_path / "pager.yaml").write_text(text)
        argv = [str(tmp_path / "pager.yaml") if arg == "FILE" else arg for arg in args]
        return runner.invoke(app, argv, env={"PAGER_DATABASE_URL": database_url})

    return run


def windows(database_url: str) -> list[tuple[datetime, datetime]]:
    engine = create_engine(database_url)
    try:
        return [(w.start, w.end) for w in SqlQueries(engine).maintenance_windows("db")]
    finally:
        engine.dispose()


def test_a_listed_window_is_added_once_and_one_that_is_over_is_left_out(
    pagerd: Pagerd, database_url: str
) -> None:
    text = config((SOON, LATER), (PAST - timedelta(hours=1), PAST))
    dry = pagerd("apply", "--dry-run", "-f", "FILE", text=text)
    assert dry.exit_code == 0, dry.output
    assert f"+ create maintenance window db/{SOON.isoformat()}/{LATER.isoformat()}" in dry.output
    assert dry.output.count("maintenance window") == 1
    applied = pagerd("apply", "-f", "FILE")
    assert applied.exit_code == 0, applied.output
    assert windows(database_url) == [(SOON, LATER)]
    again = pagerd("apply", "-f", "FILE")
    assert "no changes" in again.output
    assert windows(database_url) == [(SOON, LATER)]


def test_a_window_ended_early_or_set_by_hand_stays_as_it_is(
    pagerd: Pagerd, database_url: str
) -> None:
    assert (
        pagerd("apply", "-f", "FILE", text=config((NOW - timedelta(minutes=5), LATER))).exit_code
        == 0
    )
    container = bootstrap(Settings(database_url=database_url))
    try:
        [window] = container.queries.maintenance_windows("db")
        container.handlers.end_maintenance("db", window.id, "carol")
        container.handlers.schedule_maintenance("db", SOON, LATER, "dave")
    finally:
        container.engine.dispose()
    result = pagerd("apply", "--prune", "-f", "FILE")
    assert "no changes" in result.output, result.output
    assert windows(database_url) == [(SOON, LATER)]


def test_an_export_lists_the_windows_in_force_or_to_come_and_applies_as_no_changes(
    pagerd: Pagerd, tmp_path: Path
) -> None:
    pagerd("apply", "-f", "FILE", text=config((SOON, LATER)))
    exported = pagerd("export")
    assert exported.exit_code == 0, exported.output
    [service] = yaml.safe_load(exported.output)["services"]
    assert service["maintenance"] == [{"start": SOON.isoformat(), "end": LATER.isoformat()}]
    result = pagerd("apply", "-f", "FILE", text=exported.output)
    assert "no changes" in result.output, result.output


@pytest.mark.parametrize(
    ("window", "place"),
    [
        ((LATER, SOON), "service db maintenance 1 end: must be after start"),
        (
            (SOON, SOON + timedelta(days=31)),
            "service db maintenance 1 end: a window lasts at most 30 days",
        ),
        (
            (SOON.replace(tzinfo=None), LATER.replace(tzinfo=None)),
            "service db maintenance 1: start and end need a UTC offset",
        ),
    ],
)
def test_a_bad_window_is_refused_by_its_place_before_anything_is_written(
    pagerd: Pagerd, database_url: str, window: tuple[datetime, datetime], place: str
) -> None:
    result = pagerd("apply", "-f", "FILE", text=config(window))
    assert result.exit_code != 0
    assert place in result.output
