"""`pagerd import opsgenie` against a local server that answers like Opsgenie's API: the file
it prints applies to a fresh Pager whose on-call people match Opsgenie's at sampled instants;
the report names every simplification; a second run gives the same bytes; bad keys, bad URLs
and bad answers give one line, a non-zero exit and nothing on stdout; only GETs are sent."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.entrypoints.cli import app
from pager.entrypoints.http.app import create_app
from tests.support.opsgenie import OpsgenieServer, organisation
from tests.support.servers import Reply, free_port

KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"
NOW = datetime.now(UTC)
PAYLOADS = Path(__file__).parents[1] / "e2e" / "payloads"


@pytest.fixture
def opsgenie() -> Iterator[OpsgenieServer]:
    server = OpsgenieServer(organisation(NOW), KEY).start()
    yield server
    server.stop()


def pagerd(*args: str, key: str = KEY) -> Result:
    return CliRunner().invoke(app, list(args), env={"OPSGENIE_KEY": key})


def imported(server: OpsgenieServer, *extra: str) -> Result:
    return pagerd(
        "import", "opsgenie", "--api-key-env", "OPSGENIE_KEY", "--api-url", server.url, *extra
    )


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result


def one_line_failure(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_the_file_applies_and_pages_whom_opsgenie_pages(
    opsgenie: OpsgenieServer, tmp_path: Path
) -> None:
    result = ok(imported(opsgenie, "--keep-keys"))
    data = yaml.safe_load(result.stdout)
    path = tmp_path / "pager.yaml"
    path.write_text(yaml.safe_dump(data))
    url = f"sqlite:///{tmp_path / 'pager.db'}"
    applied = ok(
        CliRunner().invoke(app, ["apply", "-f", str(path)], env={"PAGER_DATABASE_URL": url})
    )
    assert "applied:" in applied.stdout
    again = ok(CliRunner().invoke(app, ["apply", "-f", str(path)], env={"PAGER_DATABASE_URL": url}))
    assert again.stdout.splitlines()[-1] == "no changes"  # the kept keys too
    pager = bootstrap(Settings(database_url=url))
    try:
        mismatches = []
        for at in sample_instants(opsgenie):
            ours = {o.schedule.id: list(o.on_call.users) for o in pager.schedules.on_call(at)}
            for source_id, pager_id in (
                ("sch-platform", "platform-on-call"),
                ("sch-payments", "payments-on-call"),
            ):
                theirs = opsgenie_on_call(opsgenie, source_id, at)
                if ours.get(pager_id, []) != theirs:
                    mismatches.append((at.isoformat(), pager_id, ours.get(pager_id), theirs))
        assert mismatches == []
        for integration in opsgenie.org.integrations[:2]:
            service = pager.accounts.service_for_key(integration["apiKey"])
            assert (
                service
                == {"i-prom": "platform-prometheus", "i-api": "payments-api"}[integration["id"]]
            )
    finally:
        pager.engine.dispose()
    assert {r.method for r in opsgenie.requests} == {"GET"}


def test_alertmanager_keeps_its_opsgenie_key_and_changes_only_the_host(
    opsgenie: OpsgenieServer, tmp_path: Path
) -> None:
    data = yaml.safe_load(ok(imported(opsgenie, "--keep-keys")).stdout)
    path = tmp_path / "pager.yaml"
    path.write_text(yaml.safe_dump(data))
    url = f"sqlite:///{tmp_path / 'pager.db'}"
    ok(CliRunner().invoke(app, ["apply", "-f", str(path)], env={"PAGER_DATABASE_URL": url}))
    pager = bootstrap(Settings(database_url=url))
    try:
        key = next(i["apiKey"] for i in opsgenie.org.integrations if i["id"] == "i-prom")
        body = json.loads((PAYLOADS / "opsgenie-alertmanager-create.json").read_text())
        with TestClient(create_app(pager), base_url="http://testserver") as client:
            genie = {"Authorization": f"GenieKey {key}"}
            assert client.post("/v2/alerts", json=body, headers=genie).status_code == 202
            listed = client.get("/v2/alerts", params={"query": "status:open"}, headers=genie)
        assert [a["message"] for a in listed.json()["data"]] == [body["message"]]
    finally:
        pager.engine.dispose()


def sample_instants(server: OpsgenieServer) -> list[datetime]:
    """20 instants over the next three weeks, two of them inside next week's override."""
    override = server.org.overrides["sch-platform"][0]
    start = datetime.fromisoformat(override["startDate"].replace("Z", "+00:00"))
    picks = random.Random(19)
    instants = [start + timedelta(hours=1), start + timedelta(hours=29)]
    instants += [NOW + timedelta(minutes=picks.randrange(21 * 24 * 60)) for _ in range(18)]
    return instants


