"""Runs Pager as its users do: a `pagerd serve` subprocess (or `pagerd api` where `serve`
does not exist yet) on a free port of 127.0.0.1, driven over HTTP, or HTTPS with a
certificate (`tls`). Its log is kept in a file so that a failing test can show it.

    with PagerProcess.start(database_url, workdir) as pager:
        token = pager.cli("token", "create", "--user", "admin@example.com").stdout.strip()
        httpx.get(pager.url + "/api/v1/services", headers={"Authorization": f"Bearer {token}"})
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from tests.support.servers import ALLOW_PRIVATE_TARGETS, Certificate, free_port

PAYLOADS = Path(__file__).with_name("payloads")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def payload(name: str, **replace: str) -> dict[str, Any]:
    """A request body from payloads/, with `{routing_key}` and such filled in."""
    text = (PAYLOADS / name).read_text()
    for key, value in replace.items():
        text = text.replace("{" + key + "}", value)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def pagerd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pager", *args]


@cache
def server_command() -> str:
    """`serve` (API and worker) once it exists, else `api`."""
    found = subprocess.run(pagerd("serve", "--help"), capture_output=True, check=False)
    return "serve" if found.returncode == 0 else "api"


def base_env(database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the parent less its PAGER_ settings, plus the database and
    permission to page the test servers on 127.0.0.1 (`extra` may take it back)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGER_")}
    env |= ALLOW_PRIVATE_TARGETS
    env["PAGER_DATABASE_URL"] = database_url
    env.update(extra or {})
    return env


@dataclass
class PagerProcess:
    url: str
    database_url: str
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    command: str
    verify: ssl.SSLContext | bool = True
    """What its clients trust: with TLS, its certificate alone."""
    _log_file: Any = field(repr=False, default=None)

    @classmethod
    def start(
        cls,
        database_url: str,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        attempts: int = 3,
        tls: Certificate | None = None,
    ) -> PagerProcess:
        workdir.mkdir(parents=True, exist_ok=True)
        full_env = base_env(database_url, env)
        command = server_command()
        for attempt in range(1, attempts + 1):
            port = free_port()
            log_path = workdir / f"pagerd-{port}.log"
            log_file = log_path.open("wb")
            tls_args = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)] if tls else []
            process = subprocess.Popen(
                pagerd(command, "--host", "127.0.0.1", "--port", str(port), *tls_args),
                env=full_env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            pager = cls(
                f"{'https' if tls else 'http'}://127.0.0.1:{port}", database_url, log_path,
                full_env, process, command, tls.client_context() if tls else True, log_file,
            )  # fmt: skip
            if pager._wait_ready():
                return pager
            pager.stop()
            if attempt == attempts or "address already in use" not in pager.log().lower():
                raise RuntimeError(f"pagerd {command} did not become ready:\n{pager.log()}")
        raise AssertionError("unreachable")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                ready = httpx.get(self.url + "/readyz", timeout=1.0, verify=self.verify)
                if ready.status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> int | None:
        """SIGTERM, as a service manager would; SIGKILL if it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cli(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run `pagerd ARGS` on the same database."""
        return subprocess.run(
            pagerd(*args), env=self.env, input=input, capture_output=True, text=True, check=check,
            timeout=60,
        )  # fmt: skip

    def client(self, token: str | None = None, scheme: str = "Bearer") -> httpx.Client:
        headers = {"Authorization": f"{scheme} {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, verify=self.verify)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
