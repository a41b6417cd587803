"""Every command and snippet of README.md, run as the README shows it (the Alertmanager
snippet is run by test_alertmanager_client.py, the cluster script by test_cluster.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import PagerProcess, base_env
from tests.support.readme import README, snippet, snippets
from tests.support.servers import free_port
from tests.support.worker import wait_until

ROOT = README.parent
EXAMPLE_SECRETS = {
    "PAGER_ALICE_PASSWORD": "correct horse battery",
    "PAGER_SLACK_PAYMENTS_URL": "http://127.0.0.1:9/slack",
    "PAGER_BOT_WEBHOOK_SECRET": "s3cret",
}


def test_every_snippet_is_run_by_a_test() -> None:
    run_here = {"make-run", "make-test", "token", "apply", "cli", "curl-alert", "pagerduty"}
    run_here |= {"opsgenie"}
    run_elsewhere = {"alertmanager": "test_alertmanager_client.py", "cluster": "test_cluster.py"}
    assert set(snippets()) == run_here | set(run_elsewhere)
    for test_file in run_elsewhere.values():
        assert (Path(__file__).parent / test_file).exists()
    assert "examples/cluster/run.sh" in snippet("cluster")
    assert snippet("make-test").strip() == "make test"  # the command running this very test


def test_make_run_applies_the_example_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    assert snippet("make-run").strip() == "make run"
    port = free_port()
    env = base_env(f"sqlite:///{tmp_path / 'pager.db'}")
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group, as a terminal's Ctrl-C reaches
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ready(url), 120, "make run to serve")
        services = httpx.get(f"{url}/openapi.json").json()
        assert services["info"]["title"] == "Pager"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    text = output.decode()
    assert "create service checkout" in text
    assert "log in as alice@example.com, password" in text
    assert "Application shutdown complete" in text  # stopped cleanly


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[PagerProcess, dict[str, str]]]:
    database_url = f"sqlite:///{tmp_path / 'pager.db'}"
    env = {**EXAMPLE_SECRETS}
    with PagerProcess.start(database_url, tmp_path / "server", env) as pager:
        yield pager, base_env(database_url, env)


def run_snippets(names: list[str], pager: PagerProcess, env: dict[str, str], cwd: Path) -> str:
    """The snippets, in one shell, as a reader would paste them, with Pager's real URL."""
    cwd.mkdir(exist_ok=True)
    for linked in (".venv", "examples"):
        if not (cwd / linked).exists():
            (cwd / linked).symlink_to(ROOT / linked)
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
    output = run_snippets(["apply", "token", "cli", "curl-alert"], pager, env, tmp_path / "sh")
    assert "create service checkout" in output  # the dry run, then the apply
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
        env=env, capture_output=True, text=True, check=True,
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


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