def opsgenie_on_call(server: OpsgenieServer, schedule_id: str, at: datetime) -> list[str]:
    """Asked over its API, as a person would."""
    import httpx

    answer = httpx.get(
        f"{server.url}/v2/schedules/{schedule_id}/on-calls",
        params={"date": at.isoformat(), "flat": "true"},
        headers={"Authorization": f"GenieKey {KEY}"},
    )
    return [email.lower() for email in answer.json()["data"]["onCallRecipients"]]


def test_the_file_holds_what_opsgenie_has(opsgenie: OpsgenieServer) -> None:
    data = yaml.safe_load(ok(imported(opsgenie)).stdout)
    users = {u["email"]: u for u in data["users"]}
    assert len(users) == 12
    assert "cleo@example.com" in users
    assert users["ann@example.com"]["role"] == "admin"
    assert users["lee@example.com"]["role"] == "responder"
    eve = users["eve@example.com"]
    assert {m["id"]: m.get("phone") for m in eve["contact_methods"]} == {
        "email": None,
        "sms": "+442079460958",
        "voice": "+442079460958",
    }
    assert eve["notification_rules"] == [
        {"delay_minutes": 0, "contact_method": "email"},
        {"delay_minutes": 0, "contact_method": "sms"},
        {"delay_minutes": 2, "contact_method": "voice"},
    ]
    assert [m["type"] for m in users["kim@example.com"]["contact_methods"]] == ["email"]
    platform = next(s for s in data["schedules"] if s["id"] == "platform-on-call")
    assert platform["layers"][1]["shift"] == {"weeks": 1}
    assert platform["layers"][1]["restrictions"] == [
        {"days": ["sat", "sun"], "from": "00:00", "to": "12:00"},
        {"days": ["sat", "sun"], "from": "12:00", "to": "00:00"},
    ]
    assert [o["id"] for o in platform["overrides"]] == ["fay-covers-wednesday"]
    policy = next(p for p in data["escalation_policies"] if p["id"] == "platform-escalation")
    assert policy["repeat"] == 2
    assert [level["ack_timeout_seconds"] for level in policy["levels"]] == [300, 300, 600]
    assert policy["levels"][0]["targets"] == [{"type": "schedule", "schedule": "platform-on-call"}]
    assert [t["user"] for t in policy["levels"][2]["targets"]] == [
        "ivy@example.com",
        "jon@example.com",
        "kim@example.com",
    ]
    services = {s["id"]: s for s in data["services"]}
    assert set(services) == {"payments-api", "platform-prometheus"}
    assert "integration_key" not in services["payments-api"]  # without --keep-keys
    assert services["platform-prometheus"]["maintenance"] == [
        {
            "start": opsgenie.org.maintenance[0]["time"]["startDate"].replace("Z", "+00:00"),
            "end": opsgenie.org.maintenance[0]["time"]["endDate"].replace("Z", "+00:00"),
        }
    ]
    assert [(h["id"], h["service"], h["interval_seconds"]) for h in data["heartbeats"]] == [
        ("nightly-backup", "platform-prometheus", 86400),
        ("payments-sync", "payments-api", 600),
    ]


