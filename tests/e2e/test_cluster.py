"""examples/cluster/run.sh as an operator runs it: two `pagerd api` and two `pagerd worker`
processes on one PostgreSQL database. Alerts sent to both API processes at once open one
incident per service, and every notification, escalations included, is sent exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from textwrap import dedent

import httpx
import pytest

from tests.e2e.harness import base_env, pagerd
from tests.support.db import (
    SKIP_MESSAGE,
    postgres_server_url,
    running_in_ci,
    temporary_postgres_database,
)
from tests.support.readme import fresh_shell
from tests.support.servers import SmtpSink, free_port
from tests.support.worker import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

RUN = Path(__file__).parents[2] / "examples" / "cluster" / "run.sh"
SERVICES = [f"shop-{n}" for n in range(1, 9)]
CONFIG = dedent(
    """\
    escalation_policies:
      - id: shop
        name: Shop on call
        levels:
          - ack_timeout_seconds: 2
            targets:
              - {type: email, address: alice@example.com}
              - {type: email, address: bob@example.com}
          - ack_timeout_seconds: 3600
            targets:
              - {type: email, address: carol@example.com}
    users:
      - {email: admin@example.com, role: admin}
    services:
    """
) + "".join(f"  - {{id: {s}, name: {s}, escalation_policy: shop}}\n" for s in SERVICES)


@pytest.fixture
def cluster_database() -> Iterator[str]:
    server = postgres_server_url()
    if server is None:
        if running_in_ci():
            pytest.fail(f"CI must run the PostgreSQL tests: {SKIP_MESSAGE}")
        pytest.skip(SKIP_MESSAGE)
    with temporary_postgres_database(server) as url:
        yield url


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


class Cluster:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                ["bash", str(RUN)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so that a failed test can stop every process
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM to the script, as a supervisor would send it."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            self.kill()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def test_two_apis_and_two_workers_send_each_notification_once(
    cluster_database: str, smtp: SmtpSink, tmp_path: Path
) -> None:
    # As the README's snippet runs it, from a new terminal: run.sh finds the checkout's pagerd.
    env = fresh_shell(
        PAGER_DATABASE_URL=cluster_database,
        PAGER_SMTP_URL=smtp.url(),
        PAGER_SMTP_FROM="pager@example.com",
    )
    (tmp_path / "pager.yaml").write_text(CONFIG)
    # An operator's first steps, on the database directly.
    apply = pagerd("apply", "-f", str(tmp_path / "pager.yaml"))
    subprocess.run(apply, env=env, check=True, capture_output=True)
    token = subprocess.run(
        pagerd("token", "create", "--user", "admin@example.com"),
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip

    ports = [free_port(), free_port()]
    env |= {"PAGER_API_PORTS": " ".join(map(str, ports)), "PAGER_HOST": "127.0.0.1"}
    cluster = Cluster(env, tmp_path / "cluster.log")
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        wait_until(lambda: all(_ready(url) for url in urls), 60, "both APIs to be ready")
        wait_until(lambda: cluster.log().count("worker started") == 2, 60, "both workers to start")

        def alert(url: str, service: str) -> str:
            answer = httpx.post(
                f"{url}/api/v1/alerts",
                json={"service": service, "message": f"{service} is down"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert answer.status_code == 202, answer.text
            action: str = answer.json()["action"]
            return action

        # Each service's alert goes to both API processes at the same moment.
        jobs = [(url, service) for service in SERVICES for url in urls]
        with ThreadPoolExecutor(len(jobs)) as pool:
            actions = list(pool.map(lambda job: alert(*job), jobs))
        assert Counter(actions) == {"opened": len(SERVICES), "attached": len(SERVICES)}

        # Level 1 (two people) at once, level 2 (one) when the 2-second ack timer fires.
        expected = 3 * len(SERVICES)
        smtp.wait_for(expected, timeout=30)
        time.sleep(3)  # several worker polls and lease periods: room for any duplicate
        mails = list(smtp.messages)
        assert len(mails) == expected, [m.subject for m in mails]
        sent = Counter((mail.message["X-Pager-Incident"], mail.rcpt_tos) for mail in mails)
        assert set(sent.values()) == {1}
        assert len({mail.message["Message-ID"] for mail in mails}) == expected
        by_person = Counter(mail.rcpt_tos[0] for mail in mails)
        assert by_person == {
            "alice@example.com": len(SERVICES),
            "bob@example.com": len(SERVICES),
            "carol@example.com": len(SERVICES),
        }
        # Both APIs serve the same state: PostgreSQL holds it all.
        for url in urls:
            listed = httpx.get(
                f"{url}/api/v1/incidents",
                params={"status": "open"},
                headers={"Authorization": f"Bearer {token}"},
            ).json()["incidents"]
            assert sorted(i["service"] for i in listed) == SERVICES
            assert {i["level"] for i in listed} == {2}

        assert cluster.stop() == 0, cluster.log()
        log = cluster.log()
        assert log.count("worker stopped") == 2, log
        assert "Traceback" not in log
    finally:
        cluster.kill()


def test_the_script_wants_postgresql(tmp_path: Path) -> None:
    env = base_env(f"sqlite:///{tmp_path / 'pager.db'}")
    done = subprocess.run(["bash", str(RUN)], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr == (
        "run.sh: PAGER_DATABASE_URL must be PostgreSQL: SQLite is for one process\n"
    )


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
