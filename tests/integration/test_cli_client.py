"""`pagerd alert`, `ack`, `healthy`, `status` and `oncall` against a real `pagerd serve` process
(tests/e2e/harness.py), set up as an operator would: `pagerd apply`, `pagerd token create`."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from textwrap import dedent

import httpx
import pytest
from typer.testing import CliRunner, Result

from pager.entrypoints import cli_client
from pager.entrypoints.cli import app
from tests.e2e.harness import PagerProcess, base_env, pagerd
from tests.support.servers import HttpServer, Reply, Unresponsive, free_port

CONFIG = dedent(
    """\
    escalation_policies:
      - id: ops
        name: Ops on call
        levels:
          - ack_timeout_seconds: 3600
            targets: [{type: email, address: oncall@example.com}]
          - ack_timeout_seconds: 3600
            targets: [{type: email, address: lead@example.com}]
    services:
      - {id: api, name: Public API, escalation_policy: ops}
      - {id: db, name: Database, escalation_policy: ops}
      - {id: web, name: Website, escalation_policy: ops}
    heartbeats:
      - {id: nightly-backup, service: db, interval_seconds: 86400, grace_seconds: 5400}
      - {id: queue-worker, service: api, interval_seconds: 3690}
    users:
      - {email: admin@example.com, role: admin}
      - {email: responder@example.com, role: responder}
    schedules:
      - id: primary
        name: Primary
        time_zone: UTC
        layers:
          - users: [admin@example.com, responder@example.com]
            shift: {weeks: 1}
            start: "2026-01-05T09:00"
      - id: weekdays
        name: Business hours
        time_zone: UTC
        layers:
          - users: [responder@example.com]
            shift: {weeks: 1}
            start: "2026-01-05T00:00"
            restrictions: [{days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}]
    """
)


class Running:
    def __init__(self, process: PagerProcess, admin: str, responder: str) -> None:
        self.process = process
        self.admin = admin
        self.responder = responder
        self.url = process.url


@pytest.fixture(scope="module")
def pager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    workdir = tmp_path_factory.mktemp("pager-cli")
    database_url = f"sqlite:///{workdir / 'pager.db'}"
    env = base_env(database_url)
    (workdir / "pager.yaml").write_text(CONFIG)

    def run(*args: str) -> str:
        done = subprocess.run(pagerd(*args), env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    run("apply", "-f", str(workdir / "pager.yaml"))
    admin = run("token", "create", "--user", "admin@example.com")
    responder = run("token", "create", "--user", "responder@example.com")
    with PagerProcess.start(database_url, workdir) as process:
        yield Running(process, admin, responder)


Pagerd = Callable[..., Result]


@pytest.fixture
def cli(pager: Running) -> Pagerd:
    """`pagerd ARGS` in process, with PAGER_URL and PAGER_TOKEN (the admin's) set."""

    def run(*args: str, **env: str) -> Result:
        return CliRunner().invoke(
            app,
            list(args),
            env={"PAGER_URL": pager.url, "PAGER_TOKEN": pager.admin, "COLUMNS": "200", **env},
        )

    return run


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    assert result.stderr == ""
    return result.stdout


def refused(result: Result) -> str:
    """The one line on stderr of a failed command."""
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.output}"
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_an_incident_from_alert_to_healthy(cli: Pagerd) -> None:
    opened = ok(cli("alert", "api", "5xx rate above 5%", "--dedup-key", "5xx"))
    match = re.fullmatch(r"opened incident ([0-9a-f]{32})\n", opened)
    assert match, opened
    incident = match[1]
    assert ok(cli("alert", "api", "p99 latency above 2 s")) == (
        f"attached to open incident {incident}\n"
    )

    status = ok(cli("status"))
    assert re.search(rf"api +│ Public API +│ unhealthy +│ ops +│ {incident[:8]} ", status)
    assert re.search(r"db +│ Database +│ healthy", status)
    assert re.search(
        rf"{incident[:8]} +│ api +│ triggered +│ 1 +│ 2 +│ \d+s ago +│ 5xx rate above 5%", status
    )

    # `status` shows the start of the id; `ack` takes it.
    assert ok(cli("ack", incident[:8])) == (
        f"incident {incident} of api acknowledged by admin@example.com\n"
    )
    assert "acknowledged by admin@example.com" in ok(cli("status"))
    assert ok(cli("healthy", "api")) == "service api is healthy\n"
    assert "No open incidents." in ok(cli("status"))
    assert refused(cli("ack", incident)) == f"pagerd: incident '{incident}' is already resolved"