# Wrapped to fit; each paragraph is one line of the report.
EXPECTED_TEXT = """
changed: contact method eve@example.com sms: 44-(0)20 7946 0958 -> +442079460958

changed: contact method ann@example.com sms: 1-4155550101 -> +14155550101

left behind: contact method ann@example.com mobile Pixel 8: Pager pages by email, SMS and voice
only

changed: notification rule bob@example.com New Alert: repeats every 60 min (Pager's limit), not 90

changed: notification rule bob@example.com New Alert: repeats each step every 60 min, not all
steps in turn

changed: user lee@example.com: Opsgenie role 'observer' is a responder in Pager

changed: user lee@example.com: time zone 'Mars/Olympus' is unknown here: UTC instead

left behind: notification rule ann@example.com Closed Alert: Pager notifies people only when they
are paged

left behind: team Platform: Pager has no teams: its members, schedules, escalations and
integrations move on their own

changed: rotation Data On-Call / Best effort: participant none (none) is left out, so the others'
turns come sooner

changed: schedule Platform On-Call: Opsgenie pages every rotation's on-call person at once; in
Pager the later layer wins where layers overlap

moved: override Platform On-Call / fay-covers-wednesday

changed: escalation rule Platform Escalation -> team Data: pages its members (ivy@example.com,
jon@example.com, kim@example.com), not the team's own routing

changed: escalation rule Payments Escalation -> Payments On-Call: pages who is on call now, not
the next on-call person

left behind: integration Data Mail: Pager takes no alerts from Email

left behind: schedule Empty: no rotation with people in it

left behind: escalation rule Payments Escalation -> Empty: its schedule does not move

left behind: routing rule Payments / vip: a Pager service routes every alert to one escalation
policy

changed: integration Payments API: gets a new integration key (--keep-keys keeps its own)

changed: heartbeat Payments Sync: pinged as payments-sync (Pager ids are lower-case slugs)

changed: heartbeat nightly-backup: raises its alert on service platform-prometheus, with 60 s
grace

moved: maintenance Database upgrade / platform-prometheus
"""
EXPECTED_LINES = "\n".join(
    " ".join(paragraph.split("\n")) for paragraph in EXPECTED_TEXT.strip().split("\n\n")
)


def test_the_report_names_every_simplification(opsgenie: OpsgenieServer, tmp_path: Path) -> None:
    report_file = tmp_path / "report.json"
    result = ok(imported(opsgenie, "--report-json", str(report_file)))
    lines = result.stderr.splitlines()
    expected = EXPECTED_LINES.splitlines()
    missing = [line for line in expected if line not in lines]
    assert missing == []
    assert lines[-1].startswith("summary: ")
    report = json.loads(report_file.read_text())
    assert report["source"] == "Opsgenie"
    assert {
        "kind": "team",
        "name": "Data",
        "reason": lines_reason(lines, "left behind: team Data"),
    } in report["left_behind"]
    assert (
        len(report["moved"]) + len(report["changed"]) + len(report["left_behind"]) == len(lines) - 1
    )


def lines_reason(lines: list[str], prefix: str) -> str:
    (line,) = (line for line in lines if line.startswith(prefix + ":"))
    return line[len(prefix) + 2 :]


def test_running_it_again_gives_the_same_bytes(opsgenie: OpsgenieServer) -> None:
    first = ok(imported(opsgenie, "--keep-keys"))
    second = ok(imported(opsgenie, "--keep-keys"))
    assert first.stdout == second.stdout
    assert first.stderr == second.stderr


def test_users_are_read_page_by_page(opsgenie: OpsgenieServer) -> None:
    opsgenie.max_limit = 5
    data = yaml.safe_load(ok(imported(opsgenie)).stdout)
    pages = [r.path for r in opsgenie.requests if r.path.startswith("/v2/users?")]
    assert pages == [
        "/v2/users?limit=100&offset=0",
        "/v2/users?offset=5&limit=5",
        "/v2/users?offset=10&limit=5",
    ]
    assert len(data["users"]) == 12


def test_a_wrong_key_is_one_line(opsgenie: OpsgenieServer) -> None:
    line = one_line_failure(imported_with_key(opsgenie, "not-the-key"))
    assert line == (
        "pagerd: import from Opsgenie failed, nothing was written: Opsgenie refused the key in "
        "OPSGENIE_KEY (401 on GET /v2/users): Could not authenticate"
    )
    assert "not-the-key" not in line


def imported_with_key(server: OpsgenieServer, key: str) -> Result:
    return pagerd(
        "import", "opsgenie", "--api-key-env", "OPSGENIE_KEY", "--api-url", server.url, key=key
    )


def test_a_missing_variable_is_one_line() -> None:
    result = CliRunner().invoke(app, ["import", "opsgenie", "--api-key-env", "NO_SUCH_VAR"], env={})
    assert one_line_failure(result) == "pagerd: the environment variable NO_SUCH_VAR is not set"


