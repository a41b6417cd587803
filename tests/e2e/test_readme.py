"""Every command and snippet of README.md, run as the README shows it (the Alertmanager
snippet is run by test_alertmanager_client.py, the cluster script by test_cluster.py, the
PagerDuty REST API example by test_pagerduty_rest.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import PagerProcess
from tests.support.readme import README, fresh_shell, snippet, snippets
from tests.support.servers import SmtpSink, free_port
from tests.support.worker import wait_until

ROOT = README.parent


def test_every_snippet_is_run_by_a_test() -> None:
    run_here = {"make-run", "make-test", "token", "apply", "cli", "curl-alert", "pagerduty"}
    run_here |= {"opsgenie", "oncall", "heartbeat"}
    run_elsewhere = {
        "alertmanager": "test_alertmanager_client.py",
        "cluster": "test_cluster.py",
        "pagerduty-rest": "test_pagerduty_rest.py",  # over HTTPS, as the client requires
    }
    assert set(snippets()) == run_here | set(run_elsewhere)
    for test_file in run_elsewhere.values():
        assert (Path(__file__).parent / test_file).exists()
    assert "examples/cluster/run.sh" in snippet("cluster")
    assert snippet("make-test").strip() == "make test"  # the command running this very test


def make_run(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group, as a terminal's Ctrl-C reaches
    )


def stop(process: subprocess.Popen[bytes]) -> str:
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    return output.decode()


def test_make_run_applies_the_example_serves_and_stops_on_ctrl_c(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    assert snippet("make-run").strip() == "make run"
    port = free_port()
    # The database and the mail server are the test's, not the checkout's.
    env = fresh_shell(
        PAGER_DATABASE_URL=f"sqlite:///{tmp_path / 'pager.db'}",
        PAGER_SMTP_URL=smtp.url(),
        PAGER_SMTP_FROM="pager@example.com",
    )
    process = make_run(port, env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ready(url), 120, "make run to serve")
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "Pager"
        pager = subprocess.run(
            [str(ROOT / ".venv/bin/pagerd"), "token", "create", "--user", "alice@example.com"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        token = pager.stdout.strip()
        sent = httpx.post(
            f"{url}/api/v1/alerts",
            json={"service": "checkout", "message": "disk full"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert sent.status_code == 202, sent.text
        [mail, *_] = smtp.wait_for(1, timeout=10)
    finally:
        text = stop(process)
    assert "create service checkout" in text
    assert "integration key of checkout" in text
    assert "log in as alice@example.com, password" in text
    assert "Application shutdown complete" in text  # stopped cleanly
    # The link follows the port served, with no PAGER_PUBLIC_URL.
    assert f"http://127.0.0.1:{port}/ack/" in mail.body
    password = text.split("log in as alice@example.com, password ", 1)[1].split()[0]

    again = make_run(port, env)
    try:
        wait_until(lambda: _ready(url), 120, "make run to serve again")
        assert _signs_in(url, "alice@example.com", password)  # not reset by the second run
    finally:
        second = stop(again)
    assert "no changes" in second
    assert f"password {password}" not in second


def test_make_run_installs_what_pager_runs_on_and_no_development_tool(tmp_path: Path) -> None:
    planned = subprocess.run(
        ["make", "-n", "run", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT, env=fresh_shell(), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "pip install --quiet -e ." in planned
    assert "[dev]" not in planned
    tested = subprocess.run(
        ["make", "-n", "test", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT, env=fresh_shell(), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "-e '.[dev]'" in tested


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[PagerProcess, dict[str, str]]]:
    """`pagerd serve` on ./pager.db of a directory that stands for the checkout, and the
    environment of a new terminal there (only what the README exports is added to it)."""
    checkout = tmp_path / "sh"
    checkout.mkdir()
    for linked in (".venv", "examples"):
        (checkout / linked).symlink_to(ROOT / linked)
    database_url = f"sqlite:///{checkout / 'pager.db'}"
    with PagerProcess.start(database_url, tmp_path / "server") as pager:
        yield pager, fresh_shell()


def run_snippets(names: list[str], pager: PagerProcess, env: dict[str, str], cwd: Path) -> str:
    """The snippets, in one shell, as a reader would paste them, with Pager's real URL."""
    script = "set -euo pipefail\n" + "\n".join(
        snippet(name).replace("http://127.0.0.1:8080", pager.url) for name in names
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout


def test_getting_started(served: tuple[PagerProcess, dict[str, str]], tmp_path: Path) -> None:
    pager, env = served
    names = ["apply", "token", "oncall", "cli", "curl-alert"]
    output = run_snippets(names, pager, env, tmp_path / "sh")
    assert "create service checkout" in output  # the dry run, then the apply
    assert "create schedule payments-primary" in output
    assert "On call at 2026-03-02 08:00 UTC" in output  # pagerd oncall --at
    assert (tmp_path / "sh" / "current.yaml").read_text().count("checkout") >= 1
    assert "checkout" in output  # pagerd status
    answer = json.loads(output.strip().splitlines()[-1])
    assert answer["action"] == "opened"  # healthy again after the ack, so a new incident


def test_pagerduty_and_opsgenie_snippets(
    served: tuple[PagerProcess, dict[str, str]], tmp_path: Path
) -> None:
    pager, env = served
    run_snippets(["apply", "token"], pager, env, tmp_path / "sh")
    token = subprocess.run(
        [str(ROOT / ".venv/bin/pagerd"), "token", "create", "--user", "alice@example.com"],
        cwd=tmp_path / "sh", env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    with pager.client(token) as admin:
        rotated = admin.post("/api/v1/services/checkout/integration-key")
        assert rotated.status_code == 200, rotated.text
        key = rotated.json()["integration_key"]
        env = {**env, "PAGER_URL": pager.url, "INTEGRATION_KEY": key}
        output = run_snippets(["pagerduty", "opsgenie"], pager, env, tmp_path / "sh")
        assert '"status":"success"' in output.replace(" ", "")
        assert "Request will be processed" in output
        incident = admin.get("/api/v1/services/checkout").json()["open_incident"]
        assert incident is not None
        detail = admin.get(f"/api/v1/incidents/{incident['id']}").json()
        assert detail["alert_count"] == 2  # the PagerDuty trigger opened it, Opsgenie's attached
        env = {**env, "PAGER_TOKEN": token}
        output = run_snippets(["heartbeat"], pager, env, tmp_path / "sh")
        assert '"state":"ok"' in output.replace(" ", "")
        beat = admin.get("/api/v1/heartbeats/nightly-backup").json()
        assert (beat["service"], beat["state"]) == ("checkout", "ok")


def _signs_in(url: str, email: str, password: str) -> bool:
    with httpx.Client(base_url=url) as browser:
        page = browser.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None, page
        form = {"email": email, "password": password, "csrf_token": csrf[1], "next": "/"}
        return browser.post("/login", data=form).status_code == 303


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