def test_ack_by_someone_else_and_twice(cli: Pagerd) -> None:
    incident = ok(cli("alert", "db", "disk full")).split()[-1]
    assert ok(cli("ack", incident, "--by", "dba on call")) == (
        f"incident {incident} of db acknowledged by dba on call\n"
    )
    assert ok(cli("ack", incident)) == f"incident {incident} of db acknowledged by dba on call\n"
    ok(cli("healthy", "db"))


def test_escalate_pages_the_next_level_and_says_when_there_is_none(cli: Pagerd) -> None:
    incident = ok(cli("alert", "db", "disk full")).split()[-1]
    assert ok(cli("escalate", incident[:8], "--by", "dba on call")) == (
        f"incident {incident} of db escalated to level 2\n"
    )
    assert refused(cli("escalate", incident)) == (
        f"pagerd: incident '{incident}' has paged every level of its policy: there is no next "
        "level to escalate to (it stays open)"
    )
    ok(cli("healthy", "db"))


def test_unack_snooze_reassign_and_note(cli: Pagerd) -> None:
    incident = ok(cli("alert", "db", "disk full")).split()[-1]
    assert ok(cli("snooze", incident[:8], "--for", "1h30m")).startswith(
        f"incident {incident} of db snoozed until "
    )
    detail = json.loads(ok(cli("unack", incident, "--json")))
    assert (detail["status"], detail["level"]) == ("triggered", 1)
    assert ok(cli("unack", incident)) == f"incident {incident} of db is triggered at level 1\n"
    assert "must be in the next 7 days" in refused(
        cli("snooze", incident, "--until", "2099-01-01T00:00")
    )
    assert refused(cli("snooze", incident)) == "pagerd: give exactly one of --for and --until"
    assert "not a duration" in refused(cli("snooze", incident, "--for", "soon"))

    assert ok(cli("reassign", incident, "--user", "responder@example.com")) == (
        f"incident {incident} of db reassigned to responder@example.com\n"
    )
    assert ok(cli("reassign", incident, "--schedule", "primary")) == (
        f"incident {incident} of db reassigned to primary\n"
    )
    assert "there is no user" in refused(cli("reassign", incident, "--user", "x@example.com"))
    assert refused(cli("reassign", incident)) == (
        "pagerd: give exactly one of --user and --schedule"
    )

    assert ok(cli("note", incident[:8], "rolled back 1.4")) == (
        f"note added to incident {incident} of db\n"
    )
    timeline = json.loads(ok(cli("note", incident, "all quiet", "--by", "dba", "--json")))[
        "timeline"
    ]
    notes = [entry["data"] for entry in timeline if entry["type"] == "NoteAdded"]
    assert [(n["text"], n["by"]) for n in notes] == [
        ("rolled back 1.4", "admin@example.com"),
        ("all quiet", "dba"),
    ]
    assert [e["type"] for e in timeline].count("Reassigned") == 2
    ok(cli("healthy", "db"))
    assert "already resolved" in refused(cli("snooze", incident, "--for", "1h"))


def test_json_for_scripts(cli: Pagerd) -> None:
    alert = json.loads(ok(cli("alert", "web", "down", "--json")))
    assert alert == {"incident_id": alert["incident_id"], "action": "opened"}
    status = json.loads(ok(cli("status", "--json")))
    assert [s["id"] for s in status["services"]] == ["api", "db", "web"]
    assert [i["id"] for i in status["incidents"]] == [alert["incident_id"]]
    acknowledged = json.loads(ok(cli("ack", alert["incident_id"], "--json")))
    assert acknowledged["status"] == "acknowledged"
    healthy = json.loads(ok(cli("healthy", "web", "--json")))
    assert (healthy["id"], healthy["state"], healthy["open_incident"]) == ("web", "healthy", None)


def test_options_instead_of_the_environment(pager: Running) -> None:
    result = CliRunner().invoke(
        app, ["status", "--url", pager.url + "/", "--token", pager.responder, "--json"], env={}
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["services"]) == 3


def test_what_the_server_refuses(cli: Pagerd) -> None:
    assert refused(cli("alert", "nope", "x")) == "pagerd: service 'nope' does not exist"
    assert refused(cli("healthy", "nope")) == "pagerd: service 'nope' does not exist"
    assert refused(cli("ack", "0" * 32)) == f"pagerd: incident '{'0' * 32}' does not exist"
    assert refused(cli("status", PAGER_TOKEN="pgr_wrong")) == (
        "pagerd: the API token or integration key is not valid (check --token or PAGER_TOKEN)"
    )
    assert refused(cli("alert", "api", " ")).startswith("pagerd: message: ")