def test_an_api_url_that_is_no_url_is_one_line() -> None:
    result = pagerd("import", "opsgenie", "--api-key-env", "OPSGENIE_KEY", "--api-url", "api")
    assert one_line_failure(result) == (
        "pagerd: --api-url 'api' is not an http(s) URL such as https://api.opsgenie.com"
    )


def test_an_unreachable_url_is_one_line() -> None:
    result = pagerd(
        "import", "opsgenie", "--api-key-env", "OPSGENIE_KEY",
        "--api-url", f"http://127.0.0.1:{free_port()}",
    )  # fmt: skip
    assert one_line_failure(result).startswith(
        "pagerd: import from Opsgenie failed, nothing was written: cannot reach Opsgenie at"
    )


def test_a_malformed_answer_is_one_line(opsgenie: OpsgenieServer) -> None:
    opsgenie.malformed.add("/v2/escalations")
    line = one_line_failure(imported(opsgenie))
    assert line.startswith(
        "pagerd: import from Opsgenie failed, nothing was written: Opsgenie answered GET "
        "/v2/escalations with something unexpected"
    )


def test_heartbeats_the_key_may_not_read_are_left_behind_alone(opsgenie: OpsgenieServer) -> None:
    opsgenie.forbidden.add("/v2/heartbeats")
    result = ok(imported(opsgenie))
    assert "heartbeats" not in yaml.safe_load(result.stdout)
    assert (
        "left behind: heartbeats all: Opsgenie refused the key in OPSGENIE_KEY (403 on GET "
        "/v2/heartbeats): You are not authorized for this action"
    ) in result.stderr.splitlines()


def test_a_forbidden_list_of_users_is_one_line(opsgenie: OpsgenieServer) -> None:
    opsgenie.forbidden.add("/v2/users")
    assert one_line_failure(imported(opsgenie)).endswith(
        "Opsgenie refused the key in OPSGENIE_KEY (403 on GET /v2/users): "
        "You are not authorized for this action"
    )


def test_an_answer_that_is_not_json_is_one_line(opsgenie: OpsgenieServer) -> None:
    opsgenie.script(Reply.text(200, "<html>maintenance</html>"))
    line = one_line_failure(imported(opsgenie))
    assert line.endswith("Opsgenie answered GET /v2/users with something not JSON")


def test_too_many_requests_is_retried_after_its_retry_after(opsgenie: OpsgenieServer) -> None:
    opsgenie.script(Reply.json(429, {"message": "Rate limit exceeded"}, {"Retry-After": "1"}))
    ok(imported(opsgenie))
    first, second = opsgenie.requests[0], opsgenie.requests[1]
    assert first.path == second.path == "/v2/users?limit=100&offset=0"


def test_only_gets_are_sent(opsgenie: OpsgenieServer) -> None:
    ok(imported(opsgenie, "--keep-keys"))
    methods: set[Any] = {r.method for r in opsgenie.requests}
    assert methods == {"GET"}
    assert len(opsgenie.requests) > 20


def report_lines(server: OpsgenieServer) -> tuple[dict[str, Any], list[str]]:
    result = ok(imported(server))
    return yaml.safe_load(result.stdout), result.stderr.splitlines()


def test_a_disabled_schedule_still_moves_and_the_report_says_it_is_in_use(
    opsgenie: OpsgenieServer,
) -> None:
    payments = next(s for s in opsgenie.org.schedules if s["id"] == "sch-payments")
    payments["enabled"] = False
    data, lines = report_lines(opsgenie)
    assert "payments-on-call" in [s["id"] for s in data["schedules"]]
    assert "changed: schedule Payments On-Call: disabled in Opsgenie, in use in Pager" in lines
    assert "moved: schedule Payments On-Call" not in lines


def test_an_integration_with_no_owner_team_is_left_behind_and_reported(
    opsgenie: OpsgenieServer,
) -> None:
    orphan = {
        "id": "i-orphan",
        "name": "Legacy Webhook",
        "enabled": True,
        "type": "API",
        "version": "v2",
        "apiKey": "0b5c6f7e-2f7a-4d1e-9c3b-8a4e5d6f7a8b",
    }
    opsgenie.org.integrations.append(orphan)
    data, lines = report_lines(opsgenie)
    assert "legacy-webhook" not in [s["id"] for s in data["services"]]
    assert (
        "left behind: integration Legacy Webhook: it has no owner team to route its alerts" in lines
    )


