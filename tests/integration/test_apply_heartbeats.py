"""`heartbeats:` in pager.yaml: applied, shown by a dry run, moved between services, pruned
only when asked, refused by place when wrong, and exported back as "no changes"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.queries import SqlQueries
from pager.entrypoints.cli import app
from tests.support.db import row_counts

BASE = """\
escalation_policies:
  - id: ops
    name: Ops on call
    levels:
      - targets:
          - {type: email, address: alice@example.com}
services:
  - {id: api, name: Public API, escalation_policy: ops}
  - {id: db, name: Database, escalation_policy: ops}
"""
BEATS = """\
heartbeats:
  - {id: nightly-backup, service: db, interval_seconds: 86400, grace_seconds: 3600}
  - {id: queue-worker, service: api, interval_seconds: 60}
"""


Pagerd = Callable[..., tuple[int, str, str]]


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pagerd(database_url: str, tmp_path: Path) -> Pagerd:
    runner = CliRunner()

    def run(*args: str, yaml: str | None = None) -> tuple[int, str, str]:
        if yaml is not None:
            (tmp_path / "pager.yaml").write_text(yaml)
        argv = [str(tmp_path / "pager.yaml") if arg == "FILE" else arg for arg in args]
        result = runner.invoke(app, argv, env={"PAGER_DATABASE_URL": database_url})
        return result.exit_code, result.stdout, result.stderr

    return run


def beats(engine: Engine) -> list[tuple[str, str, int, int, str]]:
    return [
        (v.id, v.service, v.interval_seconds, v.grace_seconds, v.state)
        for v in SqlQueries(engine).heartbeats()
    ]


def test_heartbeats_apply_then_change_nothing(pagerd: Pagerd, db: Engine) -> None:
    code, out, err = pagerd("apply", "--dry-run", "-f", "FILE", yaml=BASE + BEATS)
    assert code == 0, err
    assert "+ create heartbeat nightly-backup (service db, every 86400 s, grace 3600 s)" in out
    assert beats(db) == []
    code, out, err = pagerd("apply", "-f", "FILE")
    assert code == 0, err
    assert beats(db) == [
        ("nightly-backup", "db", 86400, 3600, "new"),
        ("queue-worker", "api", 60, 0, "new"),
    ]
    assert pagerd("apply", "-f", "FILE")[1] == "no changes\n"


def test_a_heartbeat_moves_and_changes(pagerd: Pagerd, db: Engine) -> None:
    pagerd("apply", "-f", "FILE", yaml=BASE + BEATS)
    moved = BEATS.replace(
        "service: api, interval_seconds: 60", "service: db, interval_seconds: 120"
    )
    code, out, err = pagerd("apply", "-f", "FILE", yaml=BASE + moved)
    assert code == 0, err
    assert "~ update heartbeat queue-worker: service api -> db; interval_seconds 60 -> 120" in out
    assert ("queue-worker", "db", 120, 0, "new") in beats(db)


def test_heartbeats_not_in_the_file_are_kept_unless_pruned(pagerd: Pagerd, db: Engine) -> None:
    pagerd("apply", "-f", "FILE", yaml=BASE + BEATS)
    fewer = BASE + "heartbeats:\n  - {id: queue-worker, service: api, interval_seconds: 60}\n"
    code, out, _ = pagerd("apply", "-f", "FILE", yaml=fewer)
    assert "kept (--prune would delete them): heartbeat nightly-backup" in out
    assert len(beats(db)) == 2
    code, out, err = pagerd("apply", "--prune", "-f", "FILE")
    assert code == 0, err
    assert "- delete heartbeat nightly-backup" in out
    assert [b[0] for b in beats(db)] == ["queue-worker"]


def test_pruning_a_service_prunes_its_heartbeats_first(pagerd: Pagerd, db: Engine) -> None:
    pagerd("apply", "-f", "FILE", yaml=BASE + BEATS)
    only_api = BASE.replace("  - {id: db, name: Database, escalation_policy: ops}\n", "")
    only_api += "heartbeats:\n  - {id: queue-worker, service: api, interval_seconds: 60}\n"
    code, out, err = pagerd("apply", "--prune", "-f", "FILE", yaml=only_api)
    assert code == 0, err
    lines = out.splitlines()
    assert lines.index("- delete heartbeat nightly-backup") < lines.index("- delete service db")
    assert [b[0] for b in beats(db)] == ["queue-worker"]


def test_bad_heartbeats_are_refused_by_place(pagerd: Pagerd, db: Engine) -> None:
    pagerd("apply", "-f", "FILE", yaml=BASE)
    before = row_counts(db)
    bad = """\
heartbeats:
  - {id: Nightly, service: db, interval_seconds: 86400}
  - {id: fast, service: db, interval_seconds: 10, grace_seconds: -1}
  - {id: lost, service: nowhere, interval_seconds: 60}
  - {id: lost, service: db, interval_seconds: 60}
  - {id: typed, service: db, interval_seconds: "60"}
"""
    code, _, err = pagerd("apply", "-f", "FILE", yaml=bad)
    assert code == 1
    assert "  heartbeat typed interval_seconds: input should be a valid integer" in err
    code, _, err = pagerd("apply", "-f", "FILE", yaml=bad.replace('"60"', "60"))
    assert code == 1
    assert err.splitlines()[1:] == [
        "  heartbeat Nightly id: 'Nightly' must match [a-z0-9][a-z0-9-]{0,62}",
        "  heartbeat fast interval_seconds: must be between 60 and 604800",
        "  heartbeat fast grace_seconds: must be between 0 and 86400",
        "  heartbeat lost service: service 'nowhere' is neither in the file nor in the database",
        "  heartbeat lost: is listed more than once",
    ]
    assert row_counts(db) == before


def test_an_export_holds_the_heartbeats_and_applies_as_no_changes(
    pagerd: Pagerd, db: Engine
) -> None:
    pagerd("apply", "-f", "FILE", yaml=BASE + BEATS)
    code, exported, err = pagerd("export")
    assert code == 0, err
    assert "heartbeats:" in exported
    assert "nightly-backup" in exported
    assert pagerd("apply", "--prune", "-f", "FILE", yaml=exported)[1] == "no changes\n"
