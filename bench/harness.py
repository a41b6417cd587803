"""Start Pager as its users run it and seed it, for the benchmarks. Nothing here asserts."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage.accounts import SqlAccountStore
from pager.adapters.storage.uow import SqlUnitOfWork
from pager.application.accounts import Accounts
from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.domain.events import ServiceCreated
from pager.domain.policy import EmailTarget, EscalationPolicy, Level

POSTGRES_SERVER = os.environ.get(
    "PAGER_BENCH_POSTGRES_URL",
    os.environ.get("PAGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


@dataclass
class Seeded:
    database_url: str
    token: str
    services: list[str]
    keys: dict[str, str]


def seed(
    database_url: str,
    services: int,
    *,
    timeout: int = 900,
    targets: Sequence[str] = ("oncall@example.com",),
    keys_for: int = 0,
) -> Seeded:
    """A policy, `services` services, an admin with a token, and integration keys for the
    first `keys_for` services, written through the handlers like any other change."""
    app = bootstrap(Settings(database_url=database_url), run_migrations=True)
    level = Level(tuple(EmailTarget(t) for t in targets), timeout)
    app.handlers.define_policy(EscalationPolicy("bench", "Bench", (level, level)))
    ids = [f"svc-{n:06d}" for n in range(services)]
    create_services(app.engine, ids, "bench")
    accounts = Accounts(SqlAccountStore(app.engine), app.clock)
    accounts.add_user("bench@example.com", "admin")
    token = accounts.create_token("bench@example.com", "bench")
    keys = {}
    for service_id in ids[:keys_for]:
        keys[service_id] = accounts.rotate_integration_key(service_id).key
    app.engine.dispose()
    return Seeded(database_url, token, ids, keys)


def create_services(engine: Engine, ids: Sequence[str], policy_id: str) -> None:
    """Services made a thousand at a time through the storage adapter's append path (what
    define_service does one by one)."""
    now = datetime.now(UTC)
    for first in range(0, len(ids), 1000):
        part = ids[first : first + 1000]
        with SqlUnitOfWork(engine) as uow:
            loaded = uow.services.load_many(part)
            uow.services.append_many(
                [(loaded[s], [ServiceCreated(s, s, policy_id, now)]) for s in part]
            )
            uow.commit()


@contextmanager
def temporary_postgres() -> Iterator[str]:
    from tests.support.db import temporary_postgres_database

    with temporary_postgres_database(POSTGRES_SERVER) as url:
        yield url


@contextmanager
def temporary_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="pager-bench-") as directory:
        yield f"sqlite:///{Path(directory) / 'pager.db'}"


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def pagerd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pager", *args]


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGER_")}
    env.update(
        {
            "PAGER_DATABASE_URL": database_url,
            "PAGER_LOG_LEVEL": "WARNING",
            "PAGER_RATE_LIMIT_PER_SECOND": "0",
            **extra,
        }
    )
    return env


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


@dataclass
class Running:
    urls: list[str]
    """Of the HTTP processes."""
    pids: list[int]
    """Of every Pager process."""


@contextmanager
def running(
    database_url: str, *, apis: int = 0, workers: int = 0, serve: bool = False, **env: str
) -> Iterator[Running]:
    """Start `pagerd serve` (or `apis` x `pagerd api` and `workers` x `pagerd worker`)."""
    logs = Path(tempfile.mkdtemp(prefix="pager-bench-logs-"))
    environment = env_for(database_url, **env)
    with ExitStack() as stack:
        urls = []
        pids = []
        commands: list[tuple[list[str], str | None]] = []
        if serve:
            port = free_port()
            commands.append((pagerd("serve", "--port", str(port)), f"http://127.0.0.1:{port}"))
        for _ in range(apis):
            port = free_port()
            commands.append((pagerd("api", "--port", str(port)), f"http://127.0.0.1:{port}"))
        commands += [(pagerd("worker"), None)] * workers
        for n, (args, url) in enumerate(commands):
            process = Process(args, environment, logs / f"{n}-{args[3]}.log")
            stack.callback(process.stop)
            pids.append(process.popen.pid)
            if url:
                urls.append(url)
        for url in urls:
            wait_ready(url)
        yield Running(urls, pids)


@contextmanager
def py_spy(directory: Path, pids: list[int], label: str = "profile") -> Iterator[None]:
    """Sample each process with py-spy while the block runs: collapsed stacks, one file per
    process and one line per stack (`python -m bench.profile FILE` sums them up)."""
    directory.mkdir(parents=True, exist_ok=True)
    executable = str(Path(sys.executable).with_name("py-spy"))
    spies = [
        subprocess.Popen(
            [
                executable,
                "record",
                "-p",
                str(pid),
                "-r",
                "250",
                "-f",
                "raw",
                "--threads",
                "--nonblocking",
                "-o",
                str(directory / f"{label}-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
        )
        for pid in pids
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(timeout=60)


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) each thread of a process has used so far (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        used[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return used


@contextmanager
def cpu_per_alert(
    pids: list[int], labels: Sequence[str], alerts: Callable[[], int]
) -> Iterator[None]:
    """Print, after the block, the CPU each process spent per alert: its main thread (the
    event loop), its busiest other thread (the group commit, where there is one) and the
    rest, in microseconds."""
    before = {pid: thread_cpu(pid) for pid in pids}
    yield
    count = max(alerts(), 1)
    for label, pid in zip(labels, pids, strict=True):
        spent = {tid: t - before[pid].get(tid, 0.0) for tid, t in thread_cpu(pid).items()}
        loop = spent.pop(pid, 0.0)
        others = sorted(spent.values(), reverse=True)
        busiest, rest = (others[0] if others else 0.0), sum(others[1:])
        print(
            f"  CPU per alert of the run, {label}: event loop {loop / count * 1e6:.0f} µs, "
            f"busiest other thread {busiest / count * 1e6:.0f} µs, "
            f"other threads {rest / count * 1e6:.0f} µs",
            flush=True,
        )


def table_count(database_url: str, table: str) -> int:
    from pager.adapters.storage.engine import create_engine

    engine = create_engine(database_url)
    with engine.connect() as conn:
        count = conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))
    engine.dispose()
    return int(count or 0)


async def asgi_post(
    app: Callable[..., Any], path: str, body: bytes, headers: Sequence[tuple[bytes, bytes]]
) -> int:
    """POST `body` to an ASGI app in process (no server, no socket); the answer's status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"host", b"bench"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    statuses = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return int(statuses[0])