def test_what_is_refused_before_asking(cli: Pagerd) -> None:
    assert refused(cli("status", PAGER_TOKEN="")) == (
        "pagerd: no API token: pass --token or set PAGER_TOKEN (an admin makes one with "
        "`pagerd token create --user EMAIL`)"
    )
    assert refused(cli("status", PAGER_URL="127.0.0.1:8080")) == (
        "pagerd: --url must start with http:// or https://, not '127.0.0.1:8080'"
    )
    assert refused(cli("healthy", "../admin")) == (
        "pagerd: '../admin' is not a service id (lower-case letters, digits and dashes)"
    )
    assert refused(cli("ack", "")) == "pagerd: the incident's id must not be empty"
    assert refused(cli("status", PAGER_TOKEN="pgr_\u00e9t\u00e9")) == (
        "pagerd: the API token holds characters that no token has: check PAGER_TOKEN"
    )


def test_a_server_that_is_not_there(cli: Pagerd) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert refused(cli("status", PAGER_URL=url)) == (
        f"pagerd: cannot reach Pager at {url}: Connection refused"
    )
    line = refused(cli("alert", "api", "x", PAGER_URL="http://no-such-host.invalid"))
    assert line.startswith("pagerd: cannot reach Pager at http://no-such-host.invalid: ")


def test_a_server_that_does_not_answer(cli: Pagerd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_client, "TIMEOUT_SECONDS", 0.5)
    with Unresponsive() as silent:
        assert refused(cli("status", PAGER_URL=silent.url)) == (
            f"pagerd: Pager at {silent.url} did not answer within 0.5 s"
        )


def test_a_server_that_is_not_pager(cli: Pagerd) -> None:
    with HttpServer() as other:
        assert refused(cli("status", PAGER_URL=other.url)) == (
            f"pagerd: {other.url} did not answer as Pager does (no JSON)"
        )
        other.script(Reply.text(502, "Bad Gateway"))
        assert refused(cli("alert", "api", "x", PAGER_URL=other.url)) == (
            f"pagerd: {other.url}/api/v1/alerts answered 502 Bad Gateway"
        )


def test_as_processes_exit_codes_and_no_tracebacks(pager: Running, tmp_path: Path) -> None:
    env = {
        **base_env("sqlite:///unused.db"),
        "PAGER_URL": pager.url,
        "PAGER_TOKEN": pager.admin,
    }

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            pagerd(*args), env={**env, **extra}, capture_output=True, text=True, timeout=60,
            check=False, cwd=tmp_path,
        )  # fmt: skip

    opened = run("alert", "web", "from a process")
    assert opened.returncode == 0, opened.stderr
    incident = opened.stdout.split()[-1]
    assert run("ack", incident).returncode == 0
    assert run("healthy", "web").returncode == 0
    for failed in (
        run("status", PAGER_URL=f"http://127.0.0.1:{free_port()}"),
        run("status", PAGER_TOKEN="pgr_wrong"),
        run("alert", "nope", "x"),
        run("ack", incident),
    ):
        assert failed.returncode == 1
        assert failed.stdout == ""
        assert failed.stderr.startswith("pagerd: ")
        assert len(failed.stderr.splitlines()) == 1, failed.stderr


def test_integration_keys_may_alert_and_heal_their_service(pager: Running, cli: Pagerd) -> None:
    rotated = httpx.post(
        f"{pager.url}/api/v1/services/web/integration-key",
        headers={"Authorization": f"Bearer {pager.admin}"},
    )
    key = rotated.json()["integration_key"]
    assert ok(cli("alert", "web", "via the key", PAGER_TOKEN=key)).startswith("opened incident")
    assert ok(cli("healthy", "web", PAGER_TOKEN=key)) == "service web is healthy\n"
    assert refused(cli("alert", "api", "not my service", PAGER_TOKEN=key)) == (
        "pagerd: an integration key may only send alerts for its own service"
    )