def test_a_disabled_notification_rule_is_left_behind_and_reported(
    opsgenie: OpsgenieServer,
) -> None:
    kim = next(u for u in opsgenie.org.users if u["username"] == "kim@example.com")
    new_alert = next(r for r in opsgenie.org.rules[kim["id"]] if r["name"] == "New Alert")
    new_alert["enabled"] = False
    data, lines = report_lines(opsgenie)
    (user,) = (u for u in data["users"] if u["email"] == "kim@example.com")
    assert user["notification_rules"] == []
    assert "left behind: notification rule kim@example.com New Alert: disabled in Opsgenie" in lines


def test_an_escalation_that_repeats_more_than_pager_allows_is_cut_and_reported(
    opsgenie: OpsgenieServer,
) -> None:
    escalation = next(e for e in opsgenie.org.escalations if e["id"] == "esc-platform")
    escalation["repeat"]["count"] = 150
    data, lines = report_lines(opsgenie)
    (policy,) = (p for p in data["escalation_policies"] if p["id"] == "platform-escalation")
    assert policy["repeat"] == 100
    assert "changed: escalation Platform Escalation: repeats 100 times, not 150" in lines


def test_a_team_rule_that_notifies_admins_pages_only_the_teams_admins(
    opsgenie: OpsgenieServer,
) -> None:
    escalation = next(e for e in opsgenie.org.escalations if e["id"] == "esc-platform")
    (team_rule,) = (r for r in escalation["rules"] if r["recipient"]["type"] == "team")
    team_rule["notifyType"] = "admins"
    data, lines = report_lines(opsgenie)
    (policy,) = (p for p in data["escalation_policies"] if p["id"] == "platform-escalation")
    assert policy["levels"][2]["targets"] == [{"type": "user", "user": "ivy@example.com"}]
    assert (
        "changed: escalation rule Platform Escalation -> team Data: pages its admins "
        "(ivy@example.com), not the team's own routing"
    ) in lines


def test_an_override_of_some_rotations_covers_every_layer_and_is_reported(
    opsgenie: OpsgenieServer,
) -> None:
    cover = next(
        o for o in opsgenie.org.overrides["sch-platform"] if o["alias"] == "fay-covers-wednesday"
    )
    cover["rotations"] = [{"id": "rot-weekdays", "name": "Weekdays"}]
    data, lines = report_lines(opsgenie)
    (platform,) = (s for s in data["schedules"] if s["id"] == "platform-on-call")
    assert [o["id"] for o in platform["overrides"]] == ["fay-covers-wednesday"]
    assert (
        "changed: override Platform On-Call / fay-covers-wednesday: covers every layer, not only "
        "its rotations"
    ) in lines
    assert "moved: override Platform On-Call / fay-covers-wednesday" not in lines


def test_maintenance_the_key_may_not_read_is_left_behind_alone(opsgenie: OpsgenieServer) -> None:
    opsgenie.forbidden.add("/v2/maintenance")
    data, lines = report_lines(opsgenie)
    assert [s.get("maintenance") for s in data["services"]] == [None, None]
    assert len(data["heartbeats"]) == 2
    assert (
        "left behind: maintenance all: Opsgenie refused the key in OPSGENIE_KEY (403 on GET "
        "/v2/maintenance): You are not authorized for this action"
    ) in lines


def test_a_maintenance_rule_that_disables_its_integration_moves_with_no_change_reported(
    opsgenie: OpsgenieServer,
) -> None:
    (upgrade,) = opsgenie.org.maintenance
    (rule,) = upgrade["rules"]
    rule["state"] = "disabled"  # Opsgenie drops the integration's alerts, as Pager's window does
    data, lines = report_lines(opsgenie)
    (platform,) = (s for s in data["services"] if s["id"] == "platform-prometheus")
    assert [(w["start"], w["end"]) for w in platform["maintenance"]] == [
        (
            upgrade["time"]["startDate"].replace("Z", "+00:00"),
            upgrade["time"]["endDate"].replace("Z", "+00:00"),
        )
    ]
    assert [line for line in lines if " maintenance " in line] == [
        "moved: maintenance Database upgrade / platform-prometheus"
    ]
