"""`pagerd import grafana-oncall` against a local server that answers like Grafana OnCall's
public API: the file applies to a fresh Pager whose on-call people match OnCall's at sampled
instants; the report names each simplification; a second run gives the same bytes; a wrong
token is one line; only GETs are sent, page by page."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner, Result

from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.entrypoints.cli import app
from tests.support.grafana_oncall import GrafanaOnCallServer

TOKEN = "c2VjcmV0LXRva2VuLWZvci10ZXN0cw"
NOW = datetime.now(UTC)


@pytest.fixture
def oncall() -> Iterator[GrafanaOnCallServer]:
    server = GrafanaOnCallServer(TOKEN, NOW).start()
    yield server
    server.stop()


def imported(server: GrafanaOnCallServer, token: str = TOKEN) -> Result:
    return CliRunner().invoke(
        app,
        ["import", "grafana-oncall", "--api-url", server.url, "--token-env", "ONCALL_TOKEN"],
        env={"ONCALL_TOKEN": token},
    )


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result


def test_the_file_applies_and_pages_whom_oncall_pages(
    oncall: GrafanaOnCallServer, tmp_path: Path
) -> None:
    path = tmp_path / "pager.yaml"
    path.write_text(ok(imported(oncall)).stdout)
    url = f"sqlite:///{tmp_path / 'pager.db'}"
    env = {"PAGER_DATABASE_URL": url}
    assert "applied:" in ok(CliRunner().invoke(app, ["apply", "-f", str(path)], env=env)).stdout
    pager = bootstrap(Settings(database_url=url))
    try:
        cover = next(s for s in oncall.lists["on_call_shifts"] if s["id"] == "OCOVER")
        start = datetime.fromisoformat(cover["start"]).replace(tzinfo=ZoneInfo(cover["time_zone"]))
        picks = random.Random(20)
        instants = [start + timedelta(hours=1), start + timedelta(hours=3, minutes=59)]
        instants += [NOW + timedelta(minutes=picks.randrange(21 * 24 * 60)) for _ in range(18)]
        mismatches = []
        for at in instants:
            ours = {o.schedule.id: list(o.on_call.users) for o in pager.schedules.on_call(at)}
            theirs = oncall.on_call("SPRIMARY", at)
            if ours.get("primary") != theirs:
                mismatches.append((at.isoformat(), ours.get("primary"), theirs))
        assert mismatches == []
    finally:
        pager.engine.dispose()
    assert {r.method for r in oncall.requests} == {"GET"}


def test_the_file_and_the_report(oncall: GrafanaOnCallServer) -> None:
    result = ok(imported(oncall))
    data = yaml.safe_load(result.stdout)
    assert [u["email"] for u in data["users"]] == [
        f"{n}@example.com" for n in ("ann", "bob", "cleo", "dan", "eve", "fay")
    ]
    assert data["users"][0]["notification_rules"] == [
        {"delay_minutes": 0, "contact_method": "email"}
    ]
    (schedule,) = data["schedules"]
    week, nights = schedule["layers"]
    assert week["shift"] == {"weeks": 1}
    assert nights["users"] == ["eve@example.com", "dan@example.com"]
    assert nights["restrictions"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "00:00", "to": "08:00"},
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "20:00", "to": "00:00"},
    ]
    assert [o["user"] for o in schedule["overrides"]] == ["fay@example.com"]
    (policy,) = data["escalation_policies"]
    assert policy["repeat"] == 5
    assert [level["ack_timeout_seconds"] for level in policy["levels"]] == [300, 600, 300]
    assert data["services"] == [
        {"id": "alertmanager", "name": "Alertmanager", "escalation_policy": "primary-chain"}
    ]
    lines = result.stderr.splitlines()
    for expected in (
        "left behind: schedule Legacy: an iCal schedule: its calendar is not read",
        "left behind: notification step ann@example.com notify_by_slack: "
        "Pager pages by email, SMS and voice only",
        "changed: user bob@example.com: add the phone numbers in Pager: the public API does "
        "not give them",
        "left behind: escalation step Primary chain #6 trigger_webhook: Pager has no such step",
        "changed: escalation chain Primary chain: repeats 5 times, as Grafana OnCall does",
        "left behind: route Alertmanager / team=db: a Pager service routes every alert to one "
        "escalation policy",
        "left behind: heartbeat Alertmanager: the public API does not give its interval: add "
        "it in Pager",
        "moved: override Primary / Fay covers",
    ):
        assert expected in lines
    assert lines[-1].startswith("summary: ")


def test_running_it_again_gives_the_same_bytes(oncall: GrafanaOnCallServer) -> None:
    assert ok(imported(oncall)).stdout == ok(imported(oncall)).stdout


def test_lists_are_read_page_by_page(oncall: GrafanaOnCallServer) -> None:
    oncall.page_size = 4
    data = yaml.safe_load(ok(imported(oncall)).stdout)
    assert len(data["users"]) == 6
    assert "/api/v1/users/?page=2" in [r.path for r in oncall.requests]


def test_a_wrong_token_is_one_line(oncall: GrafanaOnCallServer) -> None:
    result = imported(oncall, token="wrong")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "pagerd: import from Grafana OnCall failed, nothing was written: Grafana OnCall refused "
        "the key in ONCALL_TOKEN (401 on GET /api/v1/users/): Invalid token."
    ]


def test_a_malformed_answer_is_one_line(oncall: GrafanaOnCallServer) -> None:
    oncall.lists["schedules"] = [{"id": "S1", "shifts": []}]  # no name
    result = imported(oncall)
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "pagerd: import from Grafana OnCall failed, nothing was written: Grafana OnCall answered "
        "GET /api/v1/schedules/ with something unexpected"
    )


def shift(server: GrafanaOnCallServer, shift_id: str) -> dict[str, Any]:
    return next(s for s in server.lists["on_call_shifts"] if s["id"] == shift_id)


def test_important_notification_rules_are_left_behind_and_reported(
    oncall: GrafanaOnCallServer,
) -> None:
    result = ok(imported(oncall))
    data = yaml.safe_load(result.stdout)
    lines = result.stderr.splitlines()
    ann = data["users"][0]
    assert ann["notification_rules"] == [{"delay_minutes": 0, "contact_method": "email"}]
    assert (
        "left behind: notification rules ann@example.com important: Pager has one set of rules "
        "a person"
    ) in lines
    assert not [line for line in lines if "notify_by_phone_call" in line]


def test_a_shift_with_an_end_goes_on_and_is_reported(oncall: GrafanaOnCallServer) -> None:
    until = (NOW + timedelta(days=90)).astimezone(ZoneInfo("Europe/Berlin"))
    until_text = until.replace(tzinfo=None, microsecond=0).isoformat()
    shift(oncall, "OWEEK")["until"] = until_text
    result = ok(imported(oncall))
    (schedule,) = yaml.safe_load(result.stdout)["schedules"]
    assert len(schedule["layers"]) == 2
    lines = result.stderr.splitlines()
    assert (
        f"changed: shift Primary / Week: Pager layers do not end: it goes on after {until_text}"
        in lines
    )
    assert "moved: shift Primary / Week" not in lines


def test_an_override_with_nobody_who_moves_is_left_behind_and_reported(
    oncall: GrafanaOnCallServer,
) -> None:
    shift(oncall, "OCOVER")["rolling_users"] = [["UDELETEDUSER"]]
    result = ok(imported(oncall))
    (schedule,) = yaml.safe_load(result.stdout)["schedules"]
    assert "overrides" not in schedule
    assert "left behind: override Primary / Fay covers: no user in it" in result.stderr.splitlines()


def test_an_escalation_step_with_nobody_who_moves_is_left_behind_and_reported(
    oncall: GrafanaOnCallServer,
) -> None:
    step = next(p for p in oncall.lists["escalation_policies"] if p["position"] == 2)
    step["persons_to_notify"] = ["UDELETEDUSER"]
    result = ok(imported(oncall))
    (policy,) = yaml.safe_load(result.stdout)["escalation_policies"]
    assert [level["targets"] for level in policy["levels"]] == [
        [{"type": "schedule", "schedule": "primary"}],
        [{"type": "user", "user": "bob@example.com"}, {"type": "user", "user": "cleo@example.com"}],
    ]
    lines = result.stderr.splitlines()
    assert "left behind: escalation step Primary chain #2: no user that moves" in lines