def test_the_heartbeats_with_their_state_and_last_ping(cli: Pagerd, pager: Running) -> None:
    table = ok(cli("heartbeats"))
    assert "Heartbeats (2)" in table
    assert re.search(r"nightly-backup +│ db +│ 1d \(\+1h 30m grace\) +│ new +│ never", table)
    assert re.search(r"queue-worker +│ api +│ 1h 1m 30s +│ new +│ never", table), table

    key = httpx.post(
        f"{pager.url}/api/v1/services/api/integration-key",
        headers={"Authorization": f"Bearer {pager.admin}"},
    ).json()["integration_key"]
    pinged = httpx.post(
        f"{pager.url}/api/v1/heartbeats/queue-worker/ping",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert pinged.status_code == 200, pinged.text
    one = ok(cli("heartbeats", "--service", "api"))
    assert "nightly-backup" not in one
    assert re.search(r"queue-worker +│ api +│ 1h 1m 30s +│ ok +│ \d+s ago +│ \d{4}-\d\d-\d\d", one)
    [shown] = json.loads(ok(cli("heartbeats", "--service", "api", "--json")))["heartbeats"]
    assert (shown["id"], shown["state"]) == ("queue-worker", "ok")
    assert "is not a service id" in refused(cli("heartbeats", "--service", "Not An Id"))


def test_who_is_on_call_at_a_time(cli: Pagerd) -> None:
    table = ok(cli("oncall", "--at", "2026-03-07T12:00+01:00"))
    assert "On call at 2026-03-07 11:00 UTC" in table
    assert re.search(
        r"primary \(Primary\) +│ admin@example.com +│ 2026-03-09 09:00 UTC +│ "
        r"responder@example.com",
        table,
    ), table
    assert re.search(
        r"weekdays \(Business hours\) +│ nobody +│ 2026-03-09 09:00 UTC +│ responder@example.com",
        table,
    ), table
    one = ok(cli("oncall", "weekdays", "--at", "2026-03-09T10:00"))  # no offset: UTC
    assert "primary" not in one
    assert re.search(r"weekdays .*│ responder@example.com +│ 2026-03-09 17:00 UTC +│ nobody", one)
    answer = json.loads(ok(cli("oncall", "primary", "--at", "2026-03-09T10:00Z", "--json")))
    assert answer == {
        "oncall": [
            {
                "schedule": "primary",
                "name": "Primary",
                "users": ["responder@example.com"],
                "until": "2026-03-16T09:00:00Z",
                "next": ["admin@example.com"],
            }
        ]
    }


def test_oncall_refuses_what_it_cannot_ask(cli: Pagerd) -> None:
    assert refused(cli("oncall", "nope")) == (
        "pagerd: there is no schedule 'nope' (`pagerd oncall` lists them all)"
    )
    assert refused(cli("oncall", "--at", "tomorrow")) == (
        "pagerd: --at 'tomorrow' is not a time such as 2026-03-02T09:00+01:00"
    )
    assert refused(cli("oncall", "Not An Id")).startswith(
        "pagerd: 'Not An Id' is not a schedule id"
    )


def test_doctor_says_what_would_page_nobody(pager: Running, cli: Pagerd) -> None:
    assert ok(cli("doctor")) == "Nothing would page nobody in the next 14 days.\n"
    levels = [
        {"ack_timeout_seconds": 60, "targets": [{"type": "schedule", "schedule": "weekdays"}]}
    ]
    with httpx.Client(
        base_url=pager.url, headers={"Authorization": f"Bearer {pager.admin}"}
    ) as api:
        made = api.put("/api/v1/escalation-policies/days", json={"name": "Days", "levels": levels})
        assert made.status_code == 201, made.text
        try:
            found = cli("doctor")
            assert found.exit_code == 1, found.output
            assert "Would page nobody in the next 14 days" in found.stdout
            assert "schedule weekdays has nobody on call" in found.stdout
            assert "/schedules/weekdays" in found.stdout
            answer = json.loads(cli("doctor", "--json").stdout)
            kinds = {problem["kind"] for problem in answer["problems"]}
            assert kinds == {"schedule_gap", "unreachable_user", "level_pages_nobody"}
        finally:
            assert api.delete("/api/v1/escalation-policies/days").status_code == 204


@pytest.mark.parametrize("command", ["alert", "ack", "healthy", "status", "oncall", "doctor"])
def test_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--url" in result.stdout
    assert "PAGER_TOKEN" in result.stdout


def test_an_alert_during_maintenance_is_recorded_and_status_says_so(
    pager: Running, cli: Pagerd
) -> None:
    api = httpx.Client(base_url=pager.url, headers={"Authorization": f"Bearer {pager.admin}"})
    with api:
        window = api.post("/api/v1/services/db/maintenance", json={"duration_minutes": 30})
        assert window.status_code == 201, window.text
        try:
            said = ok(cli("alert", "db", "replica lag", "--dedup-key", "lag"))
            assert said == "recorded: the service is in maintenance, nobody was paged\n"
            assert re.search(r"db +│ Database +│ healthy \(in maintenance\)", ok(cli("status")))
        finally:
            ok(cli("healthy", "db"))  # drops what the window held: nothing opens at its end
            ended = api.delete(f"/api/v1/services/db/maintenance/{window.json()['id']}")
            assert ended.status_code == 200, ended.text
    assert re.search(r"db +│ Database +│ healthy +│", ok(cli("status")))
